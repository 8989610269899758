"""Discord output: announcements through a channel webhook or as a bot account.

- webhook mode (`webhook_url_env`): `POST {webhook}?wait=true` (and `thread_id` when configured);
  Discord answers with the message it created, whose `id` confirms delivery. The URL holds the
  webhook's token and is never logged.
- bot-account mode (`bot_token_env` + `channel_id`): `POST {api}/channels/{channel_id}/messages` with
  `Authorization: Bot …`, a `nonce` derived from the outbox message id and `enforce_nonce: true`:
  Discord checks the nonce "for uniqueness in the past few minutes" and answers a repeated post with
  the message it already created, so a post repeated after a crash is not a second message.
- every body has `allowed_mentions: {"parse": []}`: no feed text can ping @everyone, @here, a role or
  a user. Bodies stay within Discord's limits (`bot.chat.discord_protocol`).
- 429: the wait Discord asks for (`retry_after`, `Retry-After`, `X-RateLimit-Reset-After`, whichever is
  longest) is waited out and the message sent again, up to `max_rate_wait`; a longer one leaves it
  queued. An exhausted bucket (`X-RateLimit-Remaining: 0`) is waited out before the next request.
  Messages are never dropped.
- a backlog longer than `backlog_summary_threshold` goes out as summary messages, like on IRC.

What is guaranteed across a crash (kill -9, power loss) or a lost answer — the attempt journal
(`bot.chat.discord_journal`) keeps when each unresolved post started and which message carried it:
- a row whose post Discord confirmed is never posted again, even when the outbox mark was lost;
- bot-account mode, back within `nonce_window` of the interrupted post: the same nonce, so exactly
  once; back later (Discord's nonce memory is "a few minutes"): the bot first looks for its message in
  the channel (its own messages since the attempt started, same text; needs Read Message History) and
  posts only when it is not there: exactly once unless that lookup is refused or fails (then the post
  is repeated, logged as a possible duplicate);
- webhook mode (no idempotency key): a crash between Discord creating the message and the journal
  recording the answer — a few milliseconds per message — posts it again at the next start
  (at least once; the repeat is logged as a possible duplicate).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import httpx

from bot.chat.discord_journal import AttemptJournal
from bot.chat.discord_protocol import (
    RateLimit,
    bot_body,
    nonce_for,
    rate_limit,
    same_message,
    snowflake_at,
    summary_body,
    webhook_body,
)
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
#: clocks differ: the channel lookup starts this long before the recorded start of an attempt
CLOCK_MARGIN = 120.0
LOOKUP_PAGES = 10


class MaybeSent(DeliveryError):
    """No answer to a post (timeout, lost connection, 5xx): Discord may have created the message."""


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
        self.journal = AttemptJournal(config.journal)
        self._http: httpx.AsyncClient | None = None
        self._not_before = 0.0  # monotonic time before which the bucket is exhausted
        self._own_id: str | None = None

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

    def _secret_env(self) -> str:
        return self.output.bot_token_env or self.output.webhook_url_env or ""

    def secret(self) -> str | None:
        """The webhook URL or the bot token, from the environment."""
        return os.environ.get(self._secret_env()) or None

    def ready(self) -> bool:
        return self.secret() is not None

    async def open(self) -> None:
        if self.secret() is None:
            log.warning("discord %s: environment variable %s not set", self.name, self._secret_env())
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.output.timeout, follow_redirects=False)

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def deliver(self, item: OutboxItem) -> None:
        if self.journal.get(item.message_id).done:
            log.info("discord %s: %s went out before (journal); not posted again", self.name, item.event_key)
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
        # a summary's key names how many rows it covers: repeated after a crash with the same count, it
        # covers the same rows (the backlog is oldest first); with another count it is another message
        key = f"{item.message_id}#{len(covered) + 1}" if covered else item.message_id
        await self.send(body, key=key, rows=[item.message_id, *(i.message_id for i in covered)])
        if covered:
            log.info(
                "discord %s: summarised %d queued announcements in one message", self.name, len(covered) + 1
            )

    async def send(self, body: dict[str, object], *, key: str, rows: list[str]) -> str:
        """Post `body` once for the outbox key `key` (journaled); the message id."""
        attempt = self.journal.get(key)
        if attempt.started is not None:
            age = time.time() - attempt.started
            looked, found = False, None
            if self._lookup_needed(age):
                looked, found = await self._find_posted(body, attempt.started)
            if found is not None:
                self.journal.done(rows, found, now=time.time())
                log.info("discord %s: an interrupted post had gone out (message %s)", self.name, found)
                return found
            if self.output.mode == "webhook" or (age > self.output.nonce_window and not looked):
                log.warning(
                    "discord %s: posting again a message whose post %g s ago was interrupted: it may "
                    "appear twice",
                    self.name,
                    round(age),
                )
        self.journal.begin(key, now=time.time())
        try:
            if self.output.mode == "bot":
                message_id = await self.post(bot_body(body, nonce=nonce_for(key)))
            else:
                message_id = await self.post(body)
        except MaybeSent:
            raise  # the start stays in the journal: the next attempt decides with it
        except DeliveryError:
            if attempt.started is None:  # Discord answered: this attempt created no message (an
                self.journal.clear(key, now=time.time())  # earlier interrupted one may have: kept)
            raise
        self.journal.done(rows if key in rows else [*rows, key], message_id, now=time.time())
        return message_id

    def _lookup_needed(self, age: float) -> bool:
        return self.output.mode == "bot" and age > self.output.nonce_window

    async def _find_posted(self, body: dict[str, object], started: float) -> tuple[bool, str | None]:
        """(whether the channel could be read, the id of this account's message with `body`'s text
        posted since `started` or None). Unreadable: missing Read Message History, an error, …"""
        try:
            if self._own_id is None:
                status, me = await self._request("GET", f"{self.output.api_url}/users/@me")
                if status != 200 or not isinstance(me, dict) or not me.get("id"):
                    raise DeliveryError(f"GET /users/@me: HTTP {status}", sink=self.name)
                self._own_id = str(me["id"])
            after = snowflake_at(started - CLOCK_MARGIN)
            for _ in range(LOOKUP_PAGES):
                url = f"{self.output.api_url}/channels/{self.output.channel_id}/messages"
                status, page = await self._request("GET", url, params={"after": str(after), "limit": "100"})
                if status != 200 or not isinstance(page, list):
                    raise DeliveryError(f"GET channel messages: HTTP {status}", sink=self.name)
                for message in page:
                    if not isinstance(message, dict):
                        continue
                    author = message.get("author")
                    mine = isinstance(author, dict) and str(author.get("id")) == self._own_id
                    if mine and same_message(body, message):
                        return True, str(message.get("id"))
                if len(page) < 100:
                    return True, None
                after = max(int(str(m.get("id") or 0)) for m in page if isinstance(m, dict))
        except (DeliveryError, ValueError) as exc:
            log.warning("discord %s: cannot look for an interrupted post in the channel: %s", self.name, exc)
        return False, None

    async def post(self, body: dict[str, object]) -> str:
        """POST one message and return its id; waits out rate limits (within max_rate_wait)."""
        secret = self.secret()
        if secret is None:
            raise DeliveryError(f"environment variable {self._secret_env()} not set", sink=self.name)
        if self.output.mode == "bot":
            url, params = f"{self.output.api_url}/channels/{self.output.channel_id}/messages", {}
        else:
            problem = webhook_problem(secret)
            if problem is not None:
                raise DeliveryError(f"{self._secret_env()}: {problem}", sink=self.name, permanent=True)
            url, params = secret, {"wait": "true"}
            if self.output.thread_id:
                params["thread_id"] = self.output.thread_id
        status, data = await self._request("POST", url, params=params, body=body)
        return self._message_id(status, data)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
    ) -> tuple[int, object]:
        """One API request, rate limits waited out; (status, JSON). No answer at all: MaybeSent."""
        if self._http is None:
            await self.open()
        assert self._http is not None
        headers = {}
        if self.output.mode == "bot":
            headers["Authorization"] = f"Bot {self.secret() or ''}"
        path = httpx.URL(url).path if self.output.mode == "bot" else "webhook"  # the webhook URL is secret
        while True:
            await self._wait(self._not_before - time.monotonic())
            try:
                response = await self._http.request(method, url, params=params, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise MaybeSent(f"{method} {path}: {type(exc).__name__}", sink=self.name) from exc
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
            return response.status_code, data

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
        refused = "bot token refused" if self.output.mode == "bot" else "webhook token refused"
        if status == 401:
            raise AuthenticationFailed(f"HTTP 401 {message} ({refused})", sink=self.name)
        if status == 403:
            hint = (
                "needs Send Messages and Embed Links in the channel" if self.output.mode == "bot" else refused
            )
            raise AuthenticationFailed(f"HTTP 403 {message} ({hint})", sink=self.name)
        if status == 404:
            gone = "unknown channel?" if self.output.mode == "bot" else "webhook deleted?"
            raise DeliveryError(f"HTTP 404 {message} ({gone})", sink=self.name, permanent=True)
        if status == 400:
            raise DeliveryError(f"HTTP 400 {message}", sink=self.name, permanent=True)
        if status >= 500:
            raise MaybeSent(f"HTTP {status} {message}", sink=self.name)
        if status >= 300:
            raise DeliveryError(f"HTTP {status} {message}", sink=self.name)
        message_id = data.get("id") if isinstance(data, dict) else None
        if not message_id:
            raise MaybeSent(f"HTTP {status} without a message id: delivery not confirmed", sink=self.name)
        return str(message_id)


__all__ = ["DiscordSink", "MaybeSent", "webhook_problem"]
