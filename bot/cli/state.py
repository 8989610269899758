"""Opening the state for the CLI: read-only for the verbs that only read (`status`, `query`), with
clear errors (no traceback) for a missing, unreadable, locked or foreign state file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.errors import StoreError
from bot.store import SCHEMA_VERSION, SqliteStore, StateStore

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["ReadOnlyStore", "open_readonly", "open_readonly_state", "state_exists"]


class ReadOnlyStore(SqliteStore):
    """A state file opened read-only: nothing is created, migrated or written. It works on a state
    file (or folder) this user may not write, and beside a running daemon (WAL readers)."""

    def __init__(self, path: str | Path) -> None:  # no super().__init__: that creates and migrates
        self.path = str(path)
        self._db = _connect(Path(path))
        self._db.row_factory = sqlite3.Row
        try:
            version = self.schema_version
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not a usable release-bot state database: {exc}") from exc
        if version != SCHEMA_VERSION:
            self._db.close()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} was written by a newer release-bot "
                    f"(this one knows up to {SCHEMA_VERSION})"
                )
            raise StoreError(
                f"{self.path}: schema version {version} is older than this release-bot's "
                f"{SCHEMA_VERSION}; `release-bot run` or `once` migrates it"
            )


def _connect(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.resolve()))
    db = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=30.0)
    try:
        db.execute("PRAGMA user_version").fetchone()  # opening is lazy: this is where it fails
        return db
    except sqlite3.OperationalError:
        db.close()
    # a WAL database in a folder we may not write (no -shm file can be made), no daemon running:
    # nothing can change it while we read
    db = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA user_version").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"{path}: cannot open the state file: {exc}") from exc
    return db


def open_readonly(path: Path) -> ReadOnlyStore:
    """The state at `path`, read-only; StoreError (with the reason) when it cannot be read."""
    if not path.exists():
        raise StoreError(f"no state yet at {path}: run `release-bot once` (or the daemon) first")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the state file: {exc.strerror or exc}") from exc
    store = ReadOnlyStore(path)
    try:
        store.schema_version  # noqa: B018 - the first read fails on a locked or foreign file
        store._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        store.close()
        raise StoreError(f"{path}: cannot read the state file: {exc}") from exc
    return store


def state_exists(config: Config) -> bool:
    """Whether the state of `config` may hold something: a SQLite file that exists, or a PostgreSQL
    database (asked when opened)."""
    return config.database is not None or config.state.exists()


def open_readonly_state(config: Config) -> StateStore:
    """The state of `config` for the verbs that only read: the SQLite file read-only, or the PostgreSQL
    database without migrating (a schema other than this release-bot's is refused)."""
    if config.database is not None:
        from bot.store.backend import open_postgres

        return open_postgres(config, migrate=False, application_name="release-bot status")
    return open_readonly(config.state)
