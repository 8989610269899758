"""Load and validate the TOML configuration.

Every error names the file, the key path and what was expected; unknown keys are errors (a typo must
not be silently ignored); relative paths resolve against the config file's folder; secrets come only
from environment variables named by `*_env` keys and are never printed.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.errors import ConfigError
from bot.model import EVENT_KINDS
from bot.sources.flatcar import CHANNELS as FLATCAR_CHANNELS

DEFAULT_FLATCAR_BASE_URL = "https://www.flatcar.org/releases-json/"
DEFAULT_USER_AGENT = "release-bot/{version} (+https://github.com/flatcar/release-bot)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_MAX_DURATION = 365 * 86400
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LTS_STREAM = re.compile(r"^lts-\d{4}$")


@dataclass(frozen=True)
class Route:
    """Which events an output receives. An empty tuple means 'all'."""

    sources: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # matches a release's channel or its stream (e.g. "lts" or "lts-2024")
    kinds: tuple[str, ...] = ()

    def matches(self, *, source: str, channel: str, stream: str, kind: str) -> bool:
        return (
            (not self.sources or source in self.sources)
            and (not self.channels or channel in self.channels or stream in self.channels)
            and (not self.kinds or kind in self.kinds)
        )


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: Literal["flatcar", "feed"]
    project: str
    interval: float
    announce_on_first_run: int
    # flatcar
    base_url: str = DEFAULT_FLATCAR_BASE_URL
    channels: tuple[str, ...] = ()
    lts_streams: tuple[str, ...] = ()
    release_link: str = "https://www.flatcar.org/releases#release-{version}"
    # feed
    url: str = ""
    stream: str = "releases"
    version_pattern: str | None = None

    def documents(self) -> list[tuple[str, str]]:
        """(document name, URL) pairs this source fetches."""
        if self.kind == "feed":
            return [("feed", self.url)]
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        names = [f"releases-{c}.json" for c in (*self.channels, *self.lts_streams)]
        return [(name, base + name) for name in names]


@dataclass(frozen=True)
class OutputConfig:
    name: str
    kind: Literal["console", "mbox"]
    route: Route
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpConfig:
    timeout: float = 30.0
    max_bytes: int = 32 * 1024 * 1024
    concurrency: int = 4
    retry_initial: float = 30.0
    retry_max: float = 3600.0
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True)
class Config:
    path: Path
    state: Path
    templates: Path | None
    log_level: str
    deliver_interval: float
    http: HttpConfig
    sources: tuple[SourceConfig, ...]
    outputs: tuple[OutputConfig, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise ConfigError(
            f"no source named {name!r} (known: {', '.join(s.name for s in self.sources)})",
            path=str(self.path),
            key="sources",
        )


class _Table:
    """A TOML table being read: typed getters that name file and key path, and leftover-key checking."""

    def __init__(self, data: Mapping[str, Any], *, file: str, where: str) -> None:
        self.data = data
        self.file = file
        self.where = where
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.file, key=self.key(name))

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.error(name, f"missing; expected {what}")
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(name, f"expected {what}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(name, f"expected {what}, got {type(value).__name__} {value!r}")
        return value

    def string(self, name: str, default: Any = ..., *, choices: Sequence[str] | None = None) -> Any:
        what = f"one of {', '.join(map(repr, choices))}" if choices else "a string"
        value = self.get(name, str, default, what=what)
        if choices and value is not None and value not in choices:
            raise self.error(name, f"expected {what}, got {value!r}")
        return value

    def integer(self, name: str, default: Any = ..., *, minimum: int = 0) -> Any:
        value = self.get(name, int, default, what=f"an integer ≥ {minimum}")
        if value is not None and value < minimum:
            raise self.error(name, f"expected an integer ≥ {minimum}, got {value}")
        return value

    def duration(self, name: str, default: Any = ..., *, minimum: float = 0.0) -> Any:
        what = 'a duration: seconds (e.g. 900) or a string like "15m", "1h", "30s"'
        value = self.get(name, (int, float, str), default, what=what)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if not match:
                raise self.error(name, f"expected {what}, got {value!r}")
            value = float(match.group(1)) * _UNITS[match.group(2)]
        if value is not None and not math.isfinite(value):
            raise self.error(name, f"expected {what}, got {value!r}")
        if value is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum:g} seconds, got {value:g}")
        if value is not None and value > _MAX_DURATION:
            # nan/inf/huge values pass a plain minimum check but crash the scheduler (timedelta overflow).
            raise self.error(name, f"must be at most {_MAX_DURATION:g} seconds (365 days), got {value:g}")
        return None if value is None else float(value)

    def str_list(self, name: str, default: Any = ..., *, choices: Sequence[str] | None = None) -> Any:
        value = self.get(name, list, default, what="a list of strings")
        if value is None:
            return None
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", f"expected a string, got {item!r}")
            if choices and item not in choices:
                raise self.error(
                    f"{name}[{i}]", f"expected one of {', '.join(map(repr, choices))}, got {item!r}"
                )
        return tuple(value)

    def table(self, name: str, *, required: bool = False) -> _Table:
        value = self.get(name, dict, ... if required else {}, what="a table")
        return _Table(value, file=self.file, where=self.key(name))

    def tables(self, name: str) -> list[_Table]:
        value = self.get(name, list, [], what="an array of tables ([[" + self.key(name) + "]])")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", "expected a table")
            out.append(_Table(item, file=self.file, where=f"{self.key(name)}[{i}]"))
        return out

    def path(self, name: str, base: Path, default: Any = ...) -> Any:
        value = self.string(name, default)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ConfigError(
                f"unknown key {unknown[0]!r} (known keys here: {known})",
                path=self.file,
                key=self.key(unknown[0]),
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


def parse_config(data: Mapping[str, Any], *, path: Path) -> Config:
    base = path.resolve().parent
    top = _Table(data, file=str(path), where="")

    bot = top.table("bot")
    state = bot.path("state", base, "state/release-bot.sqlite3")
    templates = bot.path("templates", base, None)
    log_level = bot.string("log_level", "info", choices=("debug", "info", "warning", "error"))
    deliver_interval = bot.duration("deliver_interval", 10.0, minimum=1.0)
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

    sources: list[SourceConfig] = []
    for table in top.tables("sources"):
        sources.append(_source(table))
    if not sources:
        raise ConfigError(
            "no sources configured; add at least one [[sources]] table", path=str(path), key="sources"
        )
    _unique([s.name for s in sources], file=str(path), key="sources")

    outputs: list[OutputConfig] = []
    for table in top.tables("outputs"):
        outputs.append(_output(table, base, source_names=[s.name for s in sources]))
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
    )


def _unique(names: list[str], *, file: str, key: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(f"duplicate name {name!r}", path=file, key=f"{key}[{i}].name")
        seen.add(name)


def _name(table: _Table) -> str:
    name: str = table.string("name")
    if not _NAME.match(name):
        raise table.error("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
    return name


def _url(table: _Table, name: str, default: Any = ...) -> str:
    value: str = table.string(name, default)
    if not re.match(r"^https?://[^/\s]+", value):
        raise table.error(name, f"expected an http:// or https:// URL, got {value!r}")
    return value


def _source(table: _Table) -> SourceConfig:
    name = _name(table)
    kind = table.string("kind", choices=("flatcar", "feed"))
    interval = table.duration("interval", 900.0, minimum=10.0)
    announce = table.integer("announce_on_first_run", 0, minimum=0)
    if kind == "flatcar":
        channels = table.str_list("channels", ("alpha", "beta", "stable", "lts"), choices=FLATCAR_CHANNELS)
        streams = table.str_list("lts_streams", ())
        for i, stream in enumerate(streams):
            if not _LTS_STREAM.match(stream):
                raise table.error(f"lts_streams[{i}]", f'expected a name like "lts-2024", got {stream!r}')
        if not channels and not streams:
            raise table.error("channels", "no channels and no lts_streams: nothing to watch")
        link = table.string("release_link", "https://www.flatcar.org/releases#release-{version}")
        try:
            link.format(version="1.2.3", channel="stable", stream="stable")
        except (KeyError, IndexError, ValueError) as exc:
            raise table.error(
                "release_link", f"bad placeholder {exc}; use {{version}}, {{channel}}, {{stream}}"
            ) from exc
        config = SourceConfig(
            name=name,
            kind="flatcar",
            project=table.string("project", "Flatcar"),
            interval=interval,
            announce_on_first_run=announce,
            base_url=_url(table, "base_url", DEFAULT_FLATCAR_BASE_URL),
            channels=channels,
            lts_streams=streams,
            release_link=link,
        )
    else:
        pattern = table.string("version_pattern", None)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise table.error("version_pattern", f"not a valid regular expression: {exc}") from exc
        config = SourceConfig(
            name=name,
            kind="feed",
            project=table.string("project", name),
            interval=interval,
            announce_on_first_run=announce,
            url=_url(table, "url"),
            stream=table.string("stream", "releases"),
            version_pattern=pattern,
        )
    table.finish()
    return config


def _route(table: _Table, source_names: Sequence[str]) -> Route:
    route = table.table("filter")
    result = Route(
        sources=route.str_list("sources", (), choices=source_names),
        channels=route.str_list("channels", ()),
        kinds=route.str_list("kinds", (), choices=EVENT_KINDS),
    )
    route.finish()
    return result


def _output(table: _Table, base: Path, *, source_names: Sequence[str]) -> OutputConfig:
    name = _name(table)
    kind = table.string("kind", choices=("console", "mbox"))
    route = _route(table, source_names)
    options: dict[str, Any] = {}
    if kind == "mbox":
        options["path"] = table.path("path", base)
        options["from"] = table.string("from", "release-bot <release-bot@localhost>")
        options["to"] = table.string("to", "announce@localhost")
    table.finish()
    return OutputConfig(name=name, kind=kind, route=route, options=options)


def masked(data: Any, *, key: str = "") -> Any:
    """The raw config with secrets masked: `*_env` keys show the variable name and whether it is set;
    keys that look like secrets (password, token, secret) show `***`."""
    if isinstance(data, Mapping):
        return {k: masked(v, key=k) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key=key) for v in data]
    if key.endswith("_env") and isinstance(data, str):
        return f"{data} ({'set' if data in os.environ else 'NOT SET'})"
    if re.search(r"pass|token|secret", key, re.I) and not key.endswith("_env"):
        return "***"
    return data
