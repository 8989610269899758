"""Deprecation notices, the channels each has reached, and roadmap items: writing (inside a poll's
transaction) and reading."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.model import Notice, Reach, RoadmapItem
from bot.store.base import Connection, StoreCore
from bot.store.codec import (
    notice_from_dict,
    notice_to_dict,
    reach_from_dict,
    roadmap_item_from_dict,
    roadmap_item_to_dict,
    ts,
)


def record_notices(
    db: Connection, stamp: str | None, notices: Iterable[Notice], reaches: Iterable[Reach]
) -> bool:
    changed = False
    for notice in notices:
        changed = True
        data = notice_to_dict(notice)
        db.execute(
            """INSERT INTO notices (source, id, project, text, summary, heading, links, channel,
                   stream, version, published, link, first_seen_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            (
                notice.source,
                notice.id,
                notice.project,
                notice.text,
                notice.summary,
                notice.heading,
                json.dumps(data["links"]),
                notice.channel,
                notice.stream,
                notice.version,
                data["published"],
                notice.link,
                stamp,
            ),
        )
    for reach in reaches:
        changed = True
        db.execute(
            """INSERT INTO notice_reaches (source, notice_id, channel, stream, version,
                   published, link, first_seen_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            (
                reach.source,
                reach.notice_id,
                reach.channel,
                reach.stream,
                reach.version,
                ts(reach.published),
                reach.link,
                stamp,
            ),
        )
    return changed


def record_roadmap(
    db: Connection,
    source: str,
    stamp: str | None,
    items: Iterable[RoadmapItem],
    absent: Iterable[str],
) -> bool:
    changed = False
    for item in items:
        cursor = db.execute(
            """INSERT INTO roadmap_items (source, id, status, state, present, payload, first_seen_at,
                                          changed_at)
               VALUES (?, ?, ?, ?, 1, ?, ?, ?)
               ON CONFLICT (source, id) DO UPDATE SET
                   changed_at = CASE WHEN roadmap_items.status != excluded.status
                                       OR roadmap_items.state != excluded.state
                                       OR roadmap_items.present = 0
                                     THEN excluded.changed_at ELSE roadmap_items.changed_at END,
                   status = excluded.status, state = excluded.state, present = 1,
                   payload = excluded.payload
               WHERE roadmap_items.payload != excluded.payload OR roadmap_items.present = 0""",
            (
                item.source,
                item.id,
                item.status,
                item.state,
                json.dumps(roadmap_item_to_dict(item)),
                stamp,
                stamp,
            ),
        )
        changed = changed or cursor.rowcount > 0
    for ident in absent:
        cursor = db.execute(
            """UPDATE roadmap_items SET present = 0, changed_at = ?
               WHERE source = ? AND id = ? AND present = 1""",
            (stamp, source, ident),
        )
        changed = changed or cursor.rowcount > 0
    return changed


class PlanStore(StoreCore):
    def notices(self, source: str | None = None) -> list[Notice]:
        """Known deprecation notices, oldest first."""
        sql = "SELECT * FROM notices"
        args: list[Any] = []
        if source is not None:
            sql += " WHERE source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY first_seen_at, published NULLS FIRST, rowid", args)
        out = []
        for row in rows:
            data = dict(row)
            data.pop("rowid", None)  # a column of its own on PostgreSQL
            data["links"] = json.loads(data["links"])
            out.append(notice_from_dict(data))
        return out

    def reaches(self, source: str | None = None) -> list[Reach]:
        """Where each notice has been seen: its first channel and every channel it reached since."""
        sql = "SELECT * FROM notice_reaches"
        args: list[Any] = []
        if source is not None:
            sql += " WHERE source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY rowid", args)
        return [reach_from_dict({k: v for k, v in dict(row).items() if k != "rowid"}) for row in rows]

    def roadmap_items(self, source: str | None = None, *, present_only: bool = False) -> list[RoadmapItem]:
        """Roadmap items as last seen; `present_only` leaves out items no longer listed by their source."""
        sql = "SELECT payload FROM roadmap_items WHERE 1 = 1"
        args: list[Any] = []
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        if present_only:
            sql += " AND present = 1"
        rows = self._db.execute(sql + " ORDER BY rowid", args)
        return [roadmap_item_from_dict(json.loads(row["payload"])) for row in rows]
