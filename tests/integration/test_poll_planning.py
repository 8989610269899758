"""`Bot.poll` plans (detects and renders) a small poll on the loop in its CPU turn and a large one in its
planning thread, off the event loop (issue 17): on both paths, what a mail needs from the poll (the
deprecation notices arriving with a release) and from the store (a promotion's thread parents, looked
up on the loop's thread) is there."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bot.app
from bot.app import Bot
from bot.config import Config
from bot.store import OutboxItem, Store
from tests.helpers import SNAPSHOTS, free_port
from tests.httpserver import LocalHTTPServer
from tests.integration.test_deprecations_pipeline import serve_until
from tests.integration.test_mail_smtp import serve
from tests.mailhelpers import mail_config

LATER = datetime.now(UTC) + timedelta(days=1)


def config(tmp_path: Path, http: LocalHTTPServer, base: str, **source: Any) -> Config:
    sources = [{"name": "flatcar", "kind": "flatcar", "base_url": http.url(base), **source}]
    # nothing listens on the port: the mails stay in the outbox, where the test reads them
    return mail_config(tmp_path, sources=sources, port=free_port(), tls="none")


RENDERED_IN: set[str] = set()


@pytest.fixture(params=["loop", "planning thread", "rendered in the planning thread"], autouse=True)
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test on every path: these polls are small (planned on the loop) unless a limit is lowered —
    the releases read (the whole plan goes to the thread) or the messages to render (detected on the
    loop, rendered in the thread)."""
    if request.param == "planning thread":
        monkeypatch.setattr(bot.app, "INLINE_RELEASES", -1)
    elif request.param == "rendered in the planning thread":
        monkeypatch.setattr(bot.app, "INLINE_RENDERS", 0)
    RENDERED_IN.clear()
    original = Bot.render

    def render(self: Bot, event: Any) -> Any:
        on_loop = threading.current_thread() is threading.main_thread()
        RENDERED_IN.add("loop" if on_loop else "planning thread")
        return original(self, event)

    monkeypatch.setattr(Bot, "render", render)
    return "loop" if request.param == "loop" else "planning thread"


def poll(config: Config) -> None:
    async def main() -> None:
        bot = Bot(config)
        try:
            results = await bot.poll_all()
            assert all(r.ok for r in results), [r.error for r in results]
        finally:
            await bot.aclose()

    asyncio.run(main())


def queued(config: Config) -> dict[str, OutboxItem]:
    with Store(config.state) as store:
        return {item.event_key: item for item in store.pending("list", now=LATER, limit=1000)}


def test_a_release_mail_carries_the_notices_of_its_poll(
    http_server: LocalHTTPServer, tmp_path: Path, where: str
) -> None:
    loaded = config(tmp_path, http_server, "/f/")
    serve_until(http_server, "2021-03-01")
    poll(loaded)  # the baseline
    serve_until(http_server, "2021-05-01")
    poll(loaded)
    mails = queued(loaded)
    item = mails["release:flatcar/alpha/2801.0.0"]
    text = str(item.payload["text"])
    assert "Deprecations and removals arriving with this release:" in text
    assert "dhcpcd and containerd-stress" in " ".join(text.split())
    # the notice is in the release's mail, not in a mail of its own
    assert not any(key.startswith("deprecation:flatcar/") and "/alpha" in key for key in mails)
    assert {where} == RENDERED_IN


def test_a_promotion_threads_under_the_mail_that_opened_its_major(
    http_server: LocalHTTPServer, tmp_path: Path, where: str
) -> None:
    loaded = config(tmp_path, http_server, "/flatcar/", announce_on_first_run=1)
    for snapshot in SNAPSHOTS:
        serve(http_server, snapshot)
        poll(loaded)
    mails = queued(loaded)
    opening = mails["release:flatcar/alpha/4230.0.0"]
    promotion = mails["promotion:flatcar/beta/4230.1.0"]
    # recorded polls apart: the parent came from the store, asked from the loop or the planning thread
    assert promotion.payload["references"] == [opening.message_id]
    assert {where} == RENDERED_IN
