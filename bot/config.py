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
from urllib.parse import quote

from bot.channels import DEFAULT_CHANNELS, FLATCAR_CHANNELS
from bot.errors import ConfigError
from bot.model import EVENT_KINDS

DEFAULT_FLATCAR_BASE_URL = "https://www.flatcar.org/releases-json/"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_GITHUB_GRAPHQL = "https://api.github.com/graphql"
#: Source kinds that watch plans (roadmap items) rather than releases.
ROADMAP_KINDS: tuple[str, ...] = ("github_project", "github_issues", "roadmap_feed")
SOURCE_KINDS: tuple[str, ...] = ("flatcar", "feed", *ROADMAP_KINDS)
#: Labels that make a roadmap item a deprecation notice.
DEFAULT_DEPRECATION_LABELS: tuple[str, ...] = ("kind/deprecation", "deprecation")
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
    kind: Literal["flatcar", "feed", "github_project", "github_issues", "roadmap_feed"]
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
    # roadmap sources (github_project, github_issues, roadmap_feed; `url` for roadmap_feed)
    api_url: str = ""  # GraphQL endpoint (github_project) or REST API base (github_issues)
    org: str = "flatcar"
    project_number: int = 0
    status_field: str = "Status"
    statuses: tuple[str, ...] = ()  # statuses worth announcing; empty: all
    repo: str = ""
    labels: tuple[str, ...] = ()
    state: str = "all"
    token_env: str | None = None
    deprecation_labels: tuple[str, ...] = DEFAULT_DEPRECATION_LABELS
    max_pages: int = 10
    rate_limit_wait: float = 60.0

    @property
    def is_roadmap(self) -> bool:
        return self.kind in ROADMAP_KINDS

    def documents(self) -> list[tuple[str, str]]:
        """(document name, URL) pairs this source fetches."""
        if self.kind in ("feed", "roadmap_feed"):
            return [("feed", self.url)]
        if self.kind == "github_project":
            return [(f"project-{self.org}-{self.project_number}", self.api_url)]
        if self.kind == "github_issues":
            base = self.api_url.rstrip("/")
            query = f"state={self.state}&sort=updated&direction=desc&per_page=100"
            if not self.labels:
                return [("issues", f"{base}/repos/{self.repo}/issues?{query}")]
            return [
                (f"issues-{label}", f"{base}/repos/{self.repo}/issues?labels={quote(label, safe='')}&{query}")
                for label in self.labels
            ]
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        names = [f"releases-{c}.json" for c in (*self.channels, *self.lts_streams)]
        return [(name, base + name) for name in names]


@dataclass(frozen=True)
class OutputConfig:
    name: str
    kind: Literal["console", "mbox", "mail", "irc"]
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
    kind = table.string("kind", choices=SOURCE_KINDS)
    interval = table.duration("interval", 900.0, minimum=10.0)
    announce = table.integer("announce_on_first_run", 0, minimum=0)
    if kind in ROADMAP_KINDS:
        config = _roadmap_source(table, name=name, kind=kind, interval=interval, announce=announce)
    elif kind == "flatcar":
        channels = table.str_list("channels", DEFAULT_CHANNELS, choices=FLATCAR_CHANNELS)
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


_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _roadmap_source(table: _Table, *, name: str, kind: str, interval: float, announce: int) -> SourceConfig:
    """github_project (a GitHub Project board, GraphQL), github_issues (labelled issues, REST) and
    roadmap_feed (any Atom/RSS feed whose entries are plans)."""
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "project": table.string("project", name),
        "interval": interval,
        "announce_on_first_run": announce,
        "deprecation_labels": table.str_list("deprecation_labels", DEFAULT_DEPRECATION_LABELS),
    }
    if kind == "roadmap_feed":
        return SourceConfig(**common, url=_url(table, "url"), stream="roadmap")
    token_default = "GITHUB_TOKEN" if kind == "github_project" else None
    token_env = table.string("token_env", token_default)
    if token_env is not None and not _ENV.match(token_env):
        raise table.error("token_env", f"expected the name of an environment variable, got {token_env!r}")
    common.update(
        token_env=token_env,
        max_pages=table.integer("max_pages", 10 if kind == "github_project" else 5, minimum=1),
        rate_limit_wait=table.duration("rate_limit_wait", 60.0, minimum=0.0),
    )
    if kind == "github_project":
        org = table.string("org", "flatcar")
        if not _ORG.match(org):
            raise table.error("org", f"expected a GitHub organisation login, got {org!r}")
        return SourceConfig(
            **common,
            api_url=_url(table, "api_url", DEFAULT_GITHUB_GRAPHQL),
            org=org,
            project_number=table.integer("project_number", minimum=1),
            status_field=table.string("status_field", "Status"),
            statuses=table.str_list("statuses", ()),
        )
    repo = table.string("repo", "flatcar/Flatcar")
    if not _REPO.match(repo):
        raise table.error("repo", f'expected "owner/name", got {repo!r}')
    return SourceConfig(
        **common,
        api_url=_url(table, "api_url", DEFAULT_GITHUB_API),
        repo=repo,
        labels=table.str_list("labels", ("kind/roadmap",)),
        state=table.string("state", "all", choices=("all", "open")),
    )


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
    kind = table.string("kind", choices=("console", "mbox", "mail", "irc"))
    route = _route(table, source_names)
    options: dict[str, Any] = {}
    if kind == "mbox":
        options["path"] = table.path("path", base)
        options["from"] = table.string("from", "release-bot <release-bot@localhost>")
        options["to"] = table.string("to", "announce@localhost")
    elif kind == "mail":
        options["mail"] = _mail(table, base, source_names=source_names)
    elif kind == "irc":
        from bot.irc.config import parse_irc  # IRC keys are documented and parsed there

        options["irc"] = parse_irc(table, base, source_names=source_names, route=route)
    table.finish()
    return OutputConfig(name=name, kind=kind, route=route, options=options)


