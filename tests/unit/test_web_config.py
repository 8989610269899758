"""`[http_server]`: off when absent, loopback by default, every error names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import HttpServerConfig, parse_config
from bot.errors import ConfigError

BASE: dict[str, object] = {
    "sources": [{"name": "flatcar", "kind": "flatcar"}],
    "outputs": [{"name": "console", "kind": "console"}],
}


def _parse(table: dict[str, object] | None) -> HttpServerConfig | None:
    data = dict(BASE) | ({"http_server": table} if table is not None else {})
    return parse_config(data, path=Path("/etc/release-bot/config.toml")).http_server


def test_off_when_the_table_is_absent_and_loopback_by_default() -> None:
    assert _parse(None) is None
    server = _parse({})
    assert server == HttpServerConfig()
    assert (server.host, server.port, server.listen) == ("127.0.0.1", 9108, "127.0.0.1:9108")
    assert server.feed_entries == 50 and server.header_timeout == 10.0 and server.max_request_bytes == 16384


def test_every_key() -> None:
    server = _parse(
        {
            "listen": "[::1]:8080",
            "public_url": "https://bot.example.org/release-bot/",
            "feed_authority": "example.org,2025",
            "feed_entries": 20,
            "max_request_bytes": 4096,
            "header_timeout": "5s",
        }
    )
    assert server == HttpServerConfig(
        host="::1",
        port=8080,
        public_url="https://bot.example.org/release-bot",
        feed_authority="example.org,2025",
        feed_entries=20,
        max_request_bytes=4096,
        header_timeout=5.0,
    )
    assert server.listen == "[::1]:8080"
    assert _parse({"listen": "0.0.0.0:9108"}) == HttpServerConfig(host="0.0.0.0")


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"listen": "9108"}, "http_server.listen", 'expected "HOST:PORT"'),
        ({"listen": "localhost:70000"}, "http_server.listen", "out of range"),
        ({"listen": "[::zz]:80"}, "http_server.listen", "expected"),
        ({"listen": 9108}, "http_server.listen", "string"),
        ({"feed_authority": "release bot"}, "http_server.feed_authority", "tag: URI authority"),
        ({"public_url": "bot.example.org"}, "http_server.public_url", "http:// or https://"),
        ({"feed_entries": 0}, "http_server.feed_entries", ""),
        ({"header_timeout": "soon"}, "http_server.header_timeout", "duration"),
        ({"lisen": "127.0.0.1:1"}, "http_server.lisen", "unknown key 'lisen'"),
    ],
)
def test_errors_name_the_file_and_the_key(table: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(table)
    text = str(caught.value)
    assert text.startswith("/etc/release-bot/config.toml: ") and key in text and message in text, text


def test_not_a_table() -> None:
    with pytest.raises(ConfigError, match=r"config.toml: http_server: .*table"):
        parse_config(dict(BASE) | {"http_server": "127.0.0.1:9108"}, path=Path("config.toml"))
