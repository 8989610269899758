"""How an answer is shaped for a crowded chat room, pure and shared by every chat output (IRC, Matrix,
Discord …): in a room the answer names the asker and is one line (a longer one says how to get the
rest in private); a private answer keeps its lines up to a limit."""

from __future__ import annotations

from collections.abc import Sequence


def shape_reply(
    lines: Sequence[str],
    *,
    private: bool,
    asker: str | None = None,
    rest_hint: str = "",
    max_private_lines: int = 10,
) -> list[str]:
    """The lines to send. `asker`: the nick to name in a room (None: not named). `rest_hint`: how to
    ask for the whole answer privately ("/msg release-bot release"), shown when lines were left out."""
    if not lines:
        return []
    if private:
        if len(lines) <= max_private_lines:
            return list(lines)
        more = len(lines) - (max_private_lines - 1)
        return [*lines[: max_private_lines - 1], f"… and {more} more lines"]
    line = lines[0]
    if len(lines) > 1:
        line += f" (+{len(lines) - 1} more" + (f": {rest_hint})" if rest_hint else " in private)")
    return [f"{asker}: {line}" if asker else line]
