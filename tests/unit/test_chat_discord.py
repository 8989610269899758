"""Discord webhook bodies and rate-limit headers (pure), and the output's config errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

import pytest

from bot.chat.discord_protocol import (
    CONTENT_MAX,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    TITLE_MAX,
    cut,
    rate_limit,
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
