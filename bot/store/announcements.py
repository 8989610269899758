"""What the bot announced, newest first, with when it decided to (the events table's `created_at`,
written once with the event and never changed): the web server's Atom feed and status page read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.model import AnyEvent
from bot.store.base import StoreCore
from bot.store.codec import event_from_dict
from bot.store.notes import with_notes

__all__ = ["Announcement", "AnnouncementStore"]


@dataclass(frozen=True)
class Announcement:
    """An event recorded for announcement, with its id and when it was recorded."""

    id: int  # the event id: increasing in the order the bot recorded them
    key: str  # the event key (stable: built from meaning)
    announced_at: datetime  # when the bot recorded it for announcement; never changes
    event: AnyEvent


class AnnouncementStore(StoreCore):
    def announcements(self, *, limit: int = 50, before_id: int | None = None) -> list[Announcement]:
        """Recorded events (not digests), newest first, up to `limit`; `before_id` pages further back."""
        sql = "SELECT id, key, created_at, payload FROM events WHERE kind != 'digest'"
        args: list[Any] = []
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [
            Announcement(
                id=row["id"],
                key=row["key"],
                announced_at=datetime.fromisoformat(row["created_at"]),
                event=event_from_dict(with_notes(self._db, json.loads(row["payload"]))),
            )
            for row in rows
        ]
