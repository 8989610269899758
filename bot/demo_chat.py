"""The demo's look at the chat outputs: one announcement as Matrix, Discord, Mastodon and Apprise
would post it, rendered through the real sinks and templates (nothing is sent anywhere)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.chat.mastodon_protocol import StatusLimits, defuse_mentions, fit_status
from bot.config import parse_config
from bot.model import AnyEvent
from bot.render import Renderer
from bot.sinks import build_sinks

#: The chat outputs of config.example.toml's chat examples, as far as rendering goes.
CHAT_OUTPUTS = """\
[[sources]]
name = "flatcar"
kind = "flatcar"

[[outputs]]
name = "matrix"
kind = "matrix"
homeserver = "https://matrix.example.org"
user_id = "@release-bot:example.org"
access_token_env = "MATRIX_TOKEN"
[[outputs.rooms]]
room = "#flatcar:example.org"

[[outputs]]
name = "discord"
kind = "discord"
bot_token_env = "DISCORD_BOT_TOKEN"
channel_id = "123456789012345678"

[[outputs]]
name = "mastodon"
kind = "mastodon"
instance = "https://hachyderm.io"
access_token_env = "MASTODON_TOKEN"

[[outputs]]
name = "apprise"
kind = "apprise"
urls_env = "APPRISE_URLS"
"""

HEADINGS = {
    "matrix": "Matrix (an m.notice: this plain body, and an HTML one for clients that show it)",
    "discord": "Discord (an embed: title linking to the notes, description; it pings no one)",
    "mastodon": "Mastodon (a status, cut to the instance's limit: 500 characters here)",
    "apprise": "Apprise (Slack, Teams, Telegram, ntfy, Gotify …: a title and a body)",
}
README_SECTIONS = "README.md: Matrix, Discord, Mastodon, Apprise"


def _lines(kind: str, payload: dict[str, object]) -> list[str]:
    if kind == "matrix":
        return str(payload.get("body") or "").splitlines()
    if kind == "discord":
        body = payload.get("body")
        embeds = body.get("embeds") if isinstance(body, dict) else None
        if isinstance(embeds, list) and embeds and isinstance(embeds[0], dict):
            embed = embeds[0]
            lines = [f"**{embed.get('title', '')}**  → {embed.get('url', '')}"]
            return lines + str(embed.get("description") or "").splitlines()
        return str(body.get("content") if isinstance(body, dict) else "").splitlines()
    if kind == "mastodon":
        text = defuse_mentions(str(payload.get("text") or ""))
        return fit_status(text, str(payload.get("link") or ""), StatusLimits()).splitlines()
    return [f"title: {payload.get('title', '')}", f"body:  {payload.get('body', '')}"]


def chat_previews(event: AnyEvent, renderer: Renderer) -> list[str]:
    """Lines showing `event` on each chat platform (indented for the demo)."""
    config = parse_config(tomllib.loads(CHAT_OUTPUTS), path=Path("chat-preview.toml"))
    out: list[str] = []
    for sink in build_sinks(config.outputs):
        out.append(f"   {HEADINGS[sink.kind]}:")
        out.extend(f"     | {line}" for line in _lines(sink.kind, sink.render(event, renderer)))
        out.append("")
    out.append(
        f"   Set one up: {README_SECTIONS} (each with the steps to get its token or webhook);\n"
        "   `release-bot send-test-message NAME` then posts a sample through it."
    )
    return out


__all__ = ["chat_previews"]
