"""The SQLite connection shared by the store's parts: open, migrate, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from bot.errors import StoreError
from bot.store.files import create_private, describe_error, disk_full
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION


class SqliteBase:
    """One SQLite database file. Not shared across threads; each process opens its own."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
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
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
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
