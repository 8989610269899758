"""`[[outputs]] kind = "discord"`: one channel, reached either through a channel webhook
(`webhook_url_env`: the URL holds a secret) or as a bot account (`bot_token_env` + `channel_id`), whose
messages carry a nonce Discord deduplicates (exactly once across a crash; see bot.sinks.discord)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bot.config.filters import Filter
from bot.config.table import Table, is_loopback
from bot.paths import data_base

DiscordStyle = Literal["embed", "content"]
DiscordMode = Literal["webhook", "bot"]
_STYLES: tuple[DiscordStyle, ...] = ("embed", "content")
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")
DISCORD_API = "https://discord.com/api/v10"


@dataclass(frozen=True, kw_only=True)
class DiscordOutput:
    name: str
    filter: Filter
    kind: Literal["discord"] = "discord"
    #: webhook mode: the variable holding the channel webhook's URL
    webhook_url_env: str | None = None
    #: bot-account mode: the variable holding the bot token, and the channel (or thread) to post in
    bot_token_env: str | None = None
    channel_id: str | None = None
    #: the REST API root (bot-account mode; a local stand-in in tests)
    api_url: str = DISCORD_API
    #: webhook mode: post into this thread of the webhook's channel (a forum post, a thread)
    thread_id: str | None = None
    style: DiscordStyle = "embed"
    username: str | None = None
    backlog_summary_threshold: int = 5
    timeout: float = 30.0
    #: the longest rate-limit wait inside one delivery; longer ones leave the message queued
    max_rate_wait: float = 60.0
    #: how long after an interrupted attempt the bot relies on Discord's nonce check ("the past few
    #: minutes"); later, it looks for the message in the channel before posting it again
    nonce_window: float = 60.0
    #: which messages were being posted (and since when) and which went out: the attempt journal
    journal: Path = Path("discord.attempts.json")

    @property
    def mode(self) -> DiscordMode:
        return "bot" if self.bot_token_env else "webhook"

    def secret_names(self) -> list[tuple[str, str]]:
        if self.bot_token_env:
            return [("bot_token_env", self.bot_token_env)]
        return [("webhook_url_env", self.webhook_url_env or "")]


def parse_discord(table: Table, *, name: str, filter: Filter, base: Path | None = None) -> DiscordOutput:
    webhook_env = table.env_name("webhook_url_env")
    token_env = table.env_name("bot_token_env")
    if webhook_env is None and token_env is None:
        raise table.error(
            "webhook_url_env",
            "required: the environment variable holding the webhook URL "
            "(or bot_token_env and channel_id for a bot account)",
        )
    if webhook_env is not None and token_env is not None:
        raise table.error("bot_token_env", "give either webhook_url_env or bot_token_env, not both")
    channel_id = table.optional_text_or_int("channel_id", what="a channel id (digits)")
    if channel_id is not None and not _SNOWFLAKE.match(channel_id):
        raise table.error("channel_id", f"expected a Discord id (digits), got {channel_id!r}")
    if token_env is not None and channel_id is None:
        raise table.error("channel_id", "required with bot_token_env: the id of the channel to post in")
    if token_env is None and channel_id is not None:
        raise table.error("channel_id", "only with bot_token_env (a webhook posts into its own channel)")
    thread_id = table.optional_text_or_int("thread_id", what="a thread id (digits)")
    if thread_id is not None and not _SNOWFLAKE.match(thread_id):
        raise table.error("thread_id", f"expected a Discord id (digits), got {thread_id!r}")
    if thread_id is not None and token_env is not None:
        raise table.error("thread_id", "webhook mode only: a bot account posts into a thread by channel_id")
    username = table.optional_string("username")
    if username is not None and not 1 <= len(username) <= 80:
        raise table.error("username", "expected 1 to 80 characters")
    if username is not None and token_env is not None:
        raise table.error("username", "webhook mode only: a bot account posts under its own name")
    api_url = table.url("api_url", DISCORD_API).rstrip("/")
    if api_url.startswith("http://") and not is_loopback(urlsplit(api_url).hostname or ""):
        raise table.error(
            "api_url", "the bot token must not travel in clear text: https:// (http:// only to this machine)"
        )
    return DiscordOutput(
        name=name,
        filter=filter,
        webhook_url_env=webhook_env,
        bot_token_env=token_env,
        channel_id=channel_id,
        api_url=api_url,
        thread_id=thread_id,
        style=table.choice("style", _STYLES, "embed"),
        username=username,
        backlog_summary_threshold=table.integer("backlog_summary_threshold", 5, minimum=1),
        timeout=table.duration("timeout", 30.0, minimum=1.0),
        max_rate_wait=table.duration("max_rate_wait", 60.0, minimum=0.0),
        nonce_window=table.duration("nonce_window", 60.0, minimum=0.0),
        journal=table.path("journal", data_base(base or Path(".")), f"state/discord-{name}.attempts.json"),
    )
