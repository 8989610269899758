"""Mail digests: what each digest period of each mail output covered. A queued digest is also an
`events` row of kind 'digest' (key 'digest:<output>/<period end>') with its outbox row, so it is
delivered like any message and never doubled; 'baseline' and 'empty' rows send nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.store.base import StoreCore
from bot.store.codec import dt, ts
from bot.store.outbox import queue_message
from bot.store.records import DigestRecord, OutboxMessage


def _digest_record(row: Any) -> DigestRecord:
    return DigestRecord(
        output=row["output"],
        period_start=dt(row["period_start"]),
        period_end=datetime.fromisoformat(row["period_end"]),
        last_event_id=row["last_event_id"],
        events=row["events"],
        status=row["status"],
        event_id=row["event_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


class DigestStore(StoreCore):
    def event_id_at(self, when: datetime) -> int:
        """The highest id of the events recorded at or before `when` (0 if none)."""
        row = self._db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE kind != 'digest' AND created_at <= ?", (ts(when),)
        ).fetchone()
        return int(row[0])

    def last_digest(self, output: str) -> DigestRecord | None:
        """The newest digest row of a mail output (a baseline, an empty period or a queued digest)."""
        row = self._db.execute(
            "SELECT * FROM digests WHERE output = ? ORDER BY rowid DESC LIMIT 1", (output,)
        ).fetchone()
        return None if row is None else _digest_record(row)

    def digests(self, output: str) -> list[DigestRecord]:
        rows = self._db.execute("SELECT * FROM digests WHERE output = ? ORDER BY rowid", (output,))
        return [_digest_record(row) for row in rows]

    def record_digest(
        self,
        output: str,
        *,
        now: datetime,
        period_start: datetime | None,
        period_end: datetime,
        last_event_id: int,
        count: int,
        status: str,
        message: OutboxMessage | None = None,
    ) -> bool:
        """Record one digest period of `output` in one transaction; with `message`, also queue the mail
        (an `events` row of kind 'digest' and its outbox row). False if that period is already recorded:
        a digest is never queued twice."""
        stamp = ts(now)
        end = ts(period_end)
        with self.transaction() as db:
            cursor = db.execute(
                """INSERT INTO digests (output, period_end, period_start, last_event_id, events,
                                                  status, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (output, end, ts(period_start), last_event_id, count, status, stamp),
            )
            if cursor.rowcount == 0:
                return False
            if message is not None:
                payload = {
                    "kind": "digest",
                    "output": output,
                    "period_start": ts(period_start),
                    "period_end": end,
                    "events": count,
                }
                cursor = db.execute(
                    """INSERT INTO events (key, kind, source, stream, version, created_at, payload)
                       VALUES (?, 'digest', ?, 'digest', ?, ?, ?) RETURNING id""",
                    (f"digest:{output}/{end}", output, end, stamp, json.dumps(payload)),
                )
                event_id = int(cursor.fetchone()[0])
                queue_message(db, event_id, message, stamp)
                self._notify_outbox(db)
                db.execute(
                    "UPDATE digests SET event_id = ? WHERE output = ? AND period_end = ?",
                    (event_id, output, end),
                )
        return True
