"""The Discord output as a bot account (`bot_token_env` + `channel_id`) against the local stand-in of
tests/fakediscord.py: Create Message with `Authorization: Bot …`, a nonce per outbox row with
`enforce_nonce`, and what happens to a post repeated after a crash — within Discord's nonce window,
after it (the channel looked up first), with the lookup refused; rate-limit buckets; permissions."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import time
from pathlib import Path

import pytest

from bot.chat.discord_protocol import nonce_for
from bot.config import load_config
from bot.config.discord import DiscordOutput
from bot.errors import AuthenticationFailed
from bot.render import Renderer
from bot.sinks.discord import DiscordSink
from bot.store import OutboxItem
from tests.fakediscord import BOT_TOKEN, BOT_USER_ID, FakeDiscordServer, fake_discord
from tests.integration.test_discord import NOW, deliver, events

__all__ = ["fake_discord"]


def config(tmp_path: Path, api: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "discord"
        kind = "discord"
        bot_token_env = "DISCORD_BOT_TOKEN"
        channel_id = "9988"
        api_url = "{api}"
        """)
        + extra,
        encoding="utf-8",
    )
    return path


def sink_and_items(path: Path, count: int = 1) -> tuple[DiscordSink, list[OutboxItem]]:
    output = load_config(path).outputs[0]
    assert isinstance(output, DiscordOutput)
    sink = DiscordSink(output)
    items = []
    for i, event in enumerate(events(count)):
        message = sink.format(event, Renderer())
        items.append(
            OutboxItem(i + 1, i + 1, event.key, sink.name, message.message_id, message.payload, 0, NOW)
        )
    return sink, items


def run(sink: DiscordSink, *items: OutboxItem) -> None:
    async def main() -> None:
        try:
            for item in items:
                await sink.deliver(item)
        finally:
            await sink.close()

    asyncio.run(main())