# -- mail outputs (kind = "mail": one output = one mailing list) ------------------------------------

#: Headers release-bot writes itself; `extra_headers` may not replace them.
RESERVED_MAIL_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "sender", "subject", "date", "message-id", "in-reply-to",
        "references", "mime-version", "content-type", "content-transfer-encoding", "return-path",
        "received", "resent-from", "resent-to", "resent-date", "resent-message-id",
    }
)  # fmt: skip
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field-name: printable ASCII except ':'
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_DEFAULT_MAIL_PORTS = {"starttls": 587, "implicit": 465, "none": 25}


@dataclass(frozen=True)
class DigestConfig:
    """When a mail output sends its digest: cron fields in a time zone."""

    cron: tuple[tuple[str, str], ...]  # (field, expression) for minute, hour, day, month, day_of_week
    timezone: str = "UTC"
    send_empty: bool = False
    route: Route = field(default_factory=Route)  # what the digest lists (default: everything)

    def trigger(self) -> Any:
        """The APScheduler 3.x CronTrigger for this schedule."""
        from zoneinfo import ZoneInfo

        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger(**dict(self.cron), timezone=ZoneInfo(self.timezone))

    def describe(self) -> str:
        fields = dict(self.cron)
        return " ".join(fields.get(name, "*") for name in _CRON_FIELDS) + f" ({self.timezone})"


@dataclass(frozen=True)
class MailConfig:
    """How to reach one mailing list over SMTP, and what it receives. Secrets are env var names."""

    host: str
    port: int
    tls: Literal["starttls", "implicit", "none"]
    sender: str  # the `from` key
    to: str
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    reply_to: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    extra_headers_env: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    connect_timeout: float = 10.0
    local_hostname: str | None = None
    message_id_domain: str = "release-bot.invalid"
    per_release: bool = True
    digest: DigestConfig | None = None


def mail_address(value: str) -> Any:
    """`value` ("Name <list@example.org>" or a bare address) as an email.headerregistry.Address;
    ValueError if it is not one address."""
    from email.errors import HeaderParseError
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, address = parseaddr(value)
    if _has_control(value) or "@" not in address or any(ch.isspace() for ch in address):
        raise ValueError(f"not a mail address: {value!r}")
    try:
        return Address(display_name=name, addr_spec=address)
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise ValueError(f"not a mail address: {value!r}") from exc


def _mail_address(table: _Table, name: str, default: Any = ...) -> Any:
    value = table.string(name, default)
    if value is None:
        return None
    try:
        mail_address(value)
    except ValueError:
        raise table.error(
            name, f'expected a mail address like "Name <list@example.org>", got {value!r}'
        ) from None
    return value


def _has_control(value: str) -> bool:
    """True if `value` holds a control or format character (CR, LF, NUL, bidi overrides, …)."""
    import unicodedata

    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def _header_table(table: _Table, name: str, *, env: bool) -> tuple[tuple[str, str], ...]:
    headers = table.table(name)
    out: list[tuple[str, str]] = []
    for header in headers.data:
        value = headers.get(header, str, what="a string")
        if not _HEADER_NAME.match(header):
            raise headers.error(header, "not a valid header name (printable ASCII, no spaces or ':')")
        if header.lower() in RESERVED_MAIL_HEADERS:
            raise headers.error(header, "release-bot sets this header itself; it cannot be overridden")
        if env and not _ENV_NAME.match(value):
            raise headers.error(header, f"expected an environment variable name, got {value!r}")
        if _has_control(value):
            raise headers.error(header, f"control characters (CR, LF, …) are not allowed, got {value!r}")
        out.append((header, value))
    headers.finish()
    return tuple(out)


