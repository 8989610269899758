"""`Bot.poll` plans (detects and renders) in its planning thread, off the event loop (issue 17): what a
mail needs from the poll (the deprecation notices arriving with a release) and from the store (a
promotion's thread parents, looked up on the loop's thread) is still there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def test_a_release_mail_carries_the_notices_of_its_poll(http_server: LocalHTTPServer, tmp_path: Path) -> None:
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


def test_a_promotion_threads_under_the_mail_that_opened_its_major(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    loaded = config(tmp_path, http_server, "/flatcar/", announce_on_first_run=1)
    for snapshot in SNAPSHOTS:
        serve(http_server, snapshot)
        poll(loaded)
    mails = queued(loaded)
    opening = mails["release:flatcar/alpha/4230.0.0"]
    promotion = mails["promotion:flatcar/beta/4230.1.0"]
    # recorded polls apart: the parent came from the store, asked from the planning thread
    assert promotion.payload["references"] == [opening.message_id]
