"""Our own lines as the server relayed them, per channel: echoes without our label (replies) and the
channel history a server replays on join (InspIRCd `chanhistory`, +H). An announcement found there was
delivered before a restart that fell between sending it and recording it: it is not sent again."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class OwnLines:
    def __init__(self, lower: Callable[[str], str] = str.lower, *, keep: int = 200) -> None:
        self.lower = lower
        self.keep = keep
        self._lines: dict[str, deque[str]] = {}

    def clear(self) -> None:
        self._lines.clear()

    def add(self, target: str, text: str) -> None:
        self._lines.setdefault(self.lower(target), deque(maxlen=self.keep)).append(text)

    def holds_all(self, target: str, lines: list[str]) -> bool:
        """Every one of `lines` (PRIVMSG/NOTICE lines as we would send them) is among what we saw."""
        seen = self._lines.get(self.lower(target))
        if not seen or not lines:
            return False
        return all(line.split(" :", 1)[-1] in seen for line in lines)
