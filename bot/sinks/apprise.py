"""Apprise output: one announcement = one notification to every Apprise URL of the output.

A notification that fails on any URL raises DeliveryError: the message stays in the outbox and is
retried with the usual backoff (Apprise itself does not queue). The URLs (secrets) are never logged.
"""

from __future__ import annotations

import logging
import os
import re

from bot.config.apprise import AppriseOutput
from bot.errors import DeliveryError
from bot.model import AnyEvent
from bot.render import Renderer
from bot.sinks.base import Sink, irc_line
from bot.store import OutboxItem

log = logging.getLogger("release-bot.apprise")


def apprise_urls(value: str) -> list[str]:
    """The URLs of the variable: separated by whitespace or commas."""
    return [u for u in re.split(r"[\s,]+", value) if u]


class AppriseSink(Sink):
    kind = "apprise"

    def __init__(self, config: AppriseOutput) -> None:
        super().__init__(config)
        self.output = config

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        text = irc_line(event, renderer)
        return {"title": text.split(" — ", 1)[0][:250], "body": text}

    def urls(self) -> list[str]:
        return apprise_urls(os.environ.get(self.output.urls_env, ""))

    def ready(self) -> bool:
        return bool(self.urls())

    async def open(self) -> None:
        if not self.urls():
            log.warning("apprise %s: environment variable %s not set", self.name, self.output.urls_env)

    async def deliver(self, item: OutboxItem) -> None:
        await self.notify(str(item.payload.get("title", "")), str(item.payload.get("body", "")))

    async def notify(self, title: str, body: str) -> None:
        import apprise

        urls = self.urls()
        if not urls:
            raise DeliveryError(f"environment variable {self.output.urls_env} not set", sink=self.name)
        notifier = apprise.Apprise()
        for index, url in enumerate(urls, 1):
            if not notifier.add(url):
                scheme = url.split("://", 1)[0][:20]
                raise DeliveryError(
                    f"{self.output.urls_env}: URL {index} ({scheme}://…) is not a valid Apprise URL",
                    sink=self.name,
                    permanent=True,
                )
        if not bool(await notifier.async_notify(body=body, title=title)):
            raise DeliveryError("the notification failed (Apprise's log says where)", sink=self.name)


__all__ = ["AppriseSink", "apprise_urls"]
