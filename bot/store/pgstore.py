"""The PostgreSQL backend (`[bot] state = "postgresql://…"`): the store's parts (`PollStore`,
`OutboxStore`, …) over a psycopg connection, the schema from the same versioned steps as SQLite
(`bot.store.schema`, PostgreSQL's statements where the dialects differ), recorded in the table
`release_bot_schema`.

Several bot processes may share one database: a migration takes a transaction-scoped advisory lock
(two instances starting together migrate once); a poll's state and its outbox rows are one
transaction, which also NOTIFYs `release_bot_outbox` so deliverers wake when it commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import psycopg

from bot.errors import StoreError
from bot.store.announcements import AnnouncementStore
from bot.store.base import Connection, StoreCore
from bot.store.codec import ts
from bot.store.digests import DigestStore
from bot.store.outbox import OutboxStore, due_prefix
from bot.store.pgconn import PgConnection, redact
from bot.store.plans import PlanStore
from bot.store.polls import PollStore
from bot.store.records import OutboxItem
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from bot.store.interface import StateStore

__all__ = ["LOCK_CLASS", "NOTIFY_CHANNEL", "PgStore", "is_postgresql"]

#: the first key of every advisory lock release-bot takes ("RBot"); the second says what it locks
LOCK_CLASS = 0x52426F74
MIGRATE_LOCK = 1
#: the first key of the transaction-scoped lock a claim of a sink's messages takes (second: the sink)
SINK_LOCK_CLASS = LOCK_CLASS + 1
#: the channel a commit that queued messages NOTIFYs
NOTIFY_CHANNEL = "release_bot_outbox"

SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS release_bot_schema (
    version INTEGER PRIMARY KEY, summary TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""


def is_postgresql(state: str) -> bool:
    """Whether a `[bot] state` value names a PostgreSQL database (else: a SQLite file)."""
    return state.startswith(("postgresql://", "postgres://"))


class PgBase(StoreCore):
    """One PostgreSQL database; one session per store object (not shared across threads)."""

    backend = "postgresql"
    _db: PgConnection
    #: `[bot] takeover_timeout`: the delivery lock's session is dropped by the server this soon after
    #: its host vanished (bot.coordination.LeaderLock)
    takeover = 30.0

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        migrate: bool | None = True,
        application_name: str = "release-bot",
    ) -> None:
        self.url = url
        self.password = password
        self.path = redact(url)
        self._db = PgConnection(url, password=password, application_name=application_name)
        try:
            if migrate:
                self.migrate()
            elif migrate is not None:
                self.check_schema()
        except psycopg.Error as exc:  # e.g. a role that may not create tables: said, not a traceback
            self._db.close()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"{self.path}: cannot set up the state database: {first}") from exc
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._db.transaction() as db:
            yield db

    # -- schema ------------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT to_regclass('release_bot_schema') IS NOT NULL").fetchone()
        if not row[0]:
            return 0
        return int(self._db.execute("SELECT COALESCE(MAX(version), 0) FROM release_bot_schema").fetchone()[0])

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} was written by a newer release-bot "
                f"(this one knows up to {SCHEMA_VERSION}); refusing to touch it"
            )

    def check_schema(self) -> int:
        """The schema version, refused unless it is exactly this release-bot's."""
        version = self.schema_version
        self._refuse_newer(version)
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is older than this release-bot's {SCHEMA_VERSION}; "
                "`release-bot migrate` (or `run`/`once`) migrates it"
            )
        return version

    def migrate(self) -> list[int]:
        """Apply the missing schema steps, each in its own transaction under an advisory lock (another
        process migrating at the same time waits, then finds nothing left to do); the steps applied."""
        if self.schema_version == SCHEMA_VERSION:
            return []
        applied: list[int] = []
        for step in MIGRATIONS:
            with self.transaction() as db:
                db.execute("SELECT pg_advisory_xact_lock(?, ?)", (LOCK_CLASS, MIGRATE_LOCK))
                db.execute(SCHEMA_TABLE)
                current = int(
                    db.execute("SELECT COALESCE(MAX(version), 0) FROM release_bot_schema").fetchone()[0]
                )
                self._refuse_newer(current)
                if step.version <= current:
                    continue
                for statement in step.statements_for("postgresql"):
                    db.execute(statement)
                if step.convert is not None:
                    step.convert(db)
                db.execute(
                    "INSERT INTO release_bot_schema (version, summary) VALUES (?, ?)",
                    (step.version, step.summary),
                )
                applied.append(step.version)
        return applied

    # -- backend specifics -------------------------------------------------------------------------

    def state_size(self) -> dict[str, int]:
        """Bytes of the database ('file'; PostgreSQL keeps no separate 'wal' or 'free' figure per
        database) and the rows of 'events' and 'outbox'."""
        row = self._db.execute(
            """SELECT pg_database_size(current_database()), (SELECT COUNT(*) FROM events),
                      (SELECT COUNT(*) FROM outbox)"""
        ).fetchone()
        return {"file": int(row[0]), "wal": 0, "free": 0, "events": int(row[1]), "outbox": int(row[2])}

    def _notify_outbox(self, db: Connection) -> None:
        db.execute("SELECT pg_notify(?, '')", (NOTIFY_CHANNEL,))

    def claim_poll(self, source: str, *, now: datetime, interval: float) -> bool:
        """The poll lease of `source`: True when this instance may poll it now — no instance started a
        poll of it within the last 0.9 × `interval` — and then the lease is taken (its start recorded
        as the source's last attempt, in one statement: two instances asking together get one True).
        A holder that dies mid-poll leaves a lease that expires by itself."""
        cutoff = ts(now - timedelta(seconds=0.9 * interval))
        with self.transaction() as db:
            row = db.execute(
                """INSERT INTO source_status (source, last_attempt_at) VALUES (?, ?)
                   ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at
                   WHERE source_status.last_attempt_at IS NULL OR source_status.last_attempt_at <= ?
                   RETURNING source""",
                (source, ts(now), cutoff),
            ).fetchone()
        return row is not None

    def connection_info(self) -> dict[str, Any]:
        """Server facts for `status`: version, database, this session's pid."""
        row = self._db.execute(
            "SELECT current_setting('server_version'), current_database(), pg_backend_pid()"
        ).fetchone()
        return {"server_version": row[0], "database": row[1], "pid": row[2]}


