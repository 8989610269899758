"""Discord output: announcements through a channel webhook.

- `POST {webhook}?wait=true` (and `thread_id` when configured): Discord answers with the message it
  created; its `id` is what confirms delivery. The webhook URL comes from `webhook_url_env` (it holds
  the webhook's token) and is never logged.
- every body has `allowed_mentions: {"parse": []}`: no feed text can ping @everyone, @here, a role or
  a user. Bodies stay within Discord's limits (`bot.chat.discord_protocol`).
- 429: the wait Discord asks for (`retry_after`, `Retry-After`, `X-RateLimit-Reset-After`, whichever is
  longest) is waited out and the message sent again, up to `max_rate_wait`; a longer one leaves it
  queued. An exhausted bucket (`X-RateLimit-Remaining: 0`) is waited out before the next request.
  Messages are never dropped.
- a backlog longer than `backlog_summary_threshold` goes out as summary messages, like on IRC.
- Webhooks have no idempotency key: a crash between Discord's answer and the outbox update posts that
  one message again at the next start (the outbox's at-least-once window).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import httpx

from bot.chat.discord_protocol import RateLimit, rate_limit, summary_body, webhook_body
from bot.config.discord import DiscordOutput
from bot.config.table import is_loopback
from bot.errors import AuthenticationFailed, DeliveryError
from bot.irc.flood import summarise
from bot.model import AnyEvent
from bot.presentation.contexts import event_context
from bot.render import Renderer
from bot.sinks.base import BotHooks, Sink, irc_line
from bot.store import OutboxItem
from bot.text import sanitize_multiline, truncate_utf8

log = logging.getLogger("release-bot.discord")


def webhook_problem(url: str) -> str | None:
    """Why `url` is not usable as a webhook URL (None when it is): https, or http to this machine."""
    parts = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parts is None or not parts.host:
        return "not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.host):
        return "http:// only to this machine (the URL holds the webhook's token)"
    return None


class DiscordSink(Sink):
    kind = "discord"

    def __init__(self, config: DiscordOutput) -> None:
        super().__init__(config)
        self.output = config
        self.bot: BotHooks | None = None
        self._http: httpx.AsyncClient | None = None
        self._not_before = 0.0  # monotonic time before which the bucket is exhausted
        self._summarised: set[str] = set()

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        context = event_context(event)
        title = renderer.render(f"discord/{event.kind}.title.j2", **context)
        description = sanitize_multiline(renderer.render(f"discord/{event.kind}.j2", **context))
        link = str(context.get("link") or "")
        return {
            "body": webhook_body(
                title=title,
                description=description,
                link=link,
                style=self.output.style,
                username=self.output.username,
            ),
            "summary": truncate_utf8(irc_line(event, renderer).split(" — ", 1)[0].strip(), 120),
        }

    def attach(self, bot: BotHooks) -> None:
        self.bot = bot

    def url(self) -> str | None:
        return os.environ.get(self.output.webhook_url_env) or None

    def ready(self) -> bool:
        return self.url() is not None

    async def open(self) -> None:
        if self.url() is None:
            log.warning("discord %s: environment variable %s not set", self.name, self.output.webhook_url_env)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.output.timeout, follow_redirects=False)

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def deliver(self, item: OutboxItem) -> None:
        if item.message_id in self._summarised:
            self._summarised.discard(item.message_id)  # it went out in a summary message
            return
        body = item.payload.get("body")
        if not isinstance(body, dict):
            raise DeliveryError("malformed outbox payload", sink=self.name, permanent=True)
        covered: list[OutboxItem] = []
        backlog = self.bot.backlog(self.name) if self.bot is not None else []
        if len(backlog) > self.output.backlog_summary_threshold and backlog[0].id == item.id:
            entries = [str(i.payload.get("summary") or "") for i in backlog]
            text, count = summarise(entries, budget=1900, total=len(backlog))
            if count >= 2:
                body, covered = summary_body(text), backlog[1:count]
        await self.post(body)
        if covered:
            log.info(
                "discord %s: summarised %d queued announcements in one message", self.name, len(covered) + 1
            )
            self._summarised.update(i.message_id for i in covered)

    async def post(self, body: dict[str, object]) -> str:
        """POST one message and return its id; waits out rate limits (within max_rate_wait)."""
        url = self.url()
        if url is None:
            raise DeliveryError(f"environment variable {self.output.webhook_url_env} not set", sink=self.name)
        problem = webhook_problem(url)
        if problem is not None:
            raise DeliveryError(f"{self.output.webhook_url_env}: {problem}", sink=self.name, permanent=True)
        if self._http is None:
            await self.open()
        assert self._http is not None
        params = {"wait": "true"}
        if self.output.thread_id:
            params["thread_id"] = self.output.thread_id
        while True:
            await self._wait(self._not_before - time.monotonic())
            try:
                response = await self._http.post(url, params=params, json=body)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"POST webhook: {type(exc).__name__}", sink=self.name) from exc
            try:
                data = response.json()
            except ValueError:
                data = None
            limit = rate_limit(
                response.status_code, {k.lower(): v for k, v in response.headers.items()}, data
            )
            self._remember(limit)
            if response.status_code == 429:
                log.info(
                    "discord %s: rate limited%s; waiting %g s",
                    self.name,
                    " (global)" if limit.is_global else "",
                    limit.wait(),
                )
                await self._wait(limit.wait())
                continue
            return self._message_id(response.status_code, data)

    def _remember(self, limit: RateLimit) -> None:
        wait = limit.wait()
        if wait > 0:
            self._not_before = max(self._not_before, time.monotonic() + wait)

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if seconds > self.output.max_rate_wait:
            raise DeliveryError(f"rate limited for {seconds:g} s; the message stays queued", sink=self.name)
        await asyncio.sleep(seconds)

    def _message_id(self, status: int, data: object) -> str:
        message = str(data.get("message") or "")[:200] if isinstance(data, dict) else ""
        if status in (401, 403):
            raise AuthenticationFailed(f"HTTP {status} {message} (webhook token refused)", sink=self.name)
        if status == 404:
            raise DeliveryError(f"HTTP 404 {message} (webhook deleted?)", sink=self.name, permanent=True)
        if status == 400:
            raise DeliveryError(f"HTTP 400 {message}", sink=self.name, permanent=True)
        if status >= 300:
            raise DeliveryError(f"HTTP {status} {message}", sink=self.name)
        message_id = data.get("id") if isinstance(data, dict) else None
        if not message_id:
            raise DeliveryError(f"HTTP {status} without a message id: delivery not confirmed", sink=self.name)
        return str(message_id)


__all__ = ["DiscordSink", "webhook_problem"]
