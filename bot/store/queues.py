"""Per-output queue facts and holds over the outbox (delivery side, issue 9 item 11): what `status`
shows of a queue (attempts, oldest queued, next retry), the stop of an output whose credentials are
refused (its queued messages kept as failed until `retry`), and `deliver --now` (backoff reset).

Plain functions over the store's connection; no schema of their own (the outbox's columns say it all):
an output is *stopped* while it has failed rows whose error starts with `STOPPED`. The queries by
output say `state != 'delivered'`, the term of the partial index `outbox_open` (queued and failed
messages by output), so they read the open messages, never the delivered history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.base import StoreCore
from bot.store.codec import ts
from bot.store.interface import StateStore

__all__ = ["STOPPED", "QueueFacts", "auth_streak", "queue_facts", "reset_backoff", "stop_output", "stopped"]

#: The error prefix of messages held by a stopped output.
STOPPED = "output stopped: "


@dataclass(frozen=True)
class QueueFacts:
    """One output's queue: queued messages, attempts made on them, the oldest one's creation time,
    the next retry time (None: due now), and the reason the output is stopped (None: it is not)."""

    queued: int
    attempts: int
    oldest: datetime | None
    next_retry: datetime | None
    stopped: str | None


def _base(store: StateStore) -> StoreCore:
    if not isinstance(store, StoreCore):  # pragma: no cover - both backends are
        raise TypeError(f"{type(store).__name__} is not a release-bot store")
    return store


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def queue_facts(store: StateStore, group: str) -> QueueFacts:
    """The queue of output `group` (all its sinks)."""
    db = _base(store)._db
    row = db.execute(
        """SELECT count(*) AS queued, coalesce(sum(attempts), 0) AS attempts, min(created_at) AS oldest,
                  max(next_attempt_at) AS next_retry
           FROM outbox WHERE sink_group = ? AND state = 'queued' AND state != 'delivered'""",
        (group,),
    ).fetchone()
    return QueueFacts(
        queued=int(row["queued"]),
        attempts=int(row["attempts"]),
        oldest=_when(row["oldest"]),
        next_retry=_when(row["next_retry"]),
        stopped=stopped(store, group),
    )


def stopped(store: StateStore, group: str) -> str | None:
    """Why output `group` is stopped, or None."""
    sql = """SELECT last_error FROM outbox
             WHERE sink_group = ? AND state = 'failed' AND state != 'delivered' AND last_error LIKE ?
             LIMIT 1"""
    row = _base(store)._db.execute(sql, (group, STOPPED + "%")).fetchone()
    return None if row is None else str(row["last_error"])[len(STOPPED) :]


def stop_output(store: StateStore, group: str, reason: str) -> int:
    """Keep every queued message of output `group` as failed with `reason` (until `retry`); returns
    how many."""
    with _base(store).transaction() as db:
        cursor = db.execute(
            """UPDATE outbox SET state = 'failed', next_attempt_at = NULL, last_error = ?
               WHERE sink_group = ? AND state = 'queued' AND state != 'delivered'""",
            (STOPPED + reason, group),
        )
    return int(cursor.rowcount)


def auth_streak(store: StateStore, item_id: int, marker: str) -> int:
    """How many authentication failures in a row message `item_id` met, as its error says (the error
    of such a failure starts with `marker` followed by the count)."""
    row = _base(store)._db.execute("SELECT last_error FROM outbox WHERE id = ?", (item_id,)).fetchone()
    error = "" if row is None or row["last_error"] is None else str(row["last_error"])
    if not error.startswith(marker):
        return 0
    head = error[len(marker) :].split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def reset_backoff(store: StateStore, group: str | None, *, now: datetime) -> int:
    """Make the queued messages of `group` (every output: None) due at `now`; returns how many waited."""
    sql = """UPDATE outbox SET next_attempt_at = NULL
             WHERE state = 'queued' AND state != 'delivered' AND next_attempt_at > ?"""
    args: list[object] = [ts(now)]
    if group is not None:
        sql += " AND sink_group = ?"
        args.append(group)
    with _base(store).transaction() as db:
        cursor = db.execute(sql, args)
    return int(cursor.rowcount)
