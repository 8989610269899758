"""`[[outputs]] kind = "discord"`: one channel webhook (its URL holds a secret: from `webhook_url_env`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.config.filters import Filter
from bot.config.table import Table

DiscordStyle = Literal["embed", "content"]
_STYLES: tuple[DiscordStyle, ...] = ("embed", "content")
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True, kw_only=True)
class DiscordOutput:
    name: str
    filter: Filter
    kind: Literal["discord"] = "discord"
    webhook_url_env: str
    #: post into this thread of the webhook's channel (a forum post, a thread)
    thread_id: str | None = None
    style: DiscordStyle = "embed"
    username: str | None = None
    backlog_summary_threshold: int = 5
    timeout: float = 30.0
    #: the longest rate-limit wait inside one delivery; longer ones leave the message queued
    max_rate_wait: float = 60.0

    def secret_names(self) -> list[tuple[str, str]]:
        return [("webhook_url_env", self.webhook_url_env)]


def parse_discord(table: Table, *, name: str, filter: Filter) -> DiscordOutput:
    env = table.env_name("webhook_url_env")
    if env is None:
        raise table.error("webhook_url_env", "required: the environment variable holding the webhook URL")
    thread_id = table.optional_text_or_int("thread_id", what="a thread id (digits)")
    if thread_id is not None and not _SNOWFLAKE.match(thread_id):
        raise table.error("thread_id", f"expected a Discord id (digits), got {thread_id!r}")
    username = table.optional_string("username")
    if username is not None and not 1 <= len(username) <= 80:
        raise table.error("username", "expected 1 to 80 characters")
    return DiscordOutput(
        name=name,
        filter=filter,
        webhook_url_env=env,
        thread_id=thread_id,
        style=table.choice("style", _STYLES, "embed"),
        username=username,
        backlog_summary_threshold=table.integer("backlog_summary_threshold", 5, minimum=1),
        timeout=table.duration("timeout", 30.0, minimum=1.0),
        max_rate_wait=table.duration("max_rate_wait", 60.0, minimum=0.0),
    )
