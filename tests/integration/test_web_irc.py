"""The IRC output as /metrics and /readyz see it: connected or not, lines sent, deliveries counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import Bot
from bot.config import HttpServerConfig, load_config
from bot.web.server import WebServer
from tests.fakeircd import FakeIrcd
from tests.integration.test_irc_sink import config_file, events, queue

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_irc_connection_lines_and_deliveries(tmp_path: Path) -> None:
    async def main() -> None:
        irc = await FakeIrcd().start()
        bot = Bot(load_config(config_file(tmp_path, irc.port)))
        web = WebServer(bot, HttpServerConfig(port=0))
        await web.start()
        try:
            async with httpx.AsyncClient(base_url=web.url, timeout=10) as client:
                before = _samples((await client.get("/metrics")).text)
                assert before[("release_bot_irc_connected", (("output", "net"),))] == 0
                ready = (await client.get("/readyz")).json()
                assert ready["outputs"][0]["connected"] is False

                queue(bot, events(2))
                result = await bot.deliver()  # connects, joins, sends, confirms
                assert result.delivered == 2
                after = _samples((await client.get("/metrics")).text)
                assert after[("release_bot_irc_connected", (("output", "net"),))] == 1
                assert (
                    after[("release_bot_irc_lines_sent_total", (("output", "net"),))] >= 2 + 3
                )  # NICK, USER, JOIN
                delivered = ("release_bot_deliveries_total", (("output", "net"),))
                assert after[delivered] - before.get(delivered, 0) == 2
                ready = (await client.get("/readyz")).json()
                assert (
                    ready["outputs"][0] | {"name": "net", "connected": True, "queued": 0}
                    == ready["outputs"][0]
                )
                page = (await client.get("/")).text
                assert "<strong>net</strong>" in page and ">connected<" in page
        finally:
            await web.stop()
            await bot.aclose()
            await irc.stop()

    asyncio.run(main())
