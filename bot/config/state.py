"""`[bot] state` naming a PostgreSQL database (`postgresql://…`) instead of a SQLite file: the URL
(never with a password in it), the variable holding the password (`state_password_env`; libpq's
passfile, `PGPASSWORD` or a service file work too), and how soon a standby instance takes over the
outputs of one that died (`takeover_timeout`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.config.table import Table
from bot.errors import ConfigError

__all__ = ["PostgresState", "is_postgresql_url", "parse_postgres_state"]

SCHEMES = ("postgresql://", "postgres://")


def is_postgresql_url(value: str | None) -> bool:
    return value is not None and value.startswith(SCHEMES)


@dataclass(frozen=True)
class PostgresState:
    """`[bot] state` naming a PostgreSQL database: where, the password's variable, the takeover time."""

    url: str  # libpq URL, without a password
    password_env: str | None = None
    #: a standby instance drives the outputs of a dead one within this many seconds
    takeover: float = 30.0

    def password(self) -> str | None:
        """The password from `state_password_env` (None: libpq finds it, or none is needed)."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"the variable {self.password_env} is not set", key="bot.state_password_env")
        return value


def parse_postgres_state(bot: Table, value: str) -> PostgresState:
    """The `[bot]` keys of a PostgreSQL state (`value`: the `state` key, a postgresql:// URL)."""
    try:
        parts = urlsplit(value)
        query = parse_qs(parts.query)
        has_password = parts.password is not None  # postgresql:///db (no host): libpq's unix socket
    except ValueError as exc:
        raise bot.error("state", f"not a valid postgresql:// URL: {exc}") from exc
    if has_password or "password" in query:
        raise bot.error(
            "state",
            "the URL holds a password: put it in an environment variable named by state_password_env "
            "(or in libpq's ~/.pgpass or a service file), never in the config file",
        )
    return PostgresState(
        url=value,
        password_env=bot.env_name("state_password_env"),
        takeover=bot.duration("takeover_timeout", 30.0, minimum=3.0),
    )
