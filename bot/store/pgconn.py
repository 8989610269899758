"""The PostgreSQL connection behind `PgStore` (psycopg 3): the store's parts keep their SQL (qmark
parameters, rows read by index or by column name), this module says it to PostgreSQL.

A lost server (restart, failover, network) is `StateUnavailable`, a `ConnectionError`: the daemon logs
it once per streak and retries its job later, as it does for a locked SQLite file; the next call
connects again. A transaction cut by the loss is rolled back by the server: nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from bot.errors import StoreError

__all__ = ["PgConnection", "PgRow", "StateUnavailable", "connect", "redact"]

#: how long a connection attempt may take before the state counts as unavailable
CONNECT_TIMEOUT = 10


class StateUnavailable(StoreError, ConnectionError):
    """The PostgreSQL server cannot be reached now (down, restarting, network): retried later."""


class PgRow(tuple[Any, ...]):
    """A row read by index (`row[0]`), by column name (`row["id"]`) or as a mapping (`dict(row)`),
    like `sqlite3.Row`."""

    _names: tuple[str, ...]
    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._names = names
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = tuple(column.name for column in cursor.description or ())
    index = {name: i for i, name in enumerate(names)}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, names, index)

    return make


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The store's qmark SQL with psycopg's placeholders (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def redact(url: str) -> str:
    """`url` without a password, for logs and `status` (the config may not hold one; a libpq
    service or an environment variable may still have put one in)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url.split("@")[-1]
    if "password" not in info:
        return url
    head, sep, tail = url.partition("@")
    if sep and "://" in head:
        scheme, _, creds = head.partition("://")
        return f"{scheme}://{creds.split(':')[0]}@{tail}"
    return " ".join(f"{k}={v}" for k, v in info.items() if k != "password")


def connect(
    url: str, *, password: str | None, application_name: str = "release-bot"
) -> psycopg.Connection[Any]:
    """A new autocommit connection (transactions are explicit); StateUnavailable when it fails."""
    extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": application_name}
    if password is not None:
        extra["password"] = password
    try:
        return psycopg.connect(url, autocommit=True, **extra)
    except psycopg.OperationalError as exc:
        raise StateUnavailable(
            f"{redact(url)}: cannot connect to the state database: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PgConnection:
    """One session of the store: connects when first needed and again after a loss."""

    def __init__(self, url: str, *, password: str | None, application_name: str = "release-bot") -> None:
        self.url = url
        self.label = redact(url)
        self._password = password
        self._application_name = application_name
        self._conn: psycopg.Connection[Any] | None = None
        self._in_transaction = False

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = connect(self.url, password=self._password, application_name=self._application_name)
        return self._conn

    def _lost(self, exc: BaseException) -> StateUnavailable:
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._conn.close()
            self._conn = None
        return StateUnavailable(f"{self.label}: the state database connection failed: {_first_line(exc)}")

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        try:
            cursor = self.conn.cursor(row_factory=_rows)
            cursor.execute(translate(sql), parameters)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._lost(exc) from exc
        return cursor

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        try:
            cursor = self.conn.cursor(row_factory=_rows)
            cursor.executemany(translate(sql), parameters)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._lost(exc) from exc
        return cursor

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """BEGIN … COMMIT (ROLLBACK on an exception)."""
        if self._in_transaction:  # pragma: no cover - the store never nests its transactions
            raise StoreError("nested transaction")
        try:
            with self.conn.transaction():
                self._in_transaction = True
                try:
                    yield self
                finally:
                    self._in_transaction = False
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._lost(exc) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