def _digest(table: _Table, *, source_names: Sequence[str]) -> DigestConfig:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    digest = table.table("digest")
    zone = digest.string("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise digest.error(
            "timezone", f'expected an IANA time zone like "Europe/Berlin", got {zone!r}'
        ) from exc
    cron = digest.string("cron", None)
    explicit: dict[str, str] = {}
    for name in _CRON_FIELDS:
        value = digest.get(name, (str, int), None, what="a cron expression (string) or an integer")
        if value is not None:
            explicit[name] = str(value)
    fields: dict[str, str]
    key = "cron"
    if cron is not None:
        if explicit:
            raise digest.error(
                next(iter(explicit)), "give either `cron` or the fields minute/hour/day/month/day_of_week"
            )
        parts = cron.split()
        if len(parts) != 5:
            raise digest.error("cron", f'expected 5 fields "minute hour day month day_of_week", got {cron!r}')
        fields = dict(zip(_CRON_FIELDS, parts, strict=True))
    else:
        fields = explicit or {"minute": "0", "hour": "9", "day_of_week": "mon"}
        key = next(iter(explicit), "cron")
    if re.search(r"\d", fields.get("day_of_week", "")):
        raise digest.error(
            "cron" if cron is not None else "day_of_week",
            "write weekdays as names (mon, tue, … sun, or mon-fri): crontab counts 0 as Sunday, "
            f"APScheduler 3 as Monday, so numbers are ambiguous; got {fields['day_of_week']!r}",
        )
    config = DigestConfig(
        cron=tuple((name, fields[name]) for name in _CRON_FIELDS if name in fields),
        timezone=zone,
        send_empty=digest.get("send_empty", bool, False, what="true or false"),
        route=_route(digest, source_names),
    )
    try:
        config.trigger()
    except ValueError as exc:
        raise digest.error(key, f"not a valid schedule: {exc}") from exc
    digest.finish()
    return config


def _mail(table: _Table, base: Path, *, source_names: Sequence[str]) -> MailConfig:
    from email.utils import parseaddr

    host: str = table.string("host")
    if not host or any(ch.isspace() for ch in host) or "/" in host:
        raise table.error("host", f"expected a host name or IP address, got {host!r}")
    tls = table.string("tls", "starttls", choices=("starttls", "implicit", "none"))
    port = table.integer("port", _DEFAULT_MAIL_PORTS[tls], minimum=1)
    if port > 65535:
        raise table.error("port", f"expected a port number 1-65535, got {port}")
    ca_file = table.path("ca_file", base, None)
    if ca_file is not None and not ca_file.is_file():
        raise table.error("ca_file", f"no such file: {ca_file}")
    if ca_file is not None and tls == "none":
        raise table.error("ca_file", 'has no effect with tls = "none"')
    username = table.string("username", None)
    password_env = table.string("password_env", None)
    if password_env is not None and not _ENV_NAME.match(password_env):
        raise table.error("password_env", f"expected an environment variable name, got {password_env!r}")
    if username is not None and password_env is None:
        raise table.error(
            "password_env", "missing; `username` needs the password from an environment variable"
        )
    if password_env is not None and username is None:
        raise table.error("username", "missing; `password_env` is set but there is no user to log in as")
    if username is not None and tls == "none" and host not in _LOOPBACK:
        raise table.error(
            "username", 'refusing to send a password unencrypted: use tls = "starttls" or "implicit"'
        )
    sender = _mail_address(table, "from")
    to = _mail_address(table, "to")
    reply_to = _mail_address(table, "reply_to", None)
    domain_default = parseaddr(sender)[1].rpartition("@")[2]
    if not _DOMAIN.match(domain_default):
        domain_default = "release-bot.invalid"
    domain = table.string("message_id_domain", domain_default)
    if not _DOMAIN.match(domain):
        raise table.error("message_id_domain", f"expected a domain name, got {domain!r}")
    local_hostname = table.string("local_hostname", None)
    if local_hostname is not None and not _DOMAIN.match(local_hostname):
        raise table.error("local_hostname", f"expected a host name, got {local_hostname!r}")
    extra = _header_table(table, "extra_headers", env=False)
    extra_env = _header_table(table, "extra_headers_env", env=True)
    if extra_env and tls == "none" and host not in _LOOPBACK:
        raise table.error(
            "extra_headers_env",
            'refusing to send secret headers (e.g. Approved:) unencrypted: use tls = "starttls" or '
            '"implicit"',
        )
    names = [h.lower() for h, _ in (*extra, *extra_env)]
    for header in names:
        if names.count(header) > 1:
            raise table.error("extra_headers_env", f"header {header!r} is also in extra_headers")
    per_release = table.get("per_release", bool, True, what="true or false")
    digest = _digest(table, source_names=source_names) if "digest" in table.data else None
    if not per_release and digest is None:
        raise table.error(
            "per_release", "is false and there is no [outputs.digest]: this list would get nothing"
        )
    return MailConfig(
        host=host,
        port=port,
        tls=tls,
        sender=sender,
        to=to,
        ca_file=ca_file,
        username=username,
        password_env=password_env,
        reply_to=reply_to,
        extra_headers=extra,
        extra_headers_env=extra_env,
        timeout=table.duration("timeout", 30.0, minimum=1.0),
        connect_timeout=table.duration("connect_timeout", 10.0, minimum=1.0),
        local_hostname=local_hostname,
        message_id_domain=domain,
        per_release=per_release,
        digest=digest,
    )


def masked(data: Any, *, key: str = "") -> Any:
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
