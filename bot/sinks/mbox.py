"""Mbox sink: each announcement appended as an RFC 5322 mail to an mbox file.

Idempotent per Message-ID: a message whose Message-ID is already in the file (delivered before a
crash could mark it) is not written twice.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from bot.config import MboxOutput
from bot.errors import DeliveryError
from bot.messages import event_context
from bot.model import AnyEvent
from bot.render import Renderer
from bot.sinks.base import Sink
from bot.store import OutboxItem
from bot.text import sanitize


class MboxSink(Sink):
    kind = "mbox"

    def __init__(self, config: MboxOutput) -> None:
        super().__init__(config)
        self.mbox = config
        self.path = config.path
        self._ids: set[str] | None = None

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        context = event_context(event)
        return {
            "subject": sanitize(renderer.render(f"mail/{event.kind}.subject.j2", **context)),
            "body": renderer.render(f"mail/{event.kind}.txt.j2", **context),
            "date": format_datetime(event.published) if event.published else None,
        }

    def _existing_ids(self) -> set[str]:
        if self._ids is None:
            ids: set[str] = set()
            if self.path.exists():
                box = mailbox.mbox(self.path, create=False)
                try:
                    for message in box:
                        if message["Message-ID"]:
                            ids.add(message["Message-ID"].strip())
                finally:
                    box.close()
            self._ids = ids
        return self._ids

    def _write(self, item: OutboxItem) -> None:
        if item.message_id in self._existing_ids():
            return
        message = EmailMessage()
        message["From"] = self.mbox.sender
        message["To"] = self.mbox.to
        message["Subject"] = str(item.payload["subject"])
        message["Date"] = str(item.payload.get("date") or format_datetime(item.created_at))
        message["Message-ID"] = item.message_id or make_msgid()
        message.set_content(str(item.payload["body"]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.mbox(self.path, create=True)
        box.lock()
        try:
            box.add(message)
            box.flush()
        finally:
            box.unlock()
            box.close()
        with open(self.path, "rb") as fh:
            os.fsync(fh.fileno())
        self._existing_ids().add(item.message_id)

    async def deliver(self, item: OutboxItem) -> None:
        try:
            await asyncio.to_thread(self._write, item)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc}", sink=self.name) from exc
