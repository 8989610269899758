"""What the store takes and gives back, independent of the backend: plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.model import AnyEvent, Notice, Reach, Release, RoadmapItem


@dataclass(frozen=True)
class DocumentState:
    """What the store knows of one fetched document: its validators and body hash."""

    source: str
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    entries: bytes | None = None  # the memo of its entries at the last reading (`bot.sources.feedmemo`)


@dataclass(frozen=True)
class DocumentUpdate:
    """A fetched document: new validators and whether its body was parsed into the snapshot."""

    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    changed: bool
    entries: bytes | None = None  # None: the stored memo is kept


@dataclass(frozen=True)
class ThreadKey:
    """What a message opens a thread for (mail: the first mail about a major version in a stream).
    Later messages of the same sink find it by (sink, source, major), optionally by stream."""

    source: str
    stream: str
    major: str


@dataclass(frozen=True)
class OutboxMessage:
    """A rendered message to queue. `group` is the output the sink belongs to (an IRC output has one
    sink per channel); None means the sink is its own group. `thread`: this message opens a thread."""

    sink: str
    message_id: str
    payload: Mapping[str, Any]
    group: str | None = None
    thread: ThreadKey | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A queued (or delivered, or failed) outbox message, as the store holds it."""

    id: int
    event_id: int
    event_key: str
    sink: str
    message_id: str
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class ThreadStart:
    """A queued message that opened a thread (see ThreadKey), oldest first in lookups."""

    event_key: str
    stream: str
    message_id: str


@dataclass(frozen=True)
class SourceStatus:
    """The last poll of a source: when attempted, succeeded, changed, failed and why."""

    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_change_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_streak: int


@dataclass(frozen=True)
class DigestRecord:
    """One digest of a mail output: the period it covered and what became of it."""

    output: str
    period_start: datetime | None
    period_end: datetime
    last_event_id: int  # the digest covered events up to this id
    events: int
    status: str  # 'baseline', 'empty' or 'queued'
    event_id: int | None
    created_at: datetime


QueuedEvent = tuple[AnyEvent, Sequence[OutboxMessage]]


@dataclass(frozen=True)
class PollRecord:
    """Everything one poll of one source records, written in one transaction by `commit_poll`:
    validators, new releases, events with their outbox messages, the deprecation notices and their
    channel reaches, the roadmap items seen and the ids of the source's items no longer listed.
    `error` set means the poll (partly) failed; it counts towards the source's failure streak."""

    source: str
    now: datetime
    documents: Sequence[DocumentUpdate] = ()
    new_releases: Sequence[Release] = ()
    events: Sequence[QueuedEvent] = ()
    error: str | None = None
    notices: Sequence[Notice] = ()
    reaches: Sequence[Reach] = ()
    roadmap_items: Sequence[RoadmapItem] = ()
    roadmap_absent: Sequence[str] = ()

    def __post_init__(self) -> None:
        # a frozen record: the sequences it was given are copied, so later changes to them do not leak in
        for name in (
            "documents",
            "new_releases",
            "events",
            "notices",
            "reaches",
            "roadmap_items",
            "roadmap_absent",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @classmethod
    def failure(cls, source: str, *, now: datetime, error: str) -> PollRecord:
        """A failed poll: nothing changes but the source's status."""
        return cls(source=source, now=now, error=error)
