"""What the store's parts share: `StoreCore` (a connection, transactions — either backend) and the
SQLite connection (`SqliteBase`: open, migrate, transactions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from bot.errors import StoreError
from bot.store.files import create_private, describe_error, disk_full
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

#: the `[bot] sqlite_synchronous` values the store accepts
SYNCHRONOUS = ("NORMAL", "FULL")


def describe_size(size: dict[str, int]) -> str:
    """`state_size()` in one line, for `status`."""
    mib = (size["file"] + size["wal"]) / 1048576
    free = size["free"] / 1048576
    return f"{mib:.1f} MiB ({free:.1f} MiB free), {size['events']} events, {size['outbox']} messages"


class Connection(Protocol):
    """The part of a DB-API connection the store's parts use: qmark parameters; rows read by index
    and by column name (`sqlite3.Row`, or `bot.store.pgconn.PgRow`)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class StoreCore:
    """The base of the store's parts (`PollStore`, `OutboxStore`, …): a connection and transactions.
    Their SQL is written once, in the common part of the two dialects (qmark parameters, `ON CONFLICT`,
    `RETURNING`); each backend provides the connection."""

    path: str
    _db: Connection

    def transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _after_prune(self, vacuum_pages: int) -> None:
        """After `prune_delivered` dropped bodies: give free space back (backend specific)."""

    def _notify_outbox(self, db: Connection) -> None:
        """Inside a transaction that queued messages: wake deliverers at commit (PostgreSQL)."""


class SqliteBase(StoreCore):
    """One SQLite database file. Not shared across threads; each process opens its own."""

    _db: sqlite3.Connection

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if synchronous.upper() not in SYNCHRONOUS:
            raise StoreError(
                f"{self.path}: sqlite_synchronous must be one of {', '.join(SYNCHRONOUS)}, "
                f"not {synchronous!r}"
            )
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            create_private(self.path)  # 0600 under any umask
        except OSError as exc:
            raise StoreError(describe_error(self.path, exc)) from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open state database: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.schema_version == 0:
                # a new file: pages freed by pruning can be given back (`incremental_vacuum`)
                self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a crash of the process (or of the machine's software:
            # the WAL is in the OS's cache); a power loss can lose the commits since the last
            # checkpoint, never corrupt the file. FULL fsyncs every commit (docs/RELIABILITY.md).
            self._db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if disk_full(self.path, exc) or "locked" in str(exc):
                raise StoreError(describe_error(self.path, exc)) from exc
            raise StoreError(f"{self.path}: not a usable release-bot state database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_size(self) -> dict[str, int]:
        """Bytes of the state: 'file' (the database), 'wal' (its write-ahead log), 'free' (pages
        freed, reusable), and row counts of 'events' and 'outbox'."""
        page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        wal = Path(self.path + "-wal")
        return {
            "file": page_size * pages,
            "wal": wal.stat().st_size if self.path != ":memory:" and wal.exists() else 0,
            "free": page_size * free,
            "events": int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]),
            "outbox": int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]),
        }

    def _after_prune(self, vacuum_pages: int) -> None:
        if vacuum_pages > 0:
            # executescript steps the pragma to its end; execute() would free one page per call
            self._db.executescript(f"PRAGMA incremental_vacuum({int(vacuum_pages)})")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} was written by a newer release-bot "
                f"(this one knows up to {SCHEMA_VERSION}); refusing to touch it"
            )
        for step in MIGRATIONS[current:target]:
            with self.transaction() as db:
                for statement in step.statements:
                    db.execute(statement)
                if step.convert is not None:
                    step.convert(db)
                db.execute(f"PRAGMA user_version = {step.version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
