"""Discord webhook bodies and rate-limit headers (pure), and the output's config errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

import pytest

from bot.chat.discord_journal import AttemptJournal
from bot.chat.discord_protocol import (
    CONTENT_MAX,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    TITLE_MAX,
    bot_body,
    cut,
    nonce_for,
    rate_limit,
    same_message,
    snowflake_at,
    summary_body,
    webhook_body,
)
from bot.config import parse_config
from bot.config.discord import DiscordOutput
from bot.errors import ConfigError
from bot.sinks.discord import webhook_problem

BASE = """
[[sources]]
name = "flatcar"
kind = "flatcar"

[[outputs]]
name = "discord"
kind = "discord"
webhook_url_env = "DISCORD_WEBHOOK"
"""


def parse(text: str) -> DiscordOutput:
    output = parse_config(tomllib.loads(text), path=Path("/etc/rb/config.toml")).outputs[0]
    assert isinstance(output, DiscordOutput)
    return output


def test_config_defaults_and_errors() -> None:
    output = parse(BASE)
    assert (output.style, output.thread_id, output.backlog_summary_threshold) == ("embed", None, 5)
    assert parse(BASE + "thread_id = 1234567890\n").thread_id == "1234567890"
    with pytest.raises(ConfigError, match=r"config.toml: outputs\[0\].thread_id: expected a Discord id"):
        parse(BASE + 'thread_id = "general"\n')
    with pytest.raises(ConfigError, match=r"outputs\[0\].style: expected one of"):
        parse(BASE + 'style = "fancy"\n')
    with pytest.raises(ConfigError, match="webhook_url_env"):
        parse(BASE.replace('webhook_url_env = "DISCORD_WEBHOOK"\n', ""))


BOT = BASE.replace('webhook_url_env = "DISCORD_WEBHOOK"', 'bot_token_env = "DISCORD_BOT_TOKEN"')


def test_bot_account_mode_config() -> None:
    output = parse(BOT + "channel_id = 123456789012345678\n")
    assert (output.mode, output.channel_id, output.webhook_url_env) == ("bot", "123456789012345678", None)
    assert output.api_url == "https://discord.com/api/v10" and output.nonce_window == 60.0
    assert output.journal == Path("/etc/rb/state/discord-discord.attempts.json")
    assert output.secret_names() == [("bot_token_env", "DISCORD_BOT_TOKEN")]
    assert parse(BASE).mode == "webhook"
    cases = [
        (BOT, r"outputs\[0\].channel_id: required with bot_token_env"),
        (BOT + 'channel_id = "general"\n', r"channel_id: expected a Discord id"),
        (BASE + 'channel_id = "1"\n', r"channel_id: only with bot_token_env"),
        (BASE + 'bot_token_env = "T"\n', r"bot_token_env: give either webhook_url_env or bot_token_env"),
        (BOT + 'channel_id = "1"\nthread_id = "2"\n', r"thread_id: webhook mode only"),
        (BOT + 'channel_id = "1"\nusername = "x"\n', r"username: webhook mode only"),
        (BOT + 'channel_id = "1"\napi_url = "http://discord.com/api"\n', r"api_url: the bot token must not"),
        (BOT + 'channel_id = "1"\nnonce_window = "soon"\n', r"nonce_window"),
        (BOT.replace('"DISCORD_BOT_TOKEN"', '"not a name"'), r"bot_token_env: expected the name"),
    ]
    for text, message in cases:
        with pytest.raises(ConfigError, match=message):
            parse(text)


def test_nonce_is_stable_short_and_distinct() -> None:
    ids = [f"<release.flatcar.stable.4230.2.{i}.discord@release-bot.invalid>" for i in range(200)]
    nonces = [nonce_for(i) for i in ids]
    assert all(1 <= len(n) <= 25 and n.isalnum() for n in nonces)
    assert len(set(nonces)) == 200 and nonces == [nonce_for(i) for i in ids]
    body = bot_body({"content": "x", "username": "hook", "allowed_mentions": {"parse": []}}, nonce="n")
    assert body == {"content": "x", "allowed_mentions": {"parse": []}, "nonce": "n", "enforce_nonce": True}


def test_snowflakes_and_matching_messages() -> None:
    # a documented example: 175928847299117063 was made at 1462015105796 ms (2016-04-30T11:18:25.796Z)
    assert snowflake_at(1462015105.796) == 175928847299117063 >> 22 << 22
    assert snowflake_at(0) == 0
    body = webhook_body(title="T", description="D", link="https://x", style="embed")
    posted = {"id": "1", "content": "", "embeds": [{"title": "T", "description": "D", "url": "https://x"}]}
    assert same_message(body, posted)
    assert not same_message(body, {**posted, "embeds": [{"title": "T", "description": "other"}]})
    assert not same_message(summary_body("a"), {"content": "b"})


def test_attempt_journal(tmp_path: Path) -> None:
    journal = AttemptJournal(tmp_path / "state" / "j.json")
    assert journal.get("a").started is None and journal.get("a").done is None
    assert journal.begin("a", now=100.0) == 100.0
    assert journal.begin("a", now=200.0) == 100.0  # the earliest unresolved start is kept
    assert AttemptJournal(journal.path).get("a").started == 100.0  # on disk before the post
    assert (journal.path.stat().st_mode & 0o777) == 0o600
    journal.done(["a", "b"], "555", now=300.0)
    reread = AttemptJournal(journal.path)
    assert (reread.get("a").started, reread.get("a").done, reread.get("b").done) == (None, "555", "555")
    journal.begin("c", now=300.0)
    journal.clear("c", now=301.0)
    assert AttemptJournal(journal.path).get("c").started is None
    journal.begin("old", now=0.0)
    journal.done([f"m{i}" for i in range(600)], "9", now=40 * 86400.0)
    reread = AttemptJournal(journal.path)
    assert reread.get("old").started is None and reread.get("a").done is None  # pruned
    assert reread.get("m599").done == "9"
    journal.path.write_text("not json")
    assert AttemptJournal(journal.path).get("a") == AttemptJournal(tmp_path / "none").get("a")


def test_webhook_url_must_be_https_except_on_this_machine() -> None:
    assert webhook_problem("https://discord.com/api/webhooks/1/t") is None
    assert webhook_problem("http://127.0.0.1:8080/api/webhooks/1/t") is None
    assert "only to this machine" in str(webhook_problem("http://discord.com/api/webhooks/1/t"))
    assert webhook_problem("discord.com/api/webhooks") == "not an http(s) URL"


def test_embed_within_every_limit_and_never_mentions() -> None:
    body = webhook_body(title="t" * 1000, description="word " * 5000, link="https://x/notes", style="embed")
    (embed,) = cast(list[dict[str, Any]], body["embeds"])
    assert len(embed["title"]) == TITLE_MAX and embed["title"].endswith("…")
    assert len(embed["description"]) <= DESCRIPTION_MAX
    assert len(embed["title"]) + len(embed["description"]) <= EMBED_TOTAL_MAX
    assert embed["url"] == "https://x/notes"
    assert body["allowed_mentions"] == {"parse": []}


def test_content_keeps_the_link_within_2000() -> None:
    body = webhook_body(
        title="@everyone new", description="d " * 3000, link="https://x/notes", style="content"
    )
    content = str(body["content"])
    assert len(content) <= CONTENT_MAX and content.endswith("\n<https://x/notes>")
    assert body["allowed_mentions"] == {"parse": []}
    assert "url" not in str(
        webhook_body(title="t", description="", link="javascript:alert(1)", style="embed")
    )


def test_titles_are_one_sanitised_line() -> None:
    body = webhook_body(title="a\r\nb\x00c\u202e", description="", link="", style="embed")
    assert body["embeds"] == [{"title": "a bc"}]
    assert summary_body("x\n" * 2000)["allowed_mentions"] == {"parse": []}


def test_cut_at_a_word() -> None:
    assert cut("short", 10) == "short"
    assert cut("alpha beta gamma delta", 12) == "alpha beta…"


def test_rate_limit_headers_and_429_bodies() -> None:
    ok = rate_limit(200, {"x-ratelimit-remaining": "3", "x-ratelimit-reset-after": "0.5"}, None)
    assert ok.wait() == 0.0
    exhausted = rate_limit(
        200,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "1.25", "x-ratelimit-bucket": "b"},
        None,
    )
    assert exhausted.wait() == 1.25 and exhausted.bucket == "b"
    limited = rate_limit(429, {"retry-after": "2"}, {"retry_after": 0.4, "global": True})
    assert limited.wait() == 2.0 and limited.is_global  # the longest wait wins
    assert rate_limit(429, {}, None).wait() == 1.0
    assert rate_limit(429, {"x-ratelimit-reset-after": "bogus"}, {"retry_after": -3}).wait() == 1.0
