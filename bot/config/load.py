"""Load and validate the whole TOML file into a `Config`; secrets and their masking."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.config.outputs import parse_output
from bot.config.sources import DEFAULT_FLOOD_LIMIT, SourceConfig, parse_source
from bot.config.state import PostgresState, is_postgresql_url, parse_postgres_state
from bot.config.table import Table
from bot.errors import ConfigError
from bot.paths import state_path

if TYPE_CHECKING:
    from bot.config.http_server import HttpServerConfig
    from bot.config.outputs import OutputConfig

DEFAULT_USER_AGENT = "release-bot/{version} (+https://github.com/flatcar/release-bot)"
LogLevel = Literal["debug", "info", "warning", "error"]
_LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
LogFormat = Literal["text", "json"]
_LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


@dataclass(frozen=True)
class HttpConfig:
    """`[http]`: how sources are fetched."""

    timeout: float = 30.0
    max_bytes: int = 32 * 1024 * 1024
    concurrency: int = 4
    retry_initial: float = 30.0
    retry_max: float = 3600.0
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True)
class Config:
    """The whole config file, typed (`load_config`)."""

    path: Path
    state: Path
    templates: Path | None
    log_level: LogLevel
    deliver_interval: float
    http: HttpConfig
    sources: tuple[SourceConfig, ...]
    outputs: tuple[OutputConfig, ...]
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)  # the TOML as read, for display
    log_format: LogFormat = "text"
    #: `status --check`: degraded when a source fails for more than this many of its intervals …
    health_failing_intervals: int = 3
    #: … or a message has been queued longer than this (seconds)
    health_queue_max: float = 3600.0
    sqlite_synchronous: str = "normal"  # or "full": fsync every commit (see docs/RELIABILITY.md)
    outbox_retention: float = 90 * 86400.0  # delivered messages keep their bodies this long (seconds)
    flood_limit: int = DEFAULT_FLOOD_LIMIT  # the sources' default (`SourceConfig.flood_limit`)
    #: `[http_server]`: health, metrics, JSON API, feed and status page; None (the table is absent): off
    http_server: HttpServerConfig | None = None
    #: `[bot] state = "postgresql://…"`: the shared PostgreSQL state (None: the SQLite file `state`)
    database: PostgresState | None = None

    @property
    def state_label(self) -> str:
        """Where the state lives, for logs and `status` (a PostgreSQL URL has no password)."""
        return self.database.url if self.database is not None else str(self.state)

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise ConfigError(
            f"no source named {name!r} (known: {', '.join(s.name for s in self.sources)})",
            path=str(self.path),
            key="sources",
        )


def secret(env_name: str) -> str | None:
    """The value of a secret named by an `*_env` key (None when the variable is not set)."""
    return os.environ.get(env_name)


def load_config(path: str | Path) -> Config:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=str(file)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", path=str(file)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(file)) from exc
    return parse_config(data, path=file)


def parse_config(data: Mapping[str, object], *, path: Path) -> Config:
    base = path.resolve().parent
    top = Table(data, file=str(path))

    bot = top.table("bot")
    state_value = bot.optional_string("state")
    database = (
        parse_postgres_state(bot, state_value) if state_value and is_postgresql_url(state_value) else None
    )
    state = state_path(None if database else state_value, config_dir=base)
    templates = bot.optional_path("templates", base)
    log_level = bot.choice("log_level", _LOG_LEVELS, "info")
    deliver_interval = bot.duration("deliver_interval", 10.0, minimum=1.0)
    log_format = bot.choice("log_format", _LOG_FORMATS, "text")
    health_failing_intervals = bot.integer("health_failing_intervals", 3, minimum=1)
    health_queue_max = bot.duration("health_queue_max", 3600.0, minimum=1.0)
    sqlite_synchronous = bot.choice("sqlite_synchronous", ("normal", "full"), "normal")
    outbox_retention = bot.duration("outbox_retention", 90 * 86400.0, minimum=3600.0)
    flood_limit = bot.integer("flood_limit", DEFAULT_FLOOD_LIMIT, minimum=0)
    bot.finish()

    http_t = top.table("http")
    http = HttpConfig(
        timeout=http_t.duration("timeout", 30.0, minimum=1.0),
        max_bytes=http_t.integer("max_bytes", 32 * 1024 * 1024, minimum=1024),
        concurrency=http_t.integer("concurrency", 4, minimum=1),
        retry_initial=http_t.duration("retry_initial", 30.0, minimum=1.0),
        retry_max=http_t.duration("retry_max", 3600.0, minimum=1.0),
        user_agent=http_t.string("user_agent", DEFAULT_USER_AGENT),
    )
    http_t.finish()
    http_server = None
    if top.has("http_server"):  # its module (and `ipaddress`) only when the table is there
        from bot.config.http_server import parse_http_server

        http_server = parse_http_server(top.table("http_server"))

    sources = [parse_source(table, flood_limit=flood_limit) for table in top.tables("sources")]
    if not sources:
        raise ConfigError(
            "no sources configured; add at least one [[sources]] table", path=str(path), key="sources"
        )
    _unique([s.name for s in sources], file=str(path), key="sources")

    source_names = [s.name for s in sources]
    outputs = [parse_output(table, base, source_names=source_names) for table in top.tables("outputs")]
    if not outputs:
        raise ConfigError(
            "no outputs configured; add at least one [[outputs]] table", path=str(path), key="outputs"
        )
    _unique([o.name for o in outputs], file=str(path), key="outputs")
    top.finish()
    return Config(
        path=path,
        state=state,
        templates=templates,
        log_level=log_level,
        deliver_interval=deliver_interval,
        http=http,
        sources=tuple(sources),
        outputs=tuple(outputs),
        raw=data,
        log_format=log_format,
        health_failing_intervals=health_failing_intervals,
        health_queue_max=health_queue_max,
        sqlite_synchronous=sqlite_synchronous,
        outbox_retention=outbox_retention,
        http_server=http_server,
        database=database,
        flood_limit=flood_limit,
    )


def _unique(names: list[str], *, file: str, key: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(f"duplicate name {name!r}", path=file, key=f"{key}[{i}].name")
        seen.add(name)


def masked(data: object, *, key: str = "") -> object:
    """The raw config with secrets masked: `*_env` keys show the variable name and whether it is set;
    keys that look like secrets (password, token, secret) show `***`."""
    if isinstance(data, Mapping):
        # a table of env var names (e.g. mail `extra_headers_env`): each value is shown like an `*_env` key
        return {k: masked(v, key=key if key.endswith("_env") else k) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key=key) for v in data]
    if key.endswith("_env") and isinstance(data, str):
        return f"{data} ({'set' if data in os.environ else 'NOT SET'})"
    if re.search(r"pass|token|secret", key, re.I) and not key.endswith("_env"):
        return "***"
    return data
