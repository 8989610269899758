"""Discord webhooks as data: the message body within Discord's limits, and the rate-limit headers.
No I/O: `bot.sinks.discord` moves the bytes.

Docs: https://discord.com/developers/docs/resources/webhook#execute-webhook (body, `wait`, `thread_id`),
https://discord.com/developers/docs/resources/message#embed-object-embed-limits (limits),
https://discord.com/developers/docs/resources/message#allowed-mentions-object (mentions),
https://discord.com/developers/docs/topics/rate-limits (429, buckets, headers),
https://discord.com/developers/docs/resources/message#create-message (a bot account's post, `nonce`
and `enforce_nonce`), https://discord.com/developers/docs/reference#snowflakes (ids carry their time).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from bot.text import sanitize

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
EMBED_TOTAL_MAX = 6000
#: No mention of anyone is ever parsed: not @everyone, @here, roles or users, whatever the feed says.
NO_MENTIONS: dict[str, object] = {"parse": []}


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when it had to be cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + "…"


def _http_link(link: str) -> str | None:
    return link if link.startswith(("https://", "http://")) and len(link) <= 2000 else None


def webhook_body(
    *, title: str, description: str, link: str, style: str, username: str | None = None
) -> dict[str, object]:
    """The JSON of one announcement: an embed (title ≤ 256, description ≤ 4,096, total ≤ 6,000, the
    notes link as its url) or plain content (≤ 2,000, the link at the end). Mentions never parse."""
    title = cut(sanitize(title), TITLE_MAX)
    url = _http_link(link)
    body: dict[str, object] = {"allowed_mentions": NO_MENTIONS}
    if username:
        body["username"] = cut(sanitize(username), 80)
    if style == "content":
        tail = f"\n<{url}>" if url else ""
        text = title + ("\n" + description if description else "")
        body["content"] = cut(text, CONTENT_MAX - len(tail)) + tail
        return body
    embed: dict[str, object] = {"title": title}
    room = min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - len(title))
    if description:
        embed["description"] = cut(description, room)
    if url:
        embed["url"] = url
    body["embeds"] = [embed]
    return body


NONCE_MAX = 25
#: 2015-01-01T00:00:00Z in ms: the start of the timestamp in Discord's snowflakes
DISCORD_EPOCH_MS = 1_420_070_400_000


def nonce_for(message_id: str) -> str:
    """The nonce of a bot account's post of the outbox message `message_id`: the same every time for
    that message, at most 25 characters (Discord's limit), so a post repeated after a crash is the same
    post to Discord (`enforce_nonce`). 24 base32 characters of SHA-256: 120 bits."""
    digest = hashlib.sha256(message_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:24].lower()


def bot_body(body: Mapping[str, object], *, nonce: str) -> dict[str, object]:
    """A webhook body as a bot account's Create Message body: no `username` (a bot posts under its
    own name), the nonce checked for uniqueness."""
    result = {k: v for k, v in body.items() if k not in ("username", "avatar_url")}
    result["nonce"] = nonce
    result["enforce_nonce"] = True
    return result


def snowflake_at(epoch_seconds: float) -> int:
    """The smallest message id Discord can give at that time (for `GET …/messages?after=`)."""
    return max(0, int(epoch_seconds * 1000) - DISCORD_EPOCH_MS) << 22


def _embed_text(message: Mapping[str, object]) -> list[tuple[str, str]]:
    embeds = message.get("embeds")
    if not isinstance(embeds, list):
        return []
    return [
        (str(e.get("title") or ""), str(e.get("description") or "")) for e in embeds if isinstance(e, Mapping)
    ]


def same_message(body: Mapping[str, object], message: Mapping[str, object]) -> bool:
    """Whether `message` (from the channel) is the post of `body`: the same content and embed text."""
    return str(body.get("content") or "").strip() == str(message.get("content") or "").strip() and (
        _embed_text(body) == _embed_text(message)
    )


def summary_body(text: str) -> dict[str, object]:
    """A backlog summary as plain content."""
    return {"content": cut(sanitize(text), CONTENT_MAX), "allowed_mentions": NO_MENTIONS}


def _float(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number >= 0 else None


@dataclass(frozen=True)
class RateLimit:
    """What a response says about waiting: `retry_after` (seconds) on a 429; else `reset_after` when
    the bucket is exhausted (`X-RateLimit-Remaining: 0`), the wait before the next request."""

    bucket: str | None
    remaining: int | None
    reset_after: float | None
    retry_after: float | None
    is_global: bool = False

    def wait(self) -> float:
        if self.retry_after is not None:
            return self.retry_after
        if self.remaining == 0 and self.reset_after is not None:
            return self.reset_after
        return 0.0


def rate_limit(status: int, headers: Mapping[str, str], body: object) -> RateLimit:
    """Read from the headers (lower-case names) and, on a 429, the JSON body's `retry_after`; the
    largest of the body, `Retry-After` and `X-RateLimit-Reset-After` wins (never retry too early)."""
    remaining_text = headers.get("x-ratelimit-remaining")
    remaining = int(remaining_text) if remaining_text and remaining_text.isdigit() else None
    reset_after = _float(headers.get("x-ratelimit-reset-after", "x"))
    retry: float | None = None
    is_global = headers.get("x-ratelimit-global", "").lower() == "true"
    if status == 429:
        data = body if isinstance(body, Mapping) else {}
        is_global = is_global or bool(data.get("global"))
        waits = [
            w
            for w in (
                _float(data.get("retry_after", "x")),
                _float(headers.get("retry-after", "x")),
                reset_after,
            )
            if w is not None
        ]
        retry = max(waits) if waits else 1.0
    return RateLimit(headers.get("x-ratelimit-bucket"), remaining, reset_after, retry, is_global)
