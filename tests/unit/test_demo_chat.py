"""The demo's chat previews: one announcement as each chat output renders it (the real sinks and
templates), and the Discord description keeps its lines."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from bot.config import parse_config
from bot.demo_chat import chat_previews
from bot.messages import sample_events
from bot.model import Event
from bot.render import Renderer
from bot.sinks.discord import DiscordSink


def test_each_chat_platform_is_shown_through_its_templates() -> None:
    event = sample_events()[0]
    assert isinstance(event, Event)
    text = "\n".join(chat_previews(event, Renderer()))
    for heading in ("Matrix (", "Discord (", "Mastodon (", "Apprise ("):
        assert f"\n   {heading}" in "\n" + text
    version = event.release.version
    blocks = text.split("\n\n")
    assert all(version in block for block in blocks[:4])  # the same announcement on every platform
    assert f"     | **[Flatcar] stable {version} released**  → https://" in text
    assert "send-test-message" in text and "README.md: Matrix, Discord, Mastodon, Apprise" in text


def test_the_discord_description_keeps_its_lines() -> None:
    event = sample_events()[0]
    assert isinstance(event, Event)
    config = parse_config(
        tomllib.loads(
            '[[sources]]\nname = "flatcar"\nkind = "flatcar"\n'
            '[[outputs]]\nname = "d"\nkind = "discord"\nwebhook_url_env = "W"\n'
        ),
        path=Path("/etc/rb/config.toml"),
    )
    sink = DiscordSink(config.outputs[0])  # type: ignore[arg-type]
    for item in (event, replace(event, kind="promotion")):
        body = sink.render(item, Renderer())["body"]
        description = body["embeds"][0]["description"]  # type: ignore[index]
        lines = description.splitlines()
        assert lines[0].startswith("released 2025-") and lines[1].startswith("kernel "), description
        assert any(line.startswith("since ") for line in lines)
