"""The fast path of a poll that found nothing new (issue 11): every document answered 304, so
nothing is planned and the source's status is written with other quiet polls in one transaction —
but what `status`, /readyz and `status --check` read (last attempt, last success, error streak)
still moves on with every poll."""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import MboxOutput, load_config
from bot.quietpolls import FLUSH_DELAY
from bot.sinks.console import ConsoleSink
from bot.sinks.mbox import MboxSink
from bot.store import PollRecord, SourceStatus, Store
from tests.helpers import SNAPSHOTS, narrow
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import serve, write_config

START = datetime(2026, 1, 1, tzinfo=UTC)
READ_ONLY = "the state file is read-only (check its owner and mode)"


def _status(state: Path) -> SourceStatus:
    """The flatcar source's stored status (a fresh read of the state file)."""
    with Store(state) as store:
        status = store.source_status("flatcar")
    assert status is not None
    return status


def _bot(config_path: Path, now: list[datetime]) -> Bot:
    config = load_config(config_path)
    sinks = [
        ConsoleSink(config.outputs[0], stream=io.StringIO()),
        MboxSink(narrow(config.outputs[1], MboxOutput)),
    ]
    return Bot(config, sinks=sinks, clock=lambda: now[0])


def test_all_304_poll_updates_the_status_that_status_reads(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    serve(http_server, SNAPSHOTS[0])
    config = write_config(tmp_path, http_server)
    state = tmp_path / "state.sqlite3"
    now = [START]

    async def main() -> None:
        bot = _bot(config, now)
        try:
            await bot.poll_all()  # baseline: documents and validators stored
            with Store(state) as store:
                # a failure streak in the store (a previous process): the quiet poll must end it
                store.commit_poll(PollRecord.failure("flatcar", now=now[0], error="HTTP 503"))
                store.commit_poll(PollRecord.failure("flatcar", now=now[0], error="HTTP 503"))
                events = len(store.events())

            now[0] = START + timedelta(hours=1)
            results = await bot.poll_all()  # all 304: the quiet path, flushed at the end of the cycle
            assert [(r.ok, r.unchanged, r.announced) for r in results] == [(True, 4, ())]
            with Store(state) as store:
                assert len(store.events()) == events
            status = _status(state)
            assert status.last_attempt_at == now[0] and status.last_success_at == now[0]
            assert status.error_streak == 0 and status.last_error is None

            # the daemon polls one source at a time: its quiet poll is written within FLUSH_DELAY
            now[0] = START + timedelta(hours=2)
            assert (await bot.poll(bot.config.sources[0])).unchanged == 4
            assert _status(state).last_attempt_at == START + timedelta(hours=1)
            await asyncio.sleep(FLUSH_DELAY + 0.3)
            assert _status(state).last_attempt_at == now[0]

            # a quiet poll still pending when the bot closes is written by `aclose`
            now[0] = START + timedelta(hours=3)
            await bot.poll(bot.config.sources[0])
        finally:
            await bot.aclose()
        assert _status(state).last_attempt_at == START + timedelta(hours=3)

    asyncio.run(main())


def test_a_full_poll_is_not_overwritten_by_an_older_quiet_one(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    serve(http_server, SNAPSHOTS[0])
    config = write_config(tmp_path, http_server)
    state = tmp_path / "state.sqlite3"
    now = [START]

    async def main() -> None:
        bot = _bot(config, now)
        try:
            await bot.poll_all()
            now[0] = START + timedelta(hours=1)
            await bot.poll(bot.config.sources[0])  # quiet: pending in memory
            serve(http_server, SNAPSHOTS[1])  # new releases: the next poll is recorded in full
            now[0] = START + timedelta(hours=2)
            result = await bot.poll(bot.config.sources[0])
            assert result.ok and result.new_releases
            await asyncio.sleep(FLUSH_DELAY + 0.3)  # the dropped quiet poll writes nothing
        finally:
            await bot.aclose()
        status = _status(state)
        assert status.last_attempt_at == START + timedelta(hours=2)
        assert status.last_change_at == START + timedelta(hours=2)

    asyncio.run(main())


def test_a_quiet_cycle_that_cannot_be_written_is_reported_per_source(
    http_server: LocalHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    serve(http_server, SNAPSHOTS[0])
    config = write_config(tmp_path, http_server)
    now = [START]

    def read_only(polls: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    async def main() -> None:
        bot = _bot(config, now)
        try:
            await bot.poll_all()
            bot.store.record_quiet_polls = read_only  # type: ignore[method-assign]
            now[0] = START + timedelta(hours=1)
            results = await bot.poll_all()
            assert [(r.ok, r.error) for r in results] == [(False, READ_ONLY)]
        finally:
            await bot.aclose()  # nothing left pending: no second report

    with caplog.at_level(logging.ERROR, logger="release-bot"):
        asyncio.run(main())
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"source flatcar: {READ_ONLY} ({load_config(config).state})"]


def test_while_quiet_writes_fail_polls_take_the_full_path(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    serve(http_server, SNAPSHOTS[0])
    config = write_config(tmp_path, http_server)
    state = tmp_path / "state.sqlite3"
    now = [START]

    def read_only(polls: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    async def main() -> None:
        bot = _bot(config, now)
        works = bot.store.record_quiet_polls
        try:
            await bot.poll_all()
            bot.store.record_quiet_polls = read_only  # type: ignore[method-assign]
            now[0] = START + timedelta(hours=1)
            await bot.poll(bot.config.sources[0])  # quiet; its timer flush fails
            await asyncio.sleep(FLUSH_DELAY + 0.3)
            bot.store.record_quiet_polls = works  # type: ignore[method-assign]
            now[0] = START + timedelta(hours=2)
            await bot.poll(bot.config.sources[0])  # the full path: written at once, no timer
            assert _status(state).last_attempt_at == now[0]
            now[0] = START + timedelta(hours=3)
            await bot.poll(bot.config.sources[0])  # quiet again: pending
            assert _status(state).last_attempt_at == START + timedelta(hours=2)
        finally:
            await bot.aclose()

    asyncio.run(main())
