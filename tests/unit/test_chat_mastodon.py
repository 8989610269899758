"""Mastodon statuses (pure): the instance's limits, URL-aware lengths, fitting, mentions; config."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat.mastodon_protocol import (
    StatusLimits,
    defuse_mentions,
    fit_status,
    instance_limits,
    status_length,
)
from bot.config import parse_config
from bot.config.mastodon import MastodonOutput
from bot.errors import ConfigError
from bot.sinks.mastodon import reset_wait

BASE = """
[[sources]]
name = "flatcar"
kind = "flatcar"

[[outputs]]
name = "toot"
kind = "mastodon"
instance = "https://hachyderm.io"
access_token_env = "MASTODON_TOKEN"
"""


def parse(text: str) -> MastodonOutput:
    output = parse_config(tomllib.loads(text), path=Path("/etc/rb/config.toml")).outputs[0]
    assert isinstance(output, MastodonOutput)
    return output


def test_config() -> None:
    output = parse(BASE)
    assert (output.visibility, output.language) == ("public", "en")
    with pytest.raises(ConfigError, match=r"outputs\[0\].visibility: expected one of"):
        parse(BASE + 'visibility = "everyone"\n')
    with pytest.raises(ConfigError, match=r"outputs\[0\].language: expected an ISO 639"):
        parse(BASE + 'language = "English"\n')
    with pytest.raises(ConfigError, match=r"outputs\[0\].instance: the access token must not travel"):
        parse(BASE.replace("https://hachyderm.io", "http://hachyderm.io"))


def test_instance_limits_with_defaults() -> None:
    data = {"configuration": {"statuses": {"max_characters": 5000, "characters_reserved_per_url": 23}}}
    assert instance_limits(data) == StatusLimits(5000, 23)
    assert instance_limits({}) == StatusLimits(500, 23)
    assert instance_limits({"configuration": {"statuses": {"max_characters": True}}}) == StatusLimits()


def test_urls_count_as_reserved_characters() -> None:
    limits = StatusLimits(100, 23)
    assert status_length("see https://example.org/" + "x" * 200, limits) == 4 + 23


def test_fit_keeps_the_link_and_cuts_at_a_word() -> None:
    limits = StatusLimits(60, 23)
    text = fit_status(
        "Flatcar stable 4230.2.0 released with many many packages updated", "https://x.org/n", limits
    )
    assert status_length(text, limits) <= 60
    assert text.endswith("…\n\nhttps://x.org/n")
    assert fit_status("short", "", limits) == "short"


def test_mentions_defused_but_addresses_and_urls_kept() -> None:
    assert defuse_mentions("@admin and @x@y.org") == "@\u200badmin and @\u200bx@y.org"
    assert defuse_mentions("mail a@b.org, https://h.org/@user") == "mail a@b.org, https://h.org/@user"


def test_reset_wait() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert reset_wait("2025-01-01T12:00:05.000Z", now) == 5.0
    assert reset_wait("2025-01-01T11:00:00Z", now) == 0.0
    assert reset_wait(None, now) == 1.0
