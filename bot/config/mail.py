"""`[[outputs]] kind = "mail"`: one output = one mailing list, reached over SMTP, with its digest."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.config.filters import Filter, parse_filter
from bot.config.table import REQUIRED, Required, Table, is_loopback

if TYPE_CHECKING:  # a third-party type for an annotation only; apscheduler is imported when used
    from apscheduler.triggers.cron import CronTrigger

#: Headers release-bot writes itself; `extra_headers` may not replace them.
RESERVED_MAIL_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "sender", "subject", "date", "message-id", "in-reply-to",
        "references", "mime-version", "content-type", "content-transfer-encoding", "return-path",
        "received", "resent-from", "resent-to", "resent-date", "resent-message-id", "auto-submitted",
    }
)  # fmt: skip
MailTls = Literal["starttls", "implicit", "none"]
_TLS_MODES: tuple[MailTls, ...] = ("starttls", "implicit", "none")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field-name: printable ASCII except ':'
_BARE_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\x00-\x1f\x7f]+@[A-Za-z0-9.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_DEFAULT_MAIL_PORTS = {"starttls": 587, "implicit": 465, "none": 25}
#: Keys that set a reserved header themselves (the error for that header in extra_headers names them).
_HEADER_KEYS = {"sender": "sender", "auto-submitted": "auto_submitted", "reply-to": "reply_to"}
AUTO_SUBMITTED = ("auto-generated", "auto-notified", "no")


@dataclass(frozen=True)
class DigestConfig:
    """When a mail output sends its digest: cron fields in a time zone."""

    cron: tuple[tuple[str, str], ...]  # (field, expression) for minute, hour, day, month, day_of_week
    timezone: str = "UTC"
    send_empty: bool = False
    filter: Filter = field(default_factory=Filter)  # what the digest lists (default: everything)

    def trigger(self) -> CronTrigger:
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
    tls: MailTls
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
    data_timeout: float = 600.0  # the reply to the final "." (RFC 5321 §4.5.3.2.6: 10 minutes)
    max_auth_failures: int = 3  # authentication failures in a row that stop the output until `retry`
    max_per_minute: int = 0  # pace of one delivery pass; 0: no pace
    local_hostname: str | None = None
    message_id_domain: str = "release-bot.invalid"
    per_release: bool = True
    digest: DigestConfig | None = None
    sender_header: str | None = None  # the `sender` key: a Sender header (who actually sends)
    envelope_from: str | None = None  # the SMTP MAIL FROM (bounces); default: the address of `from`
    auto_submitted: str = "auto-generated"  # the Auto-Submitted header (RFC 3834); "no": none

    @property
    def envelope_sender(self) -> str:
        """The SMTP envelope sender (MAIL FROM)."""
        return self.envelope_from or parseaddr(self.sender)[1]


def mail_address(value: str) -> Address:
    """`value` ("Name <list@example.org>" or a bare address) as an email.headerregistry.Address;
    ValueError if it is not one address."""
    name, address = parseaddr(value)
    if has_control(value) or "@" not in address or any(ch.isspace() for ch in address):
        raise ValueError(f"not a mail address: {value!r}")
    try:
        return Address(display_name=name, addr_spec=address)
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise ValueError(f"not a mail address: {value!r}") from exc


def has_control(value: str) -> bool:
    """True if `value` holds a control or format character (CR, LF, NUL, bidi overrides, …)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def _address(table: Table, name: str, default: str | Required = REQUIRED) -> str:
    value = table.string(name, default)
    try:
        mail_address(value)
    except ValueError:
        raise table.error(
            name, f'expected a mail address like "Name <list@example.org>", got {value!r}'
        ) from None
    return value


def _headers(table: Table, name: str, *, env: bool) -> tuple[tuple[str, str], ...]:
    headers = table.table(name)
    out: list[tuple[str, str]] = []
    for header in headers.names():
        value = headers.string(header)
        if not _HEADER_NAME.match(header):
            raise headers.error(header, "not a valid header name (printable ASCII, no spaces or ':')")
        if header.lower() in _HEADER_KEYS:
            key = _HEADER_KEYS[header.lower()]
            raise headers.error(header, f"set it with the output's `{key}` key instead")
        if header.lower() in RESERVED_MAIL_HEADERS:
            raise headers.error(header, "release-bot sets this header itself; it cannot be overridden")
        if env and not _ENV_NAME.match(value):
            raise headers.error(header, f"expected an environment variable name, got {value!r}")
        if has_control(value):
            raise headers.error(header, f"control characters (CR, LF, …) are not allowed, got {value!r}")
        out.append((header, value))
    headers.finish()
    return tuple(out)


