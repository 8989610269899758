"""One describer of expected state failures (bot.store.files.describe_failure): what the daemon's
streaks log, for SQLite errors, OS errors and an unreachable PostgreSQL state."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from bot.store.files import describe_failure


def test_sqlite_errors_said_in_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    said = {
        "database or disk is full": "the disk is full: free space for the state file",
        "attempt to write a readonly database": "the state file is read-only (check its owner and mode)",
        "database is locked": "the state file is locked by another process",
    }
    for text, expected in said.items():
        assert describe_failure(path, sqlite3.OperationalError(text)) == expected


def test_os_errors_and_unexpected_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert describe_failure(path, full) == "the disk is full: free space for the state file"
    assert describe_failure(path, ValueError("a bug")) is None  # not expected: the caller logs a traceback
    assert describe_failure(path, sqlite3.OperationalError("no such table: x")) is None


def test_an_unreachable_postgresql_state_is_its_own_line() -> None:
    class StateUnavailable(ConnectionError):  # the shape bot.store.pgconn raises (psycopg not needed)
        pass

    exc = StateUnavailable("the PostgreSQL state at db:5432 cannot be reached: connection refused")
    assert describe_failure("postgresql://db/bot", exc) == str(exc)
