"""`StateStore`: every operation the rest of the bot uses of its state, whatever the backend.

The SQLite backend (`bot.store.sqlite.SqliteStore`) implements it; a second backend implements the
same protocol and runs the same tests (tests/test_store.py's `store` fixture is parametrised by
backend). Writes that belong together are one method, one transaction: `commit_poll` (a poll's state
and the outbox rows it causes), `record_digest` (a digest period and its mail).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, Self

from bot.model import AnyEvent, Notice, Reach, Release, RoadmapItem
from bot.security_index import SecurityIndex
from bot.store.announcements import Announcement
from bot.store.records import (
    DigestRecord,
    DocumentState,
    OutboxItem,
    OutboxMessage,
    PollRecord,
    SourceStatus,
    ThreadStart,
)


class StateStore(Protocol):
    #: where the state lives (a file path, ":memory:"); the delivery lock file is named after it
    path: str

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- sources: validators, releases, status ----------------------------------------------------

    def documents(self, source: str) -> dict[str, DocumentState]: ...

    def document_baselines(self, source: str) -> dict[str, datetime | None]: ...

    def known_releases(self, source: str) -> dict[tuple[str, str], Release]: ...

    def releases(self, source: str | None = None) -> list[Release]: ...

    def security_indexes(self, source: str | None = None) -> dict[tuple[str, str, str], SecurityIndex]:
        """(source, stream, version) → the security index stored with that release (schema 5)."""
        ...

    def commit_poll(self, poll: PollRecord) -> list[int]:
        """One poll in one transaction; the ids of the events inserted (known keys are skipped)."""
        ...

    def record_quiet_polls(self, polls: Sequence[tuple[str, datetime]]) -> None:
        """Polls that found nothing new, in one transaction: last attempt and success, streak ended."""
        ...

    def record_failure(self, source: str, *, now: datetime, error: str) -> int:
        """A failed poll; the failure streak length."""
        ...

    def source_status(self, source: str) -> SourceStatus | None: ...

    # -- deprecations and roadmap -----------------------------------------------------------------

    def notices(self, source: str | None = None) -> list[Notice]: ...

    def reaches(self, source: str | None = None) -> list[Reach]: ...

    def roadmap_items(
        self, source: str | None = None, *, present_only: bool = False
    ) -> list[RoadmapItem]: ...

    # -- events and outbox ------------------------------------------------------------------------

    def events(self, *, since_id: int = 0, source: str | None = None) -> list[tuple[int, AnyEvent]]: ...

    def announcements(self, *, limit: int = 50, before_id: int | None = None) -> list[Announcement]:
        """Recorded events with when they were recorded, newest first (the Atom feed, the status page)."""
        ...

    def pending(self, sink: str, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Queued messages of a sink that are due, oldest first, stopping at one waiting for a retry."""
        ...

    def mark_delivered(self, item_id: int, *, now: datetime) -> None: ...

    def mark_delivered_many(self, item_ids: Sequence[int], *, now: datetime) -> None:
        """`mark_delivered` for the messages of a delivery pass, in one transaction."""
        ...

    def prune_delivered(self, *, before: datetime, vacuum_pages: int = 1000) -> int:
        """Bodies of messages delivered before `before` dropped (Message-ID, keys, status and times
        kept); how many."""
        ...

    def state_size(self) -> dict[str, int]:
        """Bytes ('file', 'wal', 'free') and rows ('events', 'outbox') of the state."""
        ...

    def mark_attempt_failed(
        self, item_id: int, *, error: str, permanent: bool, retry_at: datetime | None
    ) -> None: ...

    def requeue_failed(self, group: str | None = None) -> int:
        """Failed messages of one output (every sink of its group) or of all, queued again."""
        ...

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{sink: {state: count}}."""
        ...

    def outbox_groups(self) -> dict[str, dict[str, dict[str, int]]]:
        """{group (output): {sink: {state: count}}}."""
        ...

    def outbox_errors(self, sink: str | None = None, *, limit: int = 20) -> list[tuple[str, str, str, str]]:
        """(sink, event key, state, last error), newest first."""
        ...

    def thread_starts(
        self, sink: str, *, source: str, major: str, stream: str | None = None
    ) -> list[ThreadStart]:
        """Messages of `sink` queued with a ThreadKey matching (source, major[, stream]), oldest first;
        an indexed lookup, never a scan of the sink's history."""
        ...

    # -- mail digests -----------------------------------------------------------------------------

    def event_id_at(self, when: datetime) -> int: ...

    def last_digest(self, output: str) -> DigestRecord | None: ...

    def digests(self, output: str) -> list[DigestRecord]: ...

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
        """A digest period (and its mail, with `message`) in one transaction; False if recorded before."""
        ...
