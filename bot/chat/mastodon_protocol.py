"""Mastodon statuses as data: the instance's limits and a status that fits them. No I/O.

Docs: https://docs.joinmastodon.org/methods/instance/#v2 (`configuration.statuses.max_characters`,
`characters_reserved_per_url`), https://docs.joinmastodon.org/methods/statuses/#create (form fields,
`Idempotency-Key`), https://docs.joinmastodon.org/api/rate-limits/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: What Mastodon's own defaults are, used when the instance does not say.
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class StatusLimits:
    max_characters: int = DEFAULT_MAX_CHARACTERS
    url_characters: int = DEFAULT_URL_CHARACTERS


def instance_limits(data: object) -> StatusLimits:
    """The limits from a `/api/v2/instance` answer (defaults for what it does not say)."""
    config = data.get("configuration") if isinstance(data, Mapping) else None
    statuses = config.get("statuses") if isinstance(config, Mapping) else None
    if not isinstance(statuses, Mapping):
        return StatusLimits()
    chars, per_url = statuses.get("max_characters"), statuses.get("characters_reserved_per_url")
    return StatusLimits(
        chars
        if isinstance(chars, int) and not isinstance(chars, bool) and chars >= 50
        else DEFAULT_MAX_CHARACTERS,
        per_url
        if isinstance(per_url, int) and not isinstance(per_url, bool) and per_url > 0
        else DEFAULT_URL_CHARACTERS,
    )


def status_length(text: str, limits: StatusLimits) -> int:
    """The length Mastodon counts: every URL as `url_characters`, everything else per character."""
    urls = _URL.findall(text)
    return len(_URL.sub("", text)) + len(urls) * limits.url_characters


def fit_status(text: str, link: str, limits: StatusLimits) -> str:
    """`text` (without the link) cut at a word so that text + the link fit the instance's limit."""
    tail = f"\n\n{link}" if link else ""
    budget = limits.max_characters - status_length(tail, limits)
    body = text.strip()
    if status_length(body, limits) > budget:
        words = body.split(" ")
        while words and status_length(" ".join(words) + "…", limits) > budget:
            words.pop()
        body = (" ".join(words) + "…") if words else body[: max(budget - 1, 0)] + "…"
    return body + tail


_MENTION = re.compile(r"(?<![\w/])@(?=\w)")


def defuse_mentions(text: str) -> str:
    """Feed text cannot mention (notify) anyone: a zero-width space after each `@` that would start one."""
    return _MENTION.sub("@\u200b", text)
