"""The Discord webhook output through the real delivery loop (SQLite outbox) against the local
stand-in of tests/fakediscord.py: confirmed delivery (wait=true ids), limits, no pings, threads,
rate limits (proactive and after a 429), backlog summaries, refused tokens."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import load_config
from bot.messages import sample_events
from bot.model import Event
from bot.store import PollRecord
from tests.fakediscord import FakeDiscordServer, fake_discord

__all__ = ["fake_discord"]

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "discord"
        kind = "discord"
        webhook_url_env = "DISCORD_WEBHOOK"
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


def deliver(path: Path, items: list[Event]) -> tuple[int, int, list[str]]:
    async def main() -> tuple[int, int, list[str]]:
        bot = Bot(load_config(path))
        try:
            bot.store.commit_poll(PollRecord("flatcar", now=NOW, events=bot._messages(items)))
            result = await asyncio.wait_for(bot.deliver(), 60)
            return result.delivered, result.failed, result.errors
        finally:
            await bot.aclose()

    return asyncio.run(main())


def test_announcements_confirmed_in_threads_and_ping_no_one(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    hostile = "Flatcar @everyone @here <@&123456> <@42>"
    delivered, failed, _ = deliver(config(tmp_path, 'thread_id = "777"\n'), events(2, project=hostile))
    assert (delivered, failed) == (2, 0)
    messages = fake_discord.discord.messages
    assert [m["embeds"][0]["title"] for m in messages] == [
        f"[{hostile}] stable 4230.2.{i} released" for i in range(2)
    ]
    assert all(m["allowed_mentions"] == {"parse": []} for m in messages)
    assert fake_discord.discord.pings == []
    assert all(m["embeds"][0]["url"].startswith("https://") for m in messages)
    assert {q["wait"][0] for _, q in fake_discord.discord.requests} == {"true"}
    assert {q["thread_id"][0] for _, q in fake_discord.discord.requests} == {"777"}


def test_content_style_pings_no_one_either(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    assert deliver(config(tmp_path, 'style = "content"\n'), events(1, project="@everyone"))[:2] == (1, 0)
    (message,) = fake_discord.discord.messages
    assert message["content"].startswith("[@everyone] stable 4230.2.0 released")
    assert fake_discord.discord.pings == []
    # the same body without allowed_mentions would have pinged everyone: the stand-in does check
    assert fake_discord.discord.mentions({"content": message["content"]}) == ["@everyone"]


def test_buckets_waited_out_before_a_429(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    fake_discord.discord.bucket_limit = 2
    assert deliver(config(tmp_path, "backlog_summary_threshold = 50\n"), events(5))[:2] == (5, 0)
    assert fake_discord.discord.rate_limited == 0  # X-RateLimit-Remaining: 0 → waited for the reset
    titles = [m["embeds"][0]["title"] for m in fake_discord.discord.messages]
    assert titles == [f"[Flatcar] stable 4230.2.{i} released" for i in range(5)]


def test_429_honoured_and_nothing_dropped(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    fake_discord.discord.bucket_limit = 2
    fake_discord.discord.bucket_headers = False
    assert deliver(config(tmp_path, "backlog_summary_threshold = 50\n"), events(5))[:2] == (5, 0)
    assert fake_discord.discord.rate_limited >= 1
    titles = [m["embeds"][0]["title"] for m in fake_discord.discord.messages]
    assert titles == [f"[Flatcar] stable 4230.2.{i} released" for i in range(5)]


def test_a_long_backlog_is_summarised(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    fake_discord.discord.bucket_limit = 100
    assert deliver(config(tmp_path), events(8))[:2] == (8, 0)
    messages = fake_discord.discord.messages
    assert len(messages) < 8
    assert messages[0]["content"].startswith("8 queued announcements: [Flatcar] stable 4230.2.0 released")
    text = " ".join(m.get("content") or m["embeds"][0]["title"] for m in messages)
    assert all(f"4230.2.{i} " in text + " " for i in range(8))


def test_a_refused_token_stops_and_a_long_text_stays_within_limits(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url.replace("fake-webhook-token", "wrong"))
    delivered, failed, errors = deliver(config(tmp_path), events(1))
    assert (delivered, failed) == (0, 1) and "401" in errors[0]
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    long = "x" * 300 + " " + "y " * 3000
    (tmp_path / "second").mkdir()
    assert deliver(config(tmp_path / "second", 'style = "content"\n'), events(1, project=long))[:2] == (1, 0)
    (message,) = fake_discord.discord.messages
    assert len(message["content"]) <= 2000
