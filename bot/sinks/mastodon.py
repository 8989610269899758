"""Mastodon output: each announcement a status (`POST /api/v1/statuses`).

- the status fits the instance's limit, read once per run from `/api/v2/instance` (URLs count as
  `characters_reserved_per_url`), with the notes link at the end; feed text cannot mention anyone.
- the outbox message id is the `Idempotency-Key`: a post retried after a crash or a lost answer is the
  same status to the instance (Mastodon keeps the key for an hour), not a second one.
- 429 waits until `X-RateLimit-Reset` (up to `max_rate_wait`, else the message stays queued); 401/403
  stop the output (a refused token); 422 (refused status) is permanent; 5xx and no answer are retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime

import httpx

from bot.chat.mastodon_protocol import StatusLimits, defuse_mentions, fit_status, instance_limits
from bot.config.mastodon import MastodonOutput
from bot.errors import AuthenticationFailed, DeliveryError
from bot.model import AnyEvent
from bot.presentation.contexts import event_context
from bot.render import Renderer
from bot.sinks.base import Sink
from bot.store import OutboxItem
from bot.text import sanitize_multiline

log = logging.getLogger("release-bot.mastodon")


def reset_wait(value: str | None, now: datetime) -> float:
    """Seconds until `X-RateLimit-Reset` (an ISO 8601 time); 1 s when absent or unreadable."""
    try:
        reset = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return 1.0
    if reset.tzinfo is None:
        reset = reset.replace(tzinfo=UTC)
    return max((reset - now).total_seconds(), 0.0)


class MastodonSink(Sink):
    kind = "mastodon"

    def __init__(self, config: MastodonOutput) -> None:
        super().__init__(config)
        self.output = config
        self._http: httpx.AsyncClient | None = None
        self.limits: StatusLimits | None = None

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        context = event_context(event)
        text = sanitize_multiline(renderer.render(f"mastodon/{event.kind}.j2", **context))
        link = str(context.get("link") or "")
        return {"text": text, "link": link if link.startswith(("https://", "http://")) else ""}

    def token(self) -> str | None:
        return os.environ.get(self.output.access_token_env) or None

    def ready(self) -> bool:
        return self.token() is not None

    async def open(self) -> None:
        token = self.token()
        if token is None:
            log.warning(
                "mastodon %s: environment variable %s not set", self.name, self.output.access_token_env
            )
            return
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.output.instance,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.output.timeout,
                follow_redirects=False,
            )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def instance_limits(self) -> StatusLimits:
        if self.limits is None:
            assert self._http is not None
            try:
                response = await self._http.get("/api/v2/instance")
                response.raise_for_status()
                self.limits = instance_limits(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                raise DeliveryError(
                    f"GET /api/v2/instance: {type(exc).__name__}: {exc}", sink=self.name
                ) from exc
            log.info("mastodon %s: statuses up to %d characters", self.name, self.limits.max_characters)
        return self.limits

    async def deliver(self, item: OutboxItem) -> None:
        await self.post(
            str(item.payload.get("text", "")),
            str(item.payload.get("link", "")),
            idempotency_key=item.message_id,
        )

    async def post(self, text: str, link: str, *, idempotency_key: str) -> str:
        """Post one status; its id."""
        if self._http is None:
            await self.open()
        if self._http is None:
            raise DeliveryError(
                f"environment variable {self.output.access_token_env} not set", sink=self.name
            )
        limits = await self.instance_limits()
        form = {
            "status": fit_status(defuse_mentions(text), link, limits),
            "visibility": self.output.visibility,
        }
        if self.output.language:
            form["language"] = self.output.language
        headers = {"Idempotency-Key": idempotency_key[:250]}
        while True:
            try:
                response = await self._http.post("/api/v1/statuses", data=form, headers=headers)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"POST /api/v1/statuses: {type(exc).__name__}", sink=self.name) from exc
            if response.status_code != 429:
                break
            wait = reset_wait(response.headers.get("x-ratelimit-reset"), datetime.now(UTC))
            if wait > self.output.max_rate_wait:
                raise DeliveryError(f"rate limited for {wait:.0f} s; the status stays queued", sink=self.name)
            log.info("mastodon %s: rate limited; waiting %.1f s", self.name, wait)
            await asyncio.sleep(wait)
        return self._status_id(response)

    def _status_id(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            data = None
        error = str(data.get("error") or "")[:200] if isinstance(data, dict) else ""
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"HTTP {status} {error} (access token refused)", sink=self.name)
        if status in (400, 404, 413, 422):
            raise DeliveryError(f"HTTP {status} {error}", sink=self.name, permanent=True)
        if status >= 300:
            raise DeliveryError(f"HTTP {status} {error}", sink=self.name)
        status_id = data.get("id") if isinstance(data, dict) else None
        if not status_id:
            raise DeliveryError(f"HTTP {status} without a status id: not confirmed", sink=self.name)
        return str(status_id)


__all__ = ["MastodonSink", "reset_wait"]
