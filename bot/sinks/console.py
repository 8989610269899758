"""Console sink: one line per announcement on standard output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from bot.model import AnyEvent
from bot.render import Renderer
from bot.sinks.base import Sink, irc_line
from bot.store import OutboxItem

if TYPE_CHECKING:  # the union of every output kind: annotation only
    from bot.config import OutputConfig


class ConsoleSink(Sink):
    kind = "console"

    def __init__(self, config: OutputConfig, *, stream: TextIO | None = None) -> None:
        super().__init__(config)
        self.stream = stream
        self._written: set[str] = set()

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        return {"text": irc_line(event, renderer)}

    async def deliver(self, item: OutboxItem) -> None:
        # Idempotent per message id within the process; the outbox marks it delivered right after.
        if item.message_id in self._written:
            return
        stream = self.stream or sys.stdout
        stream.write(f"{item.payload['text']}\n")
        stream.flush()
        self._written.add(item.message_id)
