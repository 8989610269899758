"""The sink interface: what every sink implements and what it may use of the bot.

`format` runs when an event is recorded (the rendered text goes into the outbox in the same
transaction); `deliver` runs later, from the outbox, and raises DeliveryError on failure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

from bot.model import AnyEvent
from bot.presentation.render import irc_line
from bot.routing import passes
from bot.store import OutboxItem, OutboxMessage, ThreadStart

if TYPE_CHECKING:
    from bot.commands import StateView
    from bot.config import OutputConfig  # the union of every output kind: annotation only
    from bot.presentation.render import Renderer


class BotHooks(Protocol):
    """What a sink may use of the running bot."""

    def state_view(self) -> StateView:
        """The known releases, for answering channel commands."""
        ...

    def request_delivery(self) -> None:
        """Ask for a delivery pass soon (e.g. after a reconnect)."""
        ...

    def thread_starts(self, sink: str, *, source: str, major: str) -> list[ThreadStart]:
        """The messages queued for `sink` that opened a thread for (source, major), oldest first (mail
        threading): an indexed lookup, not the sink's history."""
        ...

    def backlog(self, sink: str) -> list[OutboxItem]:
        """The messages queued for `sink` and due now, oldest first (IRC summarises a long backlog)."""
        ...


class Sink(ABC):
    kind: str = ""
    #: Delivering a message twice leaves one copy (mbox: by Message-ID). Its delivery marks may then be
    #: written in batches; any other sink's are written one by one, as each message is delivered.
    idempotent: bool = False
    #: the output sends periodic digests (a mail output with `digest`: `bot.digest` schedules them)
    has_digest: bool = False

    def __init__(self, config: OutputConfig) -> None:
        self.config = config
        self.name = config.name
        #: the output this sink belongs to (an IRC output has one sink per channel); the outbox keeps it
        self.group = config.name

    def wants(self, event: AnyEvent) -> bool:
        return passes(self.config.filter, event)

    def format(self, event: AnyEvent, renderer: Renderer) -> OutboxMessage:
        from bot.presentation.ids import message_id

        return OutboxMessage(
            sink=self.name,
            message_id=message_id(event, self.name),
            payload=self.render(event, renderer),
            group=self.group,
        )

    @abstractmethod
    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        """What goes into the outbox for this event (plain JSON-able data)."""

    def attach(self, bot: BotHooks) -> None:  # noqa: B027 - optional hook
        """Called once by the Bot: a sink that answers people (IRC) or needs to wake delivery up
        (after a reconnect) keeps `bot`."""

    def ready(self) -> bool:
        """False while the sink cannot deliver at all (e.g. IRC not connected): its messages stay
        queued without counting as failed attempts."""
        return True

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare for delivery (connect, open files). The daemon calls it at start."""

    @abstractmethod
    async def deliver(self, item: OutboxItem) -> None:
        """Deliver one message; raise DeliveryError when it could not be delivered."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `open` took."""


__all__ = ["BotHooks", "Sink", "irc_line"]
