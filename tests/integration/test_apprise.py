"""The Apprise output through Apprise's own `json://` target (its real code path) against a local HTTP
server: delivered through the outbox, a failed notification retried later and delivered once, a
malformed URL a permanent failure that does not show the URL."""

from __future__ import annotations

import asyncio
import json
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import load_config
from bot.messages import sample_events
from bot.model import Event
from bot.store import PollRecord
from tests.httpserver import LocalHTTPServer

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "tail"
        kind = "apprise"
        urls_env = "APPRISE_URLS"
        """),
        encoding="utf-8",
    )
    return path


def events(count: int) -> list[Event]:
    base = sample_events()[0]
    assert isinstance(base, Event)
    return [replace(base, release=replace(base.release, version=f"4230.2.{i}")) for i in range(count)]


def test_notifications_through_json_targets_retried_from_the_outbox(
    tmp_path: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, object]] = []
    failing = {"on": True}

    def hook(handler: BaseHTTPRequestHandler) -> None:
        status = 503 if failing["on"] else 200
        if status == 200:
            received.append(json.loads(handler.request_body))  # type: ignore[attr-defined]
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    http_server.set_handler("/hook", hook)
    url = http_server.url("/hook").replace("http://", "json://")
    monkeypatch.setenv("APPRISE_URLS", url)

    async def main() -> None:
        bot = Bot(load_config(config(tmp_path)))
        try:
            bot.store.commit_poll(PollRecord("flatcar", now=NOW, events=bot._messages(events(2))))
            first = await bot.deliver()
            assert (first.delivered, first.failed) == (0, 1)  # the first waits; order is kept
            failing["on"] = False
            bot.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
            second = await bot.deliver()
            assert (second.delivered, second.failed) == (2, 0)
        finally:
            await bot.aclose()

    asyncio.run(main())
    assert [m["title"] for m in received] == [
        f"[Flatcar] stable 4230.2.{i} released 2025-04-10" for i in range(2)
    ]
    assert all(str(m["message"]).startswith(str(m["title"])) for m in received)


def test_a_malformed_url_is_permanent_and_not_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPRISE_URLS", "nosuchservice://secret-token@host")

    async def main() -> list[str]:
        bot = Bot(load_config(config(tmp_path)))
        try:
            bot.store.commit_poll(PollRecord("flatcar", now=NOW, events=bot._messages(events(1))))
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (0, 1)
            return result.errors
        finally:
            await bot.aclose()

    errors = asyncio.run(main())
    assert "not a valid Apprise URL" in errors[0] and "secret-token" not in errors[0]