def test_bot_account_posts_with_a_nonce_and_pings_no_one(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    hostile = "Flatcar @everyone <@&123456>"
    path = config(tmp_path, fake_discord.api_url, 'style = "content"\n')
    assert deliver(path, events(2, project=hostile))[:2] == (2, 0)
    messages = fake_discord.discord.messages
    assert [m["author"]["id"] for m in messages] == [BOT_USER_ID, BOT_USER_ID]
    assert [m["channel_id"] for m in messages] == ["9988", "9988"]
    assert all(m["enforce_nonce"] is True and 1 <= len(m["nonce"]) <= 25 for m in messages)
    assert len({m["nonce"] for m in messages}) == 2
    assert all("username" not in m for m in messages)
    assert messages[0]["content"].startswith(f"[{hostile}] stable 4230.2.0 released")
    assert fake_discord.discord.pings == []
    assert {p for p, _ in fake_discord.discord.requests} == {"/api/v10/channels/9988/messages"}


def test_a_post_repeated_within_the_nonce_window_is_the_same_message(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    sink, (item,) = sink_and_items(config(tmp_path, fake_discord.api_url))
    run(sink, item)
    # a kill -9 after Discord created the message, before the journal recorded the answer: the
    # journal knows only that a post started a moment ago
    sink.journal.path.unlink()
    sink, _ = sink_and_items(tmp_path / "config.toml")
    sink.journal.begin(item.message_id, now=time.time() - 5)
    run(sink, item)
    assert len(fake_discord.discord.messages) == 1
    assert fake_discord.discord.nonce_hits == 1
    assert sink.journal.get(item.message_id).done == fake_discord.discord.messages[0]["id"]
    run(sink, item)  # confirmed in the journal: not even asked again
    assert fake_discord.discord.nonce_hits == 1 and len(fake_discord.discord.requests) == 2


def test_after_the_nonce_window_the_channel_is_looked_up_first(
    tmp_path: Path,
    fake_discord: FakeDiscordServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    fake_discord.discord.nonce_window = 0.0  # Discord forgot the nonce
    sink, (first, second) = sink_and_items(config(tmp_path, fake_discord.api_url), 2)
    run(sink, first)
    sink.journal.path.unlink()
    sink, _ = sink_and_items(tmp_path / "config.toml")
    sink.journal.begin(first.message_id, now=time.time() - 600)  # interrupted ten minutes ago
    sink.journal.begin(second.message_id, now=time.time() - 600)  # never reached Discord
    with caplog.at_level(logging.INFO, logger="release-bot.discord"):
        run(sink, first, second)
    assert "an interrupted post had gone out" in caplog.text
    assert "may appear twice" not in caplog.text  # looked: the second had not gone out
    messages = fake_discord.discord.messages
    assert [m["embeds"][0]["title"] for m in messages] == [
        "[Flatcar] stable 4230.2.0 released",
        "[Flatcar] stable 4230.2.1 released",
    ]
    assert sink.journal.get(first.message_id).done == messages[0]["id"]
    gets = [p for p, q in fake_discord.discord.requests if "after" in q]
    assert len(gets) == 2 and fake_discord.discord.nonce_hits == 0


def test_a_refused_lookup_posts_again_and_says_so(
    tmp_path: Path,
    fake_discord: FakeDiscordServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    fake_discord.discord.nonce_window = 0.0
    fake_discord.discord.permissions.discard("history")  # no Read Message History
    sink, (item,) = sink_and_items(config(tmp_path, fake_discord.api_url))
    run(sink, item)
    sink.journal.path.unlink()
    sink, _ = sink_and_items(tmp_path / "config.toml")
    sink.journal.begin(item.message_id, now=time.time() - 600)
    with caplog.at_level(logging.WARNING, logger="release-bot.discord"):
        run(sink, item)
    assert len(fake_discord.discord.messages) == 2  # the documented limit: at least once then
    assert "cannot look for an interrupted post" in caplog.text and "may appear twice" in caplog.text


def test_buckets_permissions_and_tokens(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    fake_discord.discord.bucket_limit = 2
    path = config(tmp_path, fake_discord.api_url, "backlog_summary_threshold = 50\n")
    assert deliver(path, events(5))[:2] == (5, 0)
    assert fake_discord.discord.rate_limited == 0  # X-RateLimit-Remaining: 0 → waited for the reset
    fake_discord.discord.messages.clear()
    fake_discord.discord.permissions.discard("send")
    (tmp_path / "second").mkdir()
    sink, (item,) = sink_and_items(config(tmp_path / "second", fake_discord.api_url))
    with pytest.raises(AuthenticationFailed, match=r"403 Missing Permissions.*Send Messages and Embed Links"):
        run(sink, item)
    assert sink.journal.get(item.message_id).started is None  # refused: nothing was created
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "wrong")
    with pytest.raises(AuthenticationFailed, match=r"401.*bot token refused"):
        run(sink, item)
    assert fake_discord.discord.messages == []


def test_a_long_backlog_is_summarised_once_across_a_crash(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    fake_discord.discord.bucket_limit = 100
    path = config(tmp_path, fake_discord.api_url, "backlog_summary_threshold = 3\n")
    sink, items = sink_and_items(path, 6)

    class Hooks:
        def backlog(self, sink: str) -> list[OutboxItem]:
            return items

    sink.bot = Hooks()  # type: ignore[assignment]
    run(sink, items[0])
    (summary,) = fake_discord.discord.messages
    assert summary["content"].startswith("6 queued announcements")
    assert summary["nonce"] == nonce_for(f"{items[0].message_id}#6")
    # killed before the outbox marked any row: the next process finds every row in the journal
    sink, _ = sink_and_items(path)
    sink.bot = Hooks()  # type: ignore[assignment]
    run(sink, *items)
    assert len(fake_discord.discord.messages) == 1


def test_send_test_message_as_a_bot_account(
    tmp_path: Path,
    fake_discord: FakeDiscordServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    path = config(tmp_path, fake_discord.api_url)
    assert main(["-c", str(path), "send-test-message", "discord"]) == 0
    assert main(["-c", str(path), "send-test-message", "discord"]) == 0  # each run its own message
    out = capsys.readouterr().out
    assert out.count("discord: delivered") == 2 and len(fake_discord.discord.messages) == 2
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "wrong")
    assert main(["-c", str(path), "send-test-message", "discord"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "401" in out and "wrong" not in out


def test_a_webhook_post_confirmed_before_a_crash_is_not_repeated(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the journal recorded Discord's answer, before the outbox's mark: the row is
    delivered again by the next process, and the journal keeps it from being a second message."""
    monkeypatch.setenv("DISCORD_WEBHOOK", fake_discord.webhook_url)
    from tests.integration.test_discord import config as webhook_config

    output = load_config(webhook_config(tmp_path)).outputs[0]
    assert isinstance(output, DiscordOutput)
    message = DiscordSink(output).format(events(1)[0], Renderer())
    item = OutboxItem(1, 1, "k", "discord", message.message_id, message.payload, 0, NOW)
    run(DiscordSink(output), item)
    run(DiscordSink(output), item)  # a new process, the same row still queued
    assert len(fake_discord.discord.messages) == 1


def test_a_refusal_keeps_the_start_of_an_earlier_interrupted_post(
    tmp_path: Path, fake_discord: FakeDiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    fake_discord.discord.permissions.discard("send")
    sink, (item,) = sink_and_items(config(tmp_path, fake_discord.api_url))
    sink.journal.begin(item.message_id, now=time.time() - 5)  # that one may have created the message
    with pytest.raises(AuthenticationFailed):
        run(sink, item)
    assert sink.journal.get(item.message_id).started is not None
