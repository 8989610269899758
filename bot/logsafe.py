"""Log lines that untrusted text cannot forge or garble.

Titles, versions, channel names, URLs and server answers reach log lines through their arguments
(and through exception messages). `SafeFormatter` passes every formatted message through the one
sanitiser (`bot.text.sanitize`: no ESC, BEL, NUL, CR/LF, bidi overrides or IRC codes; one line), and
every line of a traceback through the body sanitiser, indented so no traceback line can pass for a log
line of its own. The CLI installs it on its handler.
"""

from __future__ import annotations

import logging
import types

from bot.text import sanitize, sanitize_body

__all__ = ["SafeFormatter", "clean_block"]

_ExcInfo = tuple[type[BaseException], BaseException, types.TracebackType | None] | tuple[None, None, None]


def clean_block(text: str, indent: str = "  ") -> str:
    """A multi-line block (a traceback) with control characters removed and every line indented."""
    return "\n".join(indent + sanitize_body(line) for line in text.splitlines())


class SafeFormatter(logging.Formatter):
    """A Formatter whose output holds no raw control characters and exactly one line per record
    (plus indented traceback lines)."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg = sanitize(record.getMessage())
        safe.args = None
        safe.exc_text = None  # formatted again below, cleaned
        return super().format(safe)

    def formatException(self, ei: _ExcInfo) -> str:
        return clean_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return clean_block(super().formatStack(stack_info))
