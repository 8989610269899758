"""`[[outputs]] kind = "apprise"`: the long tail (Slack, Teams, Telegram, ntfy, Gotify, …) through
Apprise. The Apprise URLs hold secrets: they come from the environment variable named by `urls_env`
(several separated by spaces, commas or newlines)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.config.filters import Filter
from bot.config.table import Table


@dataclass(frozen=True, kw_only=True)
class AppriseOutput:
    name: str
    filter: Filter
    kind: Literal["apprise"] = "apprise"
    urls_env: str

    def secret_names(self) -> list[tuple[str, str]]:
        return [("urls_env", self.urls_env)]


def parse_apprise(table: Table, *, name: str, filter: Filter) -> AppriseOutput:
    env = table.env_name("urls_env")
    if env is None:
        raise table.error("urls_env", "required: the environment variable holding the Apprise URL(s)")
    return AppriseOutput(name=name, filter=filter, urls_env=env)
