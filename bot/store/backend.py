"""Which backend holds the state: the SQLite file `[bot] state` names (the default), or the
PostgreSQL database of `[bot] state = "postgresql://…"`. psycopg is imported only for the latter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from bot.config import Config
    from bot.store.interface import StateStore
    from bot.store.pgstore import PgStore

__all__ = ["open_postgres", "open_state"]


def open_postgres(
    config: Config, *, migrate: bool | None = True, application_name: str = "release-bot"
) -> PgStore:
    """The PostgreSQL state of `config` (which must name one)."""
    from bot.store.pgstore import PgStore

    database = config.database
    assert database is not None, "open_postgres: the config names a SQLite state"
    store = PgStore(
        database.url, password=database.password(), migrate=migrate, application_name=application_name
    )
    store.takeover = database.takeover
    return store


def open_state(config: Config, *, migrate: bool = True) -> StateStore:
    """The state of `config`, opened (and migrated, unless `migrate=False`: then a schema other than
    this release-bot's is refused)."""
    if config.database is not None:
        return open_postgres(config, migrate=migrate)
    return SqliteStore(config.state, synchronous=config.sqlite_synchronous)
