"""Where log lines go and what they look like.

- text (default): `2026-03-20T12:00:00.123+01:00 WARNING message` — ISO 8601 with the zone.
- under systemd (stderr is the journal: $JOURNAL_STREAM names stderr's device and inode): no timestamp
  (the journal adds its own) and a `<N>` syslog priority prefix, so `journalctl -p warning` works.
- json (`[bot] log_format = "json"`): one object per line: time, level, logger, message, traceback.

Every formatter is a `bot.logsafe.SafeFormatter`: untrusted text never reaches a line raw.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime

from bot.logsafe import SafeFormatter

__all__ = ["IsoFormatter", "JournalFormatter", "JsonFormatter", "journal_stderr", "setup_logging"]

#: syslog priorities of the logging levels (journald reads them from a `<N>` prefix)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class IsoFormatter(SafeFormatter):
    """`2026-03-20T12:00:00.123+01:00 WARNING message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record.created)


class JournalFormatter(SafeFormatter):
    """`<4>WARNING message`: the journal stamps the time itself and reads the priority prefix."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>" + super().format(record)


class JsonFormatter(SafeFormatter):
    """One JSON object per line: {"time", "level", "logger", "message"[, "traceback"]}."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(_without_exc(record))
        out: dict[str, object] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def _without_exc(record: logging.LogRecord) -> logging.LogRecord:
    copy = logging.makeLogRecord(record.__dict__)
    copy.exc_info = None
    copy.exc_text = None
    copy.stack_info = None
    return copy


def journal_stderr(env: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True when stderr is connected to the journal: $JOURNAL_STREAM is "DEVICE:INODE" of `fd`."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":", 1))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return st.st_dev == device and st.st_ino == inode


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of the record, not at set-up (it may have been
    replaced since, e.g. by a test runner's capture)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log `level` and up to stderr in `log_format` ("text" or "json"; text without timestamps under
    the journal)."""
    handler = _StderrHandler()
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter()
    elif journal_stderr():
        formatter = JournalFormatter()
    else:
        formatter = IsoFormatter()
    handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)
    # a closed stderr (a broken pipe) must not print "--- Logging error ---" tracebacks
    logging.raiseExceptions = False
    # httpx logs every request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
