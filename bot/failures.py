"""Failures said in one short line: a failed poll (the cause once, not once per document) and an
expected trouble with the state file (read-only, disk full, locked). Pure."""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence

__all__ = ["describe_store_error", "summarise_errors"]

_ERROR = re.compile(r"^source '(?P<name>[^']*)'(?: \((?P<url>[^)]*)\))?: (?P<detail>.*)$", re.S)
_SPLIT = re.compile(r"; (?=source ')")
MAX_CHARS = 300


def summarise_errors(source: str, errors: Sequence[str] | str) -> str:
    """`source flatcar: connection failed: … (4 documents, e.g. http://…/releases-alpha.json)` from
    the per-document errors (or their "; "-joined form), at most MAX_CHARS long."""
    items = _SPLIT.split(errors) if isinstance(errors, str) else list(errors)
    causes: dict[str, list[str]] = {}
    for item in items:
        match = _ERROR.match(item.strip())
        detail = match.group("detail") if match else item.strip()
        url = (match.group("url") or "") if match else ""
        causes.setdefault(detail, []).append(url)
    parts = []
    for detail, urls in causes.items():
        where = [u for u in urls if u]
        if len(urls) > 1:
            detail += f" ({len(urls)} documents" + (f", e.g. {where[0]})" if where else ")")
        elif where:
            detail += f" ({where[0]})"
        parts.append(detail)
    line = f"source {source}: " + "; ".join(parts)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


def describe_store_error(exc: BaseException) -> str | None:
    """A one-line cause for an expected state-file failure (read-only, disk full, locked), else None.

    `sqlite3.OperationalError` is recognised by its module, so this module needs no sqlite3."""
    text = str(exc)
    if type(exc).__module__ == "sqlite3" and type(exc).__name__ == "OperationalError":
        if "readonly" in text or "read-only" in text:
            return "the state file is read-only (check its owner and mode)"
        if "disk is full" in text:
            return "the disk is full: free space for the state file"
        if "locked" in text:
            return "the state file is locked by another process"
        if "unable to open" in text:
            return f"cannot open the state file: {text}"
        return None
    if isinstance(exc, ConnectionError) and type(exc).__name__ == "StateUnavailable":
        return str(exc)  # the PostgreSQL state cannot be reached now (bot.store.pgconn)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full" + (f" ({exc.filename})" if exc.filename else "")
    return None
