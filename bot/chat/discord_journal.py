"""The Discord output's attempt journal: for each outbox message, when its first unresolved post
started, and which Discord message carried it once it went out.

Discord's answer and the outbox's "delivered" mark are two writes; a crash (kill -9), a timeout or a
lost connection can fall between Discord creating the message and the bot learning of it. The journal
is what the next attempt knows of that:

- `begin` is written (and flushed to disk) before each POST; the earliest unresolved start is kept;
- `done` records the Discord message id once Discord answered (for a summary: every row it covers);
- `clear` drops a start after an answer that says no message was created (4xx, 429, 5xx).

The next attempt of the same row then: sees `done` → nothing to post; sees a start within the nonce
window → posts with the same nonce (Discord returns the message it already has); sees an older start
→ looks for the message in the channel first. It is a small JSON file (like Matrix's sync state),
written atomically, readable by its owner only; resolved entries are pruned.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

#: resolved entries kept (a summary covers many rows; the outbox marks each right after delivery)
KEEP_DONE = 512
#: unresolved starts older than this are forgotten (the row was delivered, failed for good or requeued)
KEEP_STARTED = 30 * 86400.0


@dataclass(frozen=True)
class Attempt:
    started: float | None  # epoch seconds of the earliest unresolved post, None when resolved
    done: str | None  # the Discord message id that carried it


class AttemptJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, object]] | None = None

    def _load(self) -> dict[str, dict[str, object]]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            entries = data.get("messages") if isinstance(data, dict) else None
            self._entries = (
                {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}
            )
        return self._entries

    def get(self, message_id: str) -> Attempt:
        entry = self._load().get(message_id, {})
        started, done = entry.get("started"), entry.get("done")
        return Attempt(
            float(started) if isinstance(started, int | float) else None,
            str(done) if isinstance(done, str) else None,
        )

    def begin(self, message_id: str, *, now: float) -> float:
        """Record a post about to start; the earliest unresolved start of this row."""
        entries = self._load()
        entry = entries.setdefault(message_id, {})
        started = entry.get("started")
        if not isinstance(started, int | float):
            entry["started"] = started = now
            self._write(now)
        return float(started)

    def done(self, message_ids: list[str], discord_id: str, *, now: float) -> None:
        entries = self._load()
        for message_id in message_ids:
            entries.pop(message_id, None)
            entries[message_id] = {"done": discord_id, "at": now}  # newest last
        self._write(now)

    def clear(self, message_id: str, *, now: float) -> None:
        entry = self._load().get(message_id)
        if entry is not None and "started" in entry:
            del self._load()[message_id]
            self._write(now)

    def _write(self, now: float) -> None:
        entries = self._load()
        done = [k for k, v in entries.items() if "done" in v]
        for key in done[: max(0, len(done) - KEEP_DONE)]:
            del entries[key]
        for key in [k for k, v in entries.items() if _old(v.get("started"), now)]:
            del entries[key]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"messages": entries}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _old(started: object, now: float) -> bool:
    return isinstance(started, int | float) and now - started > KEEP_STARTED


__all__ = ["Attempt", "AttemptJournal"]
