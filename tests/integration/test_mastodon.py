"""The Mastodon output through the real delivery loop against tests/fakemastodon.py: statuses within
the instance's limit, the outbox message id as Idempotency-Key (a retry after a lost answer is not a
second status), visibility and language, no mentions from feed text, a refused token, a 429."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import load_config
from bot.errors import DeliveryError
from bot.messages import sample_events
from bot.model import Event
from bot.sinks.mastodon import MastodonSink
from bot.store import PollRecord
from tests.fakemastodon import TOKEN, FakeMastodonServer, fake_mastodon

__all__ = ["fake_mastodon"]

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "toot"
        kind = "mastodon"
        instance = "{url}"
        access_token_env = "MASTODON_TOKEN"
        visibility = "unlisted"
        language = "en"
        """)
        + extra,
        encoding="utf-8",
    )
    return path


def events(count: int, project: str = "Flatcar") -> list[Event]:
    base = sample_events()[0]
    assert isinstance(base, Event)
    return [
        replace(base, release=replace(base.release, version=f"4230.2.{i}", project=project))
        for i in range(count)
    ]


def test_statuses_fit_the_limit_ping_no_one_and_a_lost_answer_is_not_posted_twice(
    tmp_path: Path, fake_mastodon: FakeMastodonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    fake_mastodon.mastodon.max_characters = 120
    path = config(tmp_path, fake_mastodon.url)

    async def main() -> None:
        bot = Bot(load_config(path))
        try:
            bot.store.commit_poll(
                PollRecord("flatcar", now=NOW, events=bot._messages(events(2, "Flatcar @admin")))
            )
            sink = bot.sinks[0]
            assert isinstance(sink, MastodonSink)
            real_post = sink.post
            calls = 0

            async def post_then_lose_the_answer(text: str, link: str, *, idempotency_key: str) -> str:
                nonlocal calls
                calls += 1
                status_id = await real_post(text, link, idempotency_key=idempotency_key)
                if calls == 1:
                    raise DeliveryError("answer lost", sink="toot")  # as a cut connection is
                return status_id

            sink.post = post_then_lose_the_answer  # type: ignore[method-assign]
            first = await bot.deliver()
            assert (first.delivered, first.failed) == (0, 1)
            bot.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # after the retry backoff
            second = await bot.deliver()
            assert (second.delivered, second.failed) == (2, 0)
        finally:
            await bot.aclose()

    asyncio.run(main())
    statuses = fake_mastodon.mastodon.statuses
    assert [s["content"].split(" released")[0] for s in statuses] == [
        f"Flatcar @\u200badmin stable 4230.2.{i}" for i in range(2)
    ]
    for status in statuses:
        assert fake_mastodon.mastodon.length(status["content"]) <= 120
        assert status["content"].rstrip().split("\n")[-1].startswith("https://")
        assert (status["visibility"], status["language"]) == ("unlisted", "en")


def test_refused_token_and_rate_limit(
    tmp_path: Path, fake_mastodon: FakeMastodonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", "wrong")
    path = config(tmp_path, fake_mastodon.url, 'max_rate_wait = "2s"\n')

    async def deliver() -> tuple[int, int, list[str]]:
        bot = Bot(load_config(path))
        try:
            bot.store.commit_poll(PollRecord("flatcar", now=NOW, events=bot._messages(events(3))))
            result = await bot.deliver()
            return result.delivered, result.failed, result.errors
        finally:
            await bot.aclose()

    delivered, failed, errors = asyncio.run(deliver())
    assert (delivered, failed) == (0, 1) and "401" in errors[0]
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    fake_mastodon.mastodon.limit, fake_mastodon.mastodon.window = 1, 1.0
    (tmp_path / "b").mkdir()
    path = config(tmp_path / "b", fake_mastodon.url, 'max_rate_wait = "5s"\n')
    delivered, failed, _ = asyncio.run(deliver())
    assert (delivered, failed) == (3, 0)
    assert fake_mastodon.mastodon.rate_limited >= 1
    assert len(fake_mastodon.mastodon.statuses) == 3
