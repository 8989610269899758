"""SQLite state: known releases, per-document HTTP validators, events, and the outbox.

The state change of a poll and the outbox rows it causes are written in one transaction
(`commit_poll`). Sinks read the outbox and mark delivery, so a crash or an outage leaves messages
queued, never lost. The schema is versioned with `PRAGMA user_version` and migrated on open.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from bot.errors import StoreError
from bot.model import (
    AnyEvent,
    DeprecationEvent,
    Event,
    Notice,
    PackageChange,
    Reach,
    Release,
    RoadmapEvent,
    RoadmapItem,
)

T = TypeVar("T")

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE documents (
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        body_sha256 TEXT,
        baselined_at TEXT NOT NULL,
        fetched_at TEXT,
        changed_at TEXT,
        PRIMARY KEY (source, name)
    );
    CREATE TABLE source_status (
        source TEXT PRIMARY KEY,
        last_attempt_at TEXT,
        last_success_at TEXT,
        last_change_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        error_streak INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE releases (
        source TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT NOT NULL,
        channel TEXT NOT NULL,
        project TEXT NOT NULL,
        title TEXT NOT NULL,
        published TEXT,
        link TEXT,
        packages TEXT NOT NULL,
        notes TEXT NOT NULL,
        notes_format TEXT NOT NULL,
        architectures TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, stream, version)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT NOT NULL,
        created_at TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES events(id),
        sink TEXT NOT NULL,
        message_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        UNIQUE (sink, event_id)
    );
    CREATE INDEX outbox_pending ON outbox (sink, state, id);
    """,
    # mail digests (issue 4): what each digest of each mail output covered. A queued digest is also an
    # `events` row of kind 'digest' (key 'digest:<output>/<period end>') with its outbox row, so it is
    # delivered like any message and never doubled; 'baseline' and 'empty' rows send nothing.
    """
    CREATE TABLE digests (
        output TEXT NOT NULL,
        period_end TEXT NOT NULL,
        period_start TEXT,
        last_event_id INTEGER NOT NULL,
        events INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('baseline', 'empty', 'queued')),
        event_id INTEGER REFERENCES events(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (output, period_end)
    );
    """,
    # deprecations and roadmap (issue 5): notices found in release notes (or on roadmap items), the
    # channels each has reached, and the roadmap items last seen with their status.
    """
    CREATE TABLE notices (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        project TEXT NOT NULL,
        text TEXT NOT NULL,
        summary TEXT NOT NULL,
        heading TEXT NOT NULL,
        links TEXT NOT NULL,
        channel TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT,
        published TEXT,
        link TEXT,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, id)
    );
    CREATE TABLE notice_reaches (
        source TEXT NOT NULL,
        notice_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT,
        published TEXT,
        link TEXT,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, notice_id, channel),
        FOREIGN KEY (source, notice_id) REFERENCES notices (source, id)
    );
    CREATE TABLE roadmap_items (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        present INTEGER NOT NULL DEFAULT 1,
        payload TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (source, id)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def record_to_dict(record: Any) -> dict[str, Any]:
    """A flat model dataclass (Release, Notice, Reach, RoadmapItem) as JSON-able data, field by field."""
    return {f.name: _plain(getattr(record, f.name)) for f in fields(record)}


_FIELD_TYPES: dict[type, dict[str, str]] = {}


def _field_types(cls: type) -> dict[str, str]:
    """Field name → 'datetime', 'tuple', 'mapping' or '' (kept as is), from the type annotations."""
    if cls in _FIELD_TYPES:
        return _FIELD_TYPES[cls]
    out = {}
    for name, hint in get_type_hints(cls).items():
        text = str(hint)
        if "datetime" in text:
            out[name] = "datetime"
        elif text.startswith(("tuple", "typing.Tuple")):
            out[name] = "tuple"
        elif "Mapping" in text or text.startswith("dict"):
            out[name] = "mapping"
        else:
            out[name] = ""
    _FIELD_TYPES[cls] = out
    return out


def record_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of record_to_dict; a key missing from older payloads takes the field's default."""
    types = _field_types(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        kind = types[f.name]
        if value is not None and kind == "datetime":
            value = _dt(value)
        elif value is not None and kind == "tuple":
            value = tuple(value)
        elif value is not None and kind == "mapping":
            value = dict(value)
        values[f.name] = value
    return cls(**values)


def release_to_dict(release: Release) -> dict[str, Any]:
    return record_to_dict(release)


def release_from_dict(data: Mapping[str, Any]) -> Release:
    return record_from_dict(Release, data)


def event_to_dict(event: AnyEvent) -> dict[str, Any]:
    """JSON-able form of any event; release events keep their original payload format."""
    if isinstance(event, DeprecationEvent):
        return {
            "kind": event.kind,
            "notice": notice_to_dict(event.notice),
            "reach": reach_to_dict(event.reach),
        }
    if isinstance(event, RoadmapEvent):
        return {
            "kind": event.kind,
            "change": event.change,
            "item": roadmap_item_to_dict(event.item),
            "previous_status": event.previous_status,
        }
    return {
        "kind": event.kind,
        "release": release_to_dict(event.release),
        "previous": release_to_dict(event.previous) if event.previous else None,
        "promoted_from": event.promoted_from,
        "changes": [[c.name, c.old, c.new] for c in event.changes],
    }


def event_from_dict(data: Mapping[str, Any]) -> AnyEvent:
    """The inverse of event_to_dict, dispatching on `kind`."""
    if data["kind"] == "deprecation":
        return DeprecationEvent(notice=notice_from_dict(data["notice"]), reach=reach_from_dict(data["reach"]))
    if data["kind"] == "roadmap":
        return RoadmapEvent(
            change=data["change"],
            item=roadmap_item_from_dict(data["item"]),
            previous_status=data["previous_status"],
        )
    return release_event_from_dict(data)


def release_event_from_dict(data: Mapping[str, Any]) -> Event:
    """A release or promotion event from its payload."""
    return Event(
        kind=data["kind"],
        release=release_from_dict(data["release"]),
        previous=release_from_dict(data["previous"]) if data["previous"] else None,
        promoted_from=data["promoted_from"],
        changes=tuple(PackageChange(n, o, w) for n, o, w in data["changes"]),
    )


def notice_to_dict(notice: Notice) -> dict[str, Any]:
    return record_to_dict(notice)


def notice_from_dict(data: Mapping[str, Any]) -> Notice:
    return record_from_dict(Notice, data)


def reach_to_dict(reach: Reach) -> dict[str, Any]:
    return record_to_dict(reach)


def reach_from_dict(data: Mapping[str, Any]) -> Reach:
    return record_from_dict(Reach, data)


def roadmap_item_to_dict(item: RoadmapItem) -> dict[str, Any]:
    return record_to_dict(item)


def roadmap_item_from_dict(data: Mapping[str, Any]) -> RoadmapItem:
    return record_from_dict(RoadmapItem, data)


@dataclass(frozen=True)
class DocumentState:
    source: str
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_sha256: str | None


@dataclass(frozen=True)
class DocumentUpdate:
    """A fetched document: new validators and whether its body was parsed into the snapshot."""

    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    changed: bool


@dataclass(frozen=True)
class OutboxMessage:
    sink: str
    message_id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class OutboxItem:
    id: int
    event_id: int
    event_key: str
    sink: str
    message_id: str
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class SourceStatus:
    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_change_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_streak: int


class Store:
    """One SQLite database file. Not shared across threads; each process opens its own."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open state database: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not a usable release-bot state database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} was written by a newer release-bot "
                f"(this one knows up to {SCHEMA_VERSION}); refusing to touch it"
            )
        for number in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction() as db:
                for statement in MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- sources and documents ------------------------------------------------------------------

    def documents(self, source: str) -> dict[str, DocumentState]:
        rows = self._db.execute(
            "SELECT source, name, url, etag, last_modified, body_sha256 FROM documents WHERE source = ?",
            (source,),
        )
        return {row["name"]: DocumentState(**dict(row)) for row in rows}

    def document_baselines(self, source: str) -> dict[str, datetime | None]:
        """Document name → when it was first read (its baseline)."""
        rows = self._db.execute("SELECT name, baselined_at FROM documents WHERE source = ?", (source,))
        return {row["name"]: _dt(row["baselined_at"]) for row in rows}

    def known_releases(self, source: str) -> dict[tuple[str, str], Release]:
        rows = self._db.execute("SELECT * FROM releases WHERE source = ?", (source,))
        return {(row["stream"], row["version"]): self._release(row) for row in rows}

    def releases(self, source: str | None = None) -> list[Release]:
        if source is None:
            rows = self._db.execute("SELECT * FROM releases")
        else:
            rows = self._db.execute("SELECT * FROM releases WHERE source = ?", (source,))
        return [self._release(row) for row in rows]

    @staticmethod
    def _release(row: sqlite3.Row) -> Release:
        data = dict(row)
        data["packages"] = json.loads(data["packages"])
        data["architectures"] = json.loads(data["architectures"])
        data.pop("first_seen_at")
        return release_from_dict(data)

    def commit_poll(
        self,
        source: str,
        *,
        now: datetime,
        documents: Sequence[DocumentUpdate],
        new_releases: Iterable[Release],
        events: Sequence[tuple[AnyEvent, Sequence[OutboxMessage]]],
        error: str | None = None,
        notices: Iterable[Notice] = (),
        reaches: Iterable[Reach] = (),
        roadmap_items: Iterable[RoadmapItem] = (),
        roadmap_absent: Iterable[str] = (),
    ) -> list[int]:
        """Record one poll in one transaction: validators, new releases, events and their outbox rows
        (and the deprecation notices, their channel reaches and the roadmap items the poll found;
        `roadmap_absent` are ids of this source's items no longer listed).

        Returns the ids of the events inserted (an event whose key is already stored is skipped).
        """
        stamp = _ts(now)
        inserted: list[int] = []
        with self.transaction() as db:
            changed = False
            for doc in documents:
                db.execute(
                    """INSERT INTO documents (source, name, url, etag, last_modified, body_sha256,
                                              baselined_at, fetched_at, changed_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (source, name) DO UPDATE SET
                           url = excluded.url, etag = excluded.etag,
                           last_modified = excluded.last_modified, body_sha256 = excluded.body_sha256,
                           fetched_at = excluded.fetched_at,
                           changed_at = COALESCE(excluded.changed_at, documents.changed_at)""",
                    (
                        source,
                        doc.name,
                        doc.url,
                        doc.etag,
                        doc.last_modified,
                        doc.body_sha256,
                        stamp,
                        stamp,
                        stamp if doc.changed else None,
                    ),
                )
            for release in new_releases:
                changed = True
                data = release_to_dict(release)
                db.execute(
                    """INSERT OR IGNORE INTO releases (source, stream, version, channel, project, title,
                           published, link, packages, notes, notes_format, architectures, first_seen_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        release.source,
                        release.stream,
                        release.version,
                        release.channel,
                        release.project,
                        release.title,
                        data["published"],
                        release.link,
                        json.dumps(data["packages"]),
                        release.notes,
                        release.notes_format,
                        json.dumps(data["architectures"]),
                        stamp,
                    ),
                )
            changed = self._record_notices(db, stamp, notices, reaches) or changed
            changed = self._record_roadmap(db, source, stamp, roadmap_items, roadmap_absent) or changed
            for event, messages in events:
                source_name, stream, version = event.source, event.stream, event.version
                cursor = db.execute(
                    """INSERT OR IGNORE INTO events (key, kind, source, stream, version, created_at, payload)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (
                        event.key,
                        event.kind,
                        source_name,
                        stream,
                        version,
                        stamp,
                        json.dumps(event_to_dict(event)),
                    ),
                )
                if cursor.rowcount == 0:
                    continue
                event_id = int(cursor.lastrowid or 0)
                inserted.append(event_id)
                for message in messages:
                    db.execute(
                        """INSERT INTO outbox (event_id, sink, message_id, payload, created_at)
                           VALUES (?, ?, ?, ?, ?)""",
                        (event_id, message.sink, message.message_id, json.dumps(message.payload), stamp),
                    )
            db.execute(
                """INSERT INTO source_status (source, last_attempt_at, last_success_at, last_change_at,
                                              last_error, last_error_at, error_streak)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (source) DO UPDATE SET
                       last_attempt_at = excluded.last_attempt_at,
                       last_success_at = COALESCE(excluded.last_success_at, source_status.last_success_at),
                       last_change_at = COALESCE(excluded.last_change_at, source_status.last_change_at),
                       last_error = excluded.last_error,
                       last_error_at = COALESCE(excluded.last_error_at, source_status.last_error_at),
                       error_streak = CASE WHEN excluded.last_error IS NULL THEN 0
                                           ELSE source_status.error_streak + 1 END""",
                (
                    source,
                    stamp,
                    None if error else stamp,
                    stamp if changed else None,
                    error,
                    stamp if error else None,
                    1 if error else 0,
                ),
            )
        return inserted

    @staticmethod
    def _record_notices(
        db: sqlite3.Connection, stamp: str | None, notices: Iterable[Notice], reaches: Iterable[Reach]
    ) -> bool:
        changed = False
        for notice in notices:
            changed = True
            data = notice_to_dict(notice)
            db.execute(
                """INSERT OR IGNORE INTO notices (source, id, project, text, summary, heading, links, channel,
                       stream, version, published, link, first_seen_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                """INSERT OR IGNORE INTO notice_reaches (source, notice_id, channel, stream, version,
                       published, link, first_seen_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    reach.source,
                    reach.notice_id,
                    reach.channel,
                    reach.stream,
                    reach.version,
                    _ts(reach.published),
                    reach.link,
                    stamp,
                ),
            )
        return changed

    @staticmethod
    def _record_roadmap(
        db: sqlite3.Connection,
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

    # -- deprecations and roadmap: reading ------------------------------------------------------

    def notices(self, source: str | None = None) -> list[Notice]:
        """Known deprecation notices, oldest first."""
        sql = "SELECT * FROM notices"
        args: list[Any] = []
        if source is not None:
            sql += " WHERE source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY first_seen_at, published, rowid", args)
        out = []
        for row in rows:
            data = dict(row)
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
        return [reach_from_dict(dict(row)) for row in rows]

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

    def record_failure(self, source: str, *, now: datetime, error: str) -> int:
        """Record a failed poll (nothing else changes). Returns the failure streak length."""
        self.commit_poll(source, now=now, documents=(), new_releases=(), events=(), error=error)
        status = self.source_status(source)
        return status.error_streak if status else 1

    def source_status(self, source: str) -> SourceStatus | None:
        row = self._db.execute("SELECT * FROM source_status WHERE source = ?", (source,)).fetchone()
        if row is None:
            return None
        return SourceStatus(
            source=row["source"],
            last_attempt_at=_dt(row["last_attempt_at"]),
            last_success_at=_dt(row["last_success_at"]),
            last_change_at=_dt(row["last_change_at"]),
            last_error=row["last_error"],
            last_error_at=_dt(row["last_error_at"]),
            error_streak=row["error_streak"],
        )

    # -- events and outbox ----------------------------------------------------------------------

    def events(self, *, since_id: int = 0, source: str | None = None) -> list[tuple[int, AnyEvent]]:
        sql = "SELECT id, payload FROM events WHERE id > ? AND kind != 'digest'"  # digests: see below
        args: list[Any] = [since_id]
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY id", args)
        return [(row["id"], event_from_dict(json.loads(row["payload"]))) for row in rows]

    def pending(self, sink: str, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Queued messages for a sink, oldest first, up to the first one whose retry is not due yet:
        a message waiting for its retry holds back the ones queued after it, so order is kept."""
        rows = self._db.execute(
            """SELECT o.*, e.key AS event_key FROM outbox o JOIN events e ON e.id = o.event_id
               WHERE o.sink = ? AND o.state = 'queued' ORDER BY o.id LIMIT ?""",
            (sink, limit),
        ).fetchall()
        due = _ts(now) or ""
        for index, row in enumerate(rows):
            if row["next_attempt_at"] is not None and row["next_attempt_at"] > due:
                rows = rows[:index]
                break
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
        with self.transaction() as db:
            db.execute(
                """UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1,
                       last_error = NULL WHERE id = ?""",
                (_ts(now), item_id),
            )

    def mark_attempt_failed(
        self, item_id: int, *, error: str, permanent: bool, retry_at: datetime | None
    ) -> None:
        """A failed delivery: transient ones stay queued until `retry_at`; permanent ones are kept as
        'failed' (visible in `status`, never deleted)."""
        with self.transaction() as db:
            db.execute(
                """UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?,
                       next_attempt_at = ? WHERE id = ?""",
                ("failed" if permanent else "queued", error, _ts(retry_at), item_id),
            )

    def requeue_failed(self, sink: str | None = None) -> int:
        """Put permanently failed messages back in the queue (after the cause was fixed); returns how
        many. They keep their Message-IDs and their place in the order."""
        sql = "UPDATE outbox SET state = 'queued', next_attempt_at = NULL WHERE state = 'failed'"
        args: list[Any] = []
        if sink is not None:
            sql += " AND (sink = ? OR sink LIKE ? ESCAPE '\\')"
            args += [sink, sink.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"]
        with self.transaction() as db:
            return db.execute(sql, args).rowcount

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{sink: {state: count}}."""
        counts: dict[str, dict[str, int]] = {}
        for row in self._db.execute("SELECT sink, state, COUNT(*) AS n FROM outbox GROUP BY sink, state"):
            counts.setdefault(row["sink"], {})[row["state"]] = row["n"]
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

    # -- mail: threading history and digests ----------------------------------------------------

    def sink_history(self, sink: str, *, source: str | None = None) -> list[tuple[int, Event, str]]:
        """(event id, event, Message-ID) of the release and promotion messages queued for `sink`, oldest
        first: what a mailing list has been sent about releases, for threading."""
        sql = """SELECT e.id, e.payload, o.message_id FROM outbox o JOIN events e ON e.id = o.event_id
                 WHERE o.sink = ? AND e.kind IN ('release', 'promotion')"""
        args: list[Any] = [sink]
        if source is not None:
            sql += " AND e.source = ?"
            args.append(source)
        rows = self._db.execute(sql + " ORDER BY e.id", args)
        return [(row[0], release_event_from_dict(json.loads(row[1])), row[2]) for row in rows]

    def event_id_at(self, when: datetime) -> int:
        """The highest id of the events recorded at or before `when` (0 if none)."""
        row = self._db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE kind != 'digest' AND created_at <= ?", (_ts(when),)
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
        stamp = _ts(now)
        end = _ts(period_end)
        with self.transaction() as db:
            cursor = db.execute(
                """INSERT OR IGNORE INTO digests (output, period_end, period_start, last_event_id, events,
                                                  status, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (output, end, _ts(period_start), last_event_id, count, status, stamp),
            )
            if cursor.rowcount == 0:
                return False
            if message is not None:
                payload = {
                    "kind": "digest",
                    "output": output,
                    "period_start": _ts(period_start),
                    "period_end": end,
                    "events": count,
                }
                cursor = db.execute(
                    """INSERT INTO events (key, kind, source, stream, version, created_at, payload)
                       VALUES (?, 'digest', ?, 'digest', ?, ?, ?)""",
                    (f"digest:{output}/{end}", output, end, stamp, json.dumps(payload)),
                )
                event_id = int(cursor.lastrowid or 0)
                db.execute(
                    """INSERT INTO outbox (event_id, sink, message_id, payload, created_at)
                       VALUES (?, ?, ?, ?, ?)""",
                    (event_id, message.sink, message.message_id, json.dumps(message.payload), stamp),
                )
                db.execute(
                    "UPDATE digests SET event_id = ? WHERE output = ? AND period_end = ?",
                    (event_id, output, end),
                )
        return True


@dataclass(frozen=True)
class DigestRecord:
    output: str
    period_start: datetime | None
    period_end: datetime
    last_event_id: int  # the digest covered events up to this id
    events: int
    status: str  # 'baseline', 'empty' or 'queued'
    event_id: int | None
    created_at: datetime


def _digest_record(row: sqlite3.Row) -> DigestRecord:
    return DigestRecord(
        output=row["output"],
        period_start=_dt(row["period_start"]),
        period_end=datetime.fromisoformat(row["period_end"]),
        last_event_id=row["last_event_id"],
        events=row["events"],
        status=row["status"],
        event_id=row["event_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )
