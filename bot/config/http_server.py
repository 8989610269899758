"""`[http_server]`: the embedded read-only HTTP server (health, metrics, JSON API, Atom feed, status
page). Off when the table is absent; listens on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bot.config.table import Table

__all__ = ["DEFAULT_LISTEN", "HttpServerConfig", "parse_http_server"]

DEFAULT_LISTEN = "127.0.0.1:9108"
_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")
_AUTHORITY = re.compile(r"^[A-Za-z0-9.@-]+,\d{4}(?:-\d{2}(?:-\d{2})?)?$")


@dataclass(frozen=True)
class HttpServerConfig:
    host: str = "127.0.0.1"
    port: int = 9108  # 0: any free port (tests)
    #: the public base URL when behind a reverse proxy (links in the feed); None: the request's own
    public_url: str | None = None
    #: the feed's entry ids are `tag:<feed_authority>:<event key>` (RFC 4151: a domain or mail, a date)
    feed_authority: str = "release-bot,2025"
    feed_entries: int = 50
    max_request_bytes: int = 16 * 1024  # request line + headers + body
    header_timeout: float = 10.0  # a client that sends its request slower than this is dropped
    #: Discord's HTTP interactions endpoint (`POST /discord/interactions`, slash commands) is served when
    #: the application's public key (hex, from the Developer Portal) is set; answers are ephemeral unless
    #: `discord_ephemeral = false`
    discord_public_key: str | None = None
    discord_ephemeral: bool = True

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _listen(table: Table) -> tuple[str, int]:
    text = table.string("listen", DEFAULT_LISTEN)
    match = _LISTEN.match(text.strip())
    if match is None:
        raise table.error(
            "listen", f'expected "HOST:PORT" (e.g. "{DEFAULT_LISTEN}", "[::1]:9108"), got {text!r}'
        )
    host = match["v6"] or match["host"]
    if match["v6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise table.error("listen", f"not an IPv6 address: {host!r}") from None
    port = int(match["port"])
    if port > 65535:
        raise table.error("listen", f"port {port} is out of range (0-65535)")
    return host, port


def _public_key(table: Table) -> str | None:
    key = table.optional_string("discord_public_key")
    if key is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", key):
        raise table.error("discord_public_key", "expected the application's public key: 64 hex digits")
    return key.lower() if key is not None else None


def parse_http_server(table: Table) -> HttpServerConfig:
    host, port = _listen(table)
    public_url = table.optional_string("public_url")
    if public_url is not None:
        public_url = table.url("public_url").rstrip("/")
    authority = table.string("feed_authority", HttpServerConfig.feed_authority)
    if not _AUTHORITY.match(authority):
        raise table.error(
            "feed_authority",
            'expected "DOMAIN,YYYY[-MM[-DD]]" (a tag: URI authority, e.g. "example.org,2025"), '
            f"got {authority!r}",
        )
    config = HttpServerConfig(
        host=host,
        port=port,
        public_url=public_url,
        feed_authority=authority,
        feed_entries=table.integer("feed_entries", 50, minimum=1),
        max_request_bytes=table.integer("max_request_bytes", 16 * 1024, minimum=1024),
        header_timeout=table.duration("header_timeout", 10.0, minimum=1.0),
        discord_public_key=_public_key(table),
        discord_ephemeral=table.boolean("discord_ephemeral", True),
    )
    table.finish()
    return config
