"""The state file on disk: created private (0600) before SQLite opens it (its -wal and -shm files take
the same mode), and SQLite errors said in words an operator acts on: a full disk, a locked database."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from bot.failures import describe_store_error

__all__ = ["create_private", "describe_error", "describe_failure", "disk_full"]

_FULL_CODES = {13}  # SQLITE_FULL
_IO_CODES = {10}  # SQLITE_IOERR (extended codes: & 0xff)


def create_private(path: str) -> None:
    """Create the state file with mode 0600 if it does not exist yet (whatever the umask)."""
    if path == ":memory:" or Path(path).exists():
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def disk_full(path: str, exc: BaseException) -> bool:
    """Whether `exc` (from SQLite or the OS) means the file system of `path` is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _FULL_CODES:
        return True
    if "disk is full" in str(exc):
        return True
    if (code is not None and code & 0xFF in _IO_CODES) or "disk I/O error" in str(exc):
        folder = Path(path).parent if path != ":memory:" else Path(".")
        try:
            return shutil.disk_usage(folder).free < 1024 * 1024
        except OSError:
            return False
    return False


def describe_error(path: str, exc: BaseException) -> str:
    """One line naming the state file and what to do."""
    if disk_full(path, exc):
        return f"{path}: the disk is full (no space left for the state database): free some space"
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path}: the state database is locked by another process ({text}); retrying"
    return f"{path}: {text}"


def describe_failure(path: str, exc: BaseException) -> str | None:
    """The one-line cause of an expected failure of the state at `path` (read-only, disk full — also
    behind an I/O error —, locked, a PostgreSQL state out of reach), else None: the one describer the
    daemon's streaks ask."""
    if disk_full(path, exc):
        return "the disk is full: free space for the state file"
    return describe_store_error(exc)
