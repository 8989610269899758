"""Sources: document validators, known releases, source status, and `commit_poll` — one poll's
state change and the outbox rows it causes, in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.errors import StoreError
from bot.model import Release
from bot.security_index import SecurityIndex, release_security
from bot.store.base import StoreCore
from bot.store.codec import dt, event_to_dict, release_from_dict, release_to_dict, ts
from bot.store.notes import shared_notes
from bot.store.outbox import queue_message
from bot.store.plans import record_notices, record_roadmap
from bot.store.records import DocumentState, PollRecord, SourceStatus

#: a release's columns in `Release`'s field order (not `security`: the index is read on its own)
_RELEASE_COLUMNS = (
    "source, project, stream, channel, version, title, published, link, packages, notes, notes_format,"
    " architectures"
)


def _stored_release(row: Any) -> Release:
    """A row of `_RELEASE_COLUMNS` → its Release (what `_release` gives, without the generic codec:
    `known_releases` decodes every release of a source per poll that read something)."""
    source, project, stream, channel, version, title, published, link, packages, notes, fmt, arches = row
    return Release(
        source,
        project,
        stream,
        channel,
        version,
        title,
        dt(published),
        link,
        {} if packages == "{}" else json.loads(packages),
        notes,
        fmt,
        () if arches == "[]" else tuple(json.loads(arches)),
    )


def _release(row: Any) -> Release:
    data = dict(row)
    data["packages"] = json.loads(data["packages"])
    data["architectures"] = json.loads(data["architectures"])
    data.pop("first_seen_at")
    data.pop("security", None)
    return release_from_dict(data)


class PollStore(StoreCore):
    def documents(self, source: str) -> dict[str, DocumentState]:
        rows = self._db.execute(
            "SELECT source, name, url, etag, last_modified, body_sha256, entries FROM documents"
            " WHERE source = ?",
            (source,),
        )
        out: dict[str, DocumentState] = {}
        for row in rows:
            data = dict(row)
            if data["entries"] is not None:
                data["entries"] = bytes(data["entries"])  # a memoryview from some drivers
            out[row["name"]] = DocumentState(**data)
        return out

    def document_baselines(self, source: str) -> dict[str, datetime | None]:
        """Document name → when it was first read (its baseline)."""
        rows = self._db.execute("SELECT name, baselined_at FROM documents WHERE source = ?", (source,))
        return {row["name"]: dt(row["baselined_at"]) for row in rows}

    def known_releases(self, source: str) -> dict[tuple[str, str], Release]:
        rows = self._db.execute(f"SELECT {_RELEASE_COLUMNS} FROM releases WHERE source = ?", (source,))
        return {(release.stream, release.version): release for release in map(_stored_release, rows)}

    def releases(self, source: str | None = None) -> list[Release]:
        if source is None:
            rows = self._db.execute("SELECT * FROM releases")
        else:
            rows = self._db.execute("SELECT * FROM releases WHERE source = ?", (source,))
        return [_release(row) for row in rows]

    def security_indexes(self, source: str | None = None) -> dict[tuple[str, str, str], SecurityIndex]:
        """(source, stream, version) → the security index stored with that release."""
        query = "SELECT source, stream, version, security FROM releases WHERE security IS NOT NULL"
        rows = self._db.execute(query + (" AND source = ?" if source else ""), (source,) if source else ())
        out: dict[tuple[str, str, str], SecurityIndex] = {}
        for row in rows:
            try:
                out[(row[0], row[1], row[2])] = SecurityIndex.from_json(row[3])
            except ValueError as exc:
                raise StoreError(f"{self.path}: release {row[0]}/{row[1]}/{row[2]}: {exc}") from exc
        return out

    def commit_poll(self, poll: PollRecord) -> list[int]:
        """Record one poll in one transaction. Returns the ids of the events inserted (an event whose
        key is already stored is skipped, and so are its messages)."""
        stamp = ts(poll.now)
        source = poll.source
        inserted: list[int] = []
        with self.transaction() as db:
            changed = False
            for doc in poll.documents:
                db.execute(
                    """INSERT INTO documents (source, name, url, etag, last_modified, body_sha256,
                                              baselined_at, fetched_at, changed_at, entries)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (source, name) DO UPDATE SET
                           url = excluded.url, etag = excluded.etag,
                           last_modified = excluded.last_modified, body_sha256 = excluded.body_sha256,
                           fetched_at = excluded.fetched_at,
                           changed_at = COALESCE(excluded.changed_at, documents.changed_at),
                           entries = COALESCE(excluded.entries, documents.entries)""",
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
                        doc.entries,
                    ),
                )
            for release in poll.new_releases:
                changed = True
                data = release_to_dict(release)
                db.execute(
                    """INSERT INTO releases (source, stream, version, channel, project, title,
                           published, link, packages, notes, notes_format, architectures, first_seen_at,
                           security)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
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
                        release_security(release).to_json(),
                    ),
                )
            changed = record_notices(db, stamp, poll.notices, poll.reaches) or changed
            changed = record_roadmap(db, source, stamp, poll.roadmap_items, poll.roadmap_absent) or changed
            for event, messages in poll.events:
                cursor = db.execute(
                    """INSERT INTO events (key, kind, source, stream, version, created_at, payload)
                       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id""",
                    (
                        event.key,
                        event.kind,
                        event.source,
                        event.stream,
                        event.version,
                        stamp,
                        json.dumps(shared_notes(db, event_to_dict(event)), separators=(",", ":")),
                    ),
                )
                row = cursor.fetchone()
                if row is None:  # a known key
                    continue
                event_id = int(row[0])
                inserted.append(event_id)
                for message in messages:
                    queue_message(db, event_id, message, stamp)
            if inserted:
                self._notify_outbox(db)
            error = poll.error
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

    def record_failure(self, source: str, *, now: datetime, error: str) -> int:
        """Record a failed poll (nothing else changes). Returns the failure streak length."""
        self.commit_poll(PollRecord.failure(source, now=now, error=error))
        status = self.source_status(source)
        return status.error_streak if status else 1

    def source_status(self, source: str) -> SourceStatus | None:
        row = self._db.execute("SELECT * FROM source_status WHERE source = ?", (source,)).fetchone()
        if row is None:
            return None
        return SourceStatus(
            source=row["source"],
            last_attempt_at=dt(row["last_attempt_at"]),
            last_success_at=dt(row["last_success_at"]),
            last_change_at=dt(row["last_change_at"]),
            last_error=row["last_error"],
            last_error_at=dt(row["last_error_at"]),
            error_streak=row["error_streak"],
        )

    def record_quiet_polls(self, polls: Sequence[tuple[str, datetime]]) -> None:
        """Polls that found nothing new (every document unchanged, same validators, no error), many
        sources in one transaction: each source's last attempt and success, its error streak ended,
        its documents' fetch time — what `commit_poll` writes for such a poll."""
        rows = [(source, ts(now)) for source, now in polls]
        with self.transaction() as db:
            db.executemany(
                "UPDATE documents SET fetched_at = ? WHERE source = ?", [(stamp, s) for s, stamp in rows]
            )
            db.executemany(
                """INSERT INTO source_status (source, last_attempt_at, last_success_at, error_streak)
                   VALUES (?, ?, ?, 0)
                   ON CONFLICT (source) DO UPDATE SET
                       last_attempt_at = excluded.last_attempt_at,
                       last_success_at = excluded.last_success_at,
                       last_error = NULL, error_streak = 0""",
                [(s, stamp, stamp) for s, stamp in rows],
            )
