"""The outbox: rendered messages waiting for their sink, delivery marks, and the thread index.

Every read here is keyed and indexed (`outbox_pending`, `outbox_by_group`, `threads_by_key`): the
per-message paths (a delivery pass, an IRC backlog check, a mail finding its thread parents) never
load a sink's whole history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.model import AnyEvent
from bot.store.base import Connection, StoreCore
from bot.store.codec import event_from_dict, ts
from bot.store.notes import with_notes
from bot.store.records import OutboxItem, OutboxMessage, ThreadStart


def queue_message(db: Connection, event_id: int, message: OutboxMessage, stamp: str | None) -> int:
    """Insert one outbox row (and its thread index row); inside the caller's transaction."""
    body = json.dumps(message.payload)
    cursor = db.execute(
        """INSERT INTO outbox (event_id, sink, sink_group, message_id, created_at)
           VALUES (?, ?, ?, ?, ?) RETURNING id""",
        (event_id, message.sink, message.group or message.sink, message.message_id, stamp),
    )
    outbox_id = int(cursor.fetchone()[0])
    db.execute("INSERT INTO outbox_bodies (outbox_id, payload) VALUES (?, ?)", (outbox_id, body))
    thread = message.thread
    if thread is not None:
        db.execute(
            """INSERT INTO threads (outbox_id, sink, source, major, stream, event_id, event_key, message_id)
               SELECT ?, ?, ?, ?, ?, id, key, ? FROM events WHERE id = ?""",
            (
                outbox_id,
                message.sink,
                thread.source,
                thread.major,
                thread.stream,
                message.message_id,
                event_id,
            ),
        )
    return outbox_id


def due_prefix(rows: list[Any], now: datetime) -> list[Any]:
    """`rows` (queued, in order) up to the first one whose retry is not due at `now`."""
    due = ts(now) or ""
    for index, row in enumerate(rows):
        if row["next_attempt_at"] is not None and row["next_attempt_at"] > due:
            return rows[:index]
    return rows


class OutboxStore(StoreCore):
    PENDING_SQL = """SELECT o.*, e.key AS event_key, b.payload AS payload FROM outbox o
                     JOIN events e ON e.id = o.event_id JOIN outbox_bodies b ON b.outbox_id = o.id
                     WHERE o.sink = ? AND o.state = 'queued' ORDER BY o.id LIMIT ?"""
    # `outbox_unpruned` (partial: delivered, body kept) finds what to prune; a pruned row leaves it
    PRUNE_WHERE = "state = 'delivered' AND has_body = 1 AND delivered_at < ?"
    PRUNE_SQL = f"DELETE FROM outbox_bodies WHERE outbox_id IN (SELECT id FROM outbox WHERE {PRUNE_WHERE})"
    PRUNED_SQL = f"UPDATE outbox SET has_body = 0 WHERE {PRUNE_WHERE}"
    # `state != 'delivered'`: the term of the partial index `outbox_open`
    REQUEUE_SQL = """UPDATE outbox SET state = 'queued', next_attempt_at = NULL
                     WHERE state = 'failed' AND state != 'delivered'"""

    def events(self, *, since_id: int = 0, source: str | None = None) -> list[tuple[int, AnyEvent]]:
        """Recorded events after `since_id`, oldest first (queued digests are not events)."""
        sql = "SELECT id, payload FROM events WHERE id > ? AND kind != 'digest'"
        args: list[Any] = [since_id]
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY id", args)
        return [
            (row["id"], event_from_dict(with_notes(self._db, json.loads(row["payload"]))))
            for row in rows.fetchall()
        ]

    def pending(self, sink: str, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Queued messages for a sink, oldest first, up to the first one whose retry is not due yet:
        a message waiting for its retry holds back the ones queued after it, so order is kept."""
        rows = self._db.execute(self.PENDING_SQL, (sink, limit)).fetchall()
        return self._items(due_prefix(rows, now))

    def _items(self, rows: list[Any]) -> list[OutboxItem]:
        return [
            OutboxItem(
                id=row["id"],
                event_id=row["event_id"],
                event_key=row["event_key"],
                sink=row["sink"],
                message_id=row["message_id"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                created_at=datetime.fromisoformat(row["created_at"]),
            )
            for row in rows
        ]

    def mark_delivered(self, item_id: int, *, now: datetime) -> None:
        self.mark_delivered_many([item_id], now=now)

    def mark_delivered_many(self, item_ids: Sequence[int], *, now: datetime) -> None:
        """`mark_delivered` for many messages (a delivery pass) in one transaction. The time is kept to
        the second (a delivered row stays in the state for good: 7 bytes less each)."""
        if not item_ids:
            return
        stamp = ts(now.replace(microsecond=0))
        with self.transaction() as db:
            db.executemany(
                """UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1,
                       last_error = NULL WHERE id = ?""",
                [(stamp, item_id) for item_id in item_ids],
            )

    def prune_delivered(self, *, before: datetime, vacuum_pages: int = 1000) -> int:
        """Drop the bodies of messages delivered before `before`: the outbox rows keep their Message-ID,
        event, sink, status and times (what idempotency and threading need). Returns how many bodies
        were dropped; gives up to `vacuum_pages` free pages back to the file system afterwards."""
        cutoff = ts(before)
        with self.transaction() as db:
            pruned = db.execute(self.PRUNE_SQL, (cutoff,)).rowcount
            db.execute(self.PRUNED_SQL, (cutoff,))
        if pruned:
            self._after_prune(vacuum_pages)
        return int(pruned)

    def mark_attempt_failed(
        self, item_id: int, *, error: str, permanent: bool, retry_at: datetime | None
    ) -> None:
        """A failed delivery: transient ones stay queued until `retry_at`; permanent ones are kept as
        'failed' (visible in `status`, never deleted)."""
        with self.transaction() as db:
            db.execute(
                """UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?,
                       next_attempt_at = ? WHERE id = ?""",
                ("failed" if permanent else "queued", error, ts(retry_at), item_id),
            )

    def requeue_failed(self, group: str | None = None) -> int:
        """Put permanently failed messages of an output (`group`: every sink of it, e.g. each channel of
        an IRC output), or of every output, back in the queue; returns how many. They keep their
        Message-IDs and their place in the order."""
        sql = self.REQUEUE_SQL
        args: list[Any] = []
        if group is not None:
            sql += " AND sink_group = ?"
            args.append(group)
        with self.transaction() as db:
            return int(db.execute(sql, args).rowcount)

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{sink: {state: count}}."""
        counts: dict[str, dict[str, int]] = {}
        for row in self._db.execute("SELECT sink, state, COUNT(*) AS n FROM outbox GROUP BY sink, state"):
            counts.setdefault(row["sink"], {})[row["state"]] = row["n"]
        return counts

    def outbox_groups(self) -> dict[str, dict[str, dict[str, int]]]:
        """{group (output): {sink: {state: count}}}."""
        counts: dict[str, dict[str, dict[str, int]]] = {}
        rows = self._db.execute(
            "SELECT sink_group, sink, state, COUNT(*) AS n FROM outbox GROUP BY sink_group, sink, state"
        )
        for row in rows:
            counts.setdefault(row["sink_group"], {}).setdefault(row["sink"], {})[row["state"]] = row["n"]
        return counts

    def outbox_errors(self, sink: str | None = None, *, limit: int = 20) -> list[tuple[str, str, str, str]]:
        """(sink, event key, state, last error) of messages whose last attempt failed."""
        sql = """SELECT o.sink, e.key, o.state, o.last_error FROM outbox o JOIN events e ON e.id = o.event_id
                 WHERE o.last_error IS NOT NULL"""
        args: list[Any] = []
        if sink is not None:
            sql += " AND o.sink = ?"
            args.append(sink)
        rows = self._db.execute(sql + " ORDER BY o.id DESC LIMIT ?", [*args, limit])
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    THREAD_SQL = """SELECT event_key, stream, message_id FROM threads
                    WHERE sink = ? AND source = ? AND major = ?"""

    def thread_starts(
        self, sink: str, *, source: str, major: str, stream: str | None = None
    ) -> list[ThreadStart]:
        """The messages queued for `sink` that opened a thread for (source, major[, stream]), oldest
        first: an indexed lookup, whatever the size of the sink's history."""
        sql = self.THREAD_SQL
        args: list[Any] = [sink, source, major]
        if stream is not None:
            sql += " AND stream = ?"
            args.append(stream)
        rows = self._db.execute(sql + " ORDER BY event_id", args)
        return [ThreadStart(event_key=r[0], stream=r[1], message_id=r[2]) for r in rows]
