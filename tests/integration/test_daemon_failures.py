"""The daemon with a state it cannot write (read-only file, full disk, as root sees it too): one
error line per streak, no traceback per poll; it keeps running and recovers when the cause is gone."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import load_config
from bot.daemon import run
from bot.sdnotify import Notifier
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import serve, write_config

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("attempt to write a readonly database", "the state file is read-only"),
        ("database or disk is full", "the disk is full"),
    ],
)
def test_state_write_failures_are_one_line_per_streak(
    http_server: LocalHTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    error: str,
    said: str,
) -> None:
    serve(http_server, SNAPSHOTS[1])
    config = load_config(write_config(tmp_path, http_server))
    attempts = 0

    async def main() -> None:
        bot = Bot(config)

        def refuse(*args: object, **kwargs: object) -> list[int]:
            nonlocal attempts
            attempts += 1
            raise sqlite3.OperationalError(error)

        monkeypatch.setattr(bot.store, "commit_poll", refuse)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(4.0, stop.set)  # retry_initial 1 s: several polls
        try:
            await run(bot, stop, notifier=Notifier(None))
        finally:
            await bot.aclose()

    with caplog.at_level(logging.INFO, logger="release-bot"):
        asyncio.run(main())
    assert attempts >= 2, attempts
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is None
    assert errors[0].getMessage().startswith(f"source flatcar: {said}")
    assert str(config.state) in errors[0].getMessage()