def parse_digest(table: Table, *, source_names: list[str]) -> DigestConfig:
    """The `[outputs.digest]` table of a mail output."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    digest = table.table("digest")
    zone = digest.string("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise digest.error(
            "timezone", f'expected an IANA time zone like "Europe/Berlin", got {zone!r}'
        ) from exc
    cron = digest.optional_string("cron")
    explicit: dict[str, str] = {}
    for name in _CRON_FIELDS:
        value = digest.optional_text_or_int(name, what="a cron expression (string) or an integer")
        if value is not None:
            explicit[name] = value
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
        send_empty=digest.boolean("send_empty", False),
        filter=parse_filter(digest, source_names),
    )
    try:
        config.trigger()
    except ValueError as exc:
        raise digest.error(key, f"not a valid schedule: {exc}") from exc
    digest.finish()
    return config


def parse_mail(table: Table, base: Path, *, source_names: list[str]) -> MailConfig:
    """A mail output's keys (the caller checks for unknown keys afterwards)."""
    host = table.string("host")
    if not host or any(ch.isspace() for ch in host) or "/" in host:
        raise table.error("host", f"expected a host name or IP address, got {host!r}")
    tls = table.choice("tls", _TLS_MODES, "starttls")
    port = table.port("port", _DEFAULT_MAIL_PORTS[tls])
    ca_file = table.optional_path("ca_file", base)
    if ca_file is not None and not ca_file.is_file():
        raise table.error("ca_file", f"no such file: {ca_file}")
    if ca_file is not None and tls == "none":
        raise table.error("ca_file", 'has no effect with tls = "none"')
    username = table.optional_string("username")
    password_env = table.optional_string("password_env")
    if password_env is not None and not _ENV_NAME.match(password_env):
        raise table.error("password_env", f"expected an environment variable name, got {password_env!r}")
    if username is not None and password_env is None:
        raise table.error(
            "password_env", "missing; `username` needs the password from an environment variable"
        )
    if password_env is not None and username is None:
        raise table.error("username", "missing; `password_env` is set but there is no user to log in as")
    if username is not None and tls == "none" and not is_loopback(host):
        raise table.error(
            "username", 'refusing to send a password unencrypted: use tls = "starttls" or "implicit"'
        )
    sender = _address(table, "from")
    to = _address(table, "to")
    reply_to = _address(table, "reply_to") if table.has("reply_to") else None
    sender_header = _address(table, "sender") if table.has("sender") else None
    envelope_from = None
    if table.has("envelope_from"):
        envelope_from = table.string("envelope_from")
        if not _BARE_ADDRESS.match(envelope_from):
            raise table.error(
                "envelope_from", f'expected a bare address like "bounces@example.org", got {envelope_from!r}'
            )
    auto_submitted = table.choice("auto_submitted", AUTO_SUBMITTED, "auto-generated")
    domain_default = parseaddr(sender)[1].rpartition("@")[2]
    if not _DOMAIN.match(domain_default):
        domain_default = "release-bot.invalid"
    domain = table.string("message_id_domain", domain_default)
    if not _DOMAIN.match(domain):
        raise table.error("message_id_domain", f"expected a domain name, got {domain!r}")
    local_hostname = table.optional_string("local_hostname")
    if local_hostname is not None and not _DOMAIN.match(local_hostname):
        raise table.error("local_hostname", f"expected a host name, got {local_hostname!r}")
    extra = _headers(table, "extra_headers", env=False)
    extra_env = _headers(table, "extra_headers_env", env=True)
    if extra_env and tls == "none" and not is_loopback(host):
        raise table.error(
            "extra_headers_env",
            'refusing to send secret headers (e.g. Approved:) unencrypted: use tls = "starttls" or '
            '"implicit"',
        )
    names = [h.lower() for h, _ in (*extra, *extra_env)]
    for header in names:
        if names.count(header) > 1:
            raise table.error("extra_headers_env", f"header {header!r} is also in extra_headers")
    per_release = table.boolean("per_release", True)
    digest = parse_digest(table, source_names=source_names) if table.has("digest") else None
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
        data_timeout=table.duration("data_timeout", 600.0, minimum=1.0),
        max_auth_failures=table.integer("max_auth_failures", 3, minimum=1),
        max_per_minute=table.integer("max_per_minute", 0, minimum=0),
        local_hostname=local_hostname,
        message_id_domain=domain,
        per_release=per_release,
        digest=digest,
        sender_header=sender_header,
        envelope_from=envelope_from,
        auto_submitted=auto_submitted,
    )