class PgStore(PgBase, PollStore, PlanStore, OutboxStore, DigestStore, AnnouncementStore):
    """The state of one or more bot processes in one PostgreSQL database; implements `StateStore`."""

    def claim_pending(
        self, sink: str, *, holder: str, now: datetime, lease: float, limit: int = 100
    ) -> list[OutboxItem]:
        """The messages of `sink` that `holder` delivers now, claimed until `now + lease`: queued,
        oldest first, up to the first one waiting for its retry (as `pending`). Taken with
        `SELECT … FOR UPDATE SKIP LOCKED` in one transaction, under a lock of the sink for that
        transaction; nothing is claimed while another holder's claims on the sink run (so a sink's
        messages keep their order whoever delivers them). A dead holder's claims expire with their
        lease; its rows go back to whoever claims next. Marks (`mark_delivered…`) are written on this
        same connection."""
        stamp = ts(now)
        with self.transaction() as db:
            if not db.execute(
                "SELECT pg_try_advisory_xact_lock(?, hashtext(?))", (SINK_LOCK_CLASS, sink)
            ).fetchone()[0]:
                return []  # another instance is claiming this sink right now
            busy = db.execute(
                """SELECT 1 FROM outbox WHERE sink = ? AND state = 'queued' AND claimed_by <> ?
                   AND claimed_until > ? LIMIT 1""",
                (sink, holder, stamp),
            ).fetchone()
            if busy is not None:
                return []
            rows = db.execute(
                """SELECT id, next_attempt_at FROM outbox WHERE sink = ? AND state = 'queued'
                   ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED""",
                (sink, limit),
            ).fetchall()
            ids = [row["id"] for row in due_prefix(rows, now)]
            if not ids:
                return []
            db.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ANY(?)",
                (holder, ts(now + timedelta(seconds=lease)), ids),
            )
            claimed = db.execute(
                """SELECT o.*, e.key AS event_key, b.payload AS payload FROM outbox o
                   JOIN events e ON e.id = o.event_id JOIN outbox_bodies b ON b.outbox_id = o.id
                   WHERE o.id = ANY(?) ORDER BY o.id""",
                (ids,),
            ).fetchall()
        return self._items(claimed)


if TYPE_CHECKING:  # mypy checks that the PostgreSQL backend implements the whole interface
    _backend: type[StateStore] = PgStore
