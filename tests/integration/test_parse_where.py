"""Where a fetched body is parsed (bot/sources/kinds/releases.py, bot/cputurn.py): a small one on the
event loop in its CPU turn (cheaper than a hop to a thread), one over `INLINE_PARSE_BYTES` in a worker
thread, so that a large document never holds the loop. Both read the same releases."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.cputurn import INLINE_PARSE_BYTES
from bot.sources import fetch_source
from bot.sources.http import HttpFetcher
from bot.sources.kinds.feed import FeedKind
from tests.httpserver import LocalHTTPServer

NOTES = "&lt;p&gt;" + "a change, " * 40 + "&lt;/p&gt;"


def feed(entries: int) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>p</title>'
    ]
    for k in range(entries, 0, -1):
        parts.append(
            f"<entry><title>1.{k}.0</title><id>urn:p:{k}</id><updated>2025-01-01T00:00:00Z</updated>"
            f'<content type="html">{NOTES}</content></entry>'
        )
    return ("".join(parts) + "</feed>").encode()


def test_a_small_body_is_parsed_on_the_loop_a_large_one_in_a_worker(
    http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, large = feed(5), feed(800)
    assert len(small) <= INLINE_PARSE_BYTES < len(large)
    http_server.set("/small.atom", small, content_type="application/atom+xml")
    http_server.set("/large.atom", large, content_type="application/atom+xml")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[bot]\nstate = "{tmp_path / "state.sqlite3"}"\n'
        + "".join(
            f'[[sources]]\nname = "{name}"\nkind = "feed"\nurl = "{http_server.url(f"/{name}.atom")}"\n'
            for name in ("small", "large")
        )
        + f'[[outputs]]\nname = "box"\nkind = "mbox"\npath = "{tmp_path / "box.mbox"}"\n'
    )
    config = load_config(path)
    parsed_in: dict[str, str] = {}
    original = FeedKind.read  # what the fetch calls: `parse` with the memo of the last reading

    def read(self: FeedKind, source: Any, name: str, url: str, body: bytes, remembered: bytes | None) -> Any:
        main = threading.current_thread() is threading.main_thread()
        parsed_in[source.name] = "loop" if main else "worker"
        return original(self, source, name, url, body, remembered)

    monkeypatch.setattr(FeedKind, "read", read)

    async def main() -> dict[str, int]:
        async with HttpFetcher(user_agent="t", allow_address_classes=frozenset({"loopback"})) as fetcher:
            out = {}
            for source in config.sources:
                fetched: Any = await fetch_source(fetcher, source, {})
                assert not fetched.errors
                out[source.name] = len(fetched.documents[0].releases)
            return out

    assert asyncio.run(main()) == {"small": 5, "large": 800}
    assert parsed_in == {"small": "loop", "large": "worker"}
