"""`[[outputs]] kind = "mastodon"`: statuses on one account of one instance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from bot.config.filters import Filter
from bot.config.table import Table, is_loopback

Visibility = Literal["public", "unlisted", "private", "direct"]
_VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted", "private", "direct")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True, kw_only=True)
class MastodonOutput:
    name: str
    filter: Filter
    kind: Literal["mastodon"] = "mastodon"
    instance: str
    access_token_env: str
    visibility: Visibility = "public"
    language: str | None = "en"
    timeout: float = 30.0
    max_rate_wait: float = 60.0

    def secret_names(self) -> list[tuple[str, str]]:
        return [("access_token_env", self.access_token_env)]


def parse_mastodon(table: Table, *, name: str, filter: Filter) -> MastodonOutput:
    instance = table.url("instance").rstrip("/")
    if instance.startswith("http://") and not is_loopback(urlsplit(instance).hostname or ""):
        raise table.error("instance", "the access token must not travel in clear text: use https://")
    env = table.env_name("access_token_env")
    if env is None:
        raise table.error("access_token_env", "required: the environment variable holding the access token")
    language = table.string("language", "en")
    if language and not _LANGUAGE.match(language):
        raise table.error("language", f'expected an ISO 639 language code like "en", got {language!r}')
    return MastodonOutput(
        name=name,
        filter=filter,
        instance=instance,
        access_token_env=env,
        visibility=table.choice("visibility", _VISIBILITIES, "public"),
        language=language or None,
        timeout=table.duration("timeout", 30.0, minimum=1.0),
        max_rate_wait=table.duration("max_rate_wait", 60.0, minimum=0.0),
    )
