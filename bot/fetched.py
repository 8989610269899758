"""What a fetch of a source produced, as plain data (no I/O): the pipeline plans a poll from it.

Kept out of `bot.sources` so pure code can read it without loading the HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.model import Document

if TYPE_CHECKING:
    from bot.roadmap import RoadmapDocument

__all__ = ["DocumentUpdate", "ReleaseFetch", "RoadmapDocument", "RoadmapFetch", "SourceFetch"]


def __getattr__(name: str) -> object:
    if name == "RoadmapDocument":  # re-exported; `bot.roadmap` is loaded when a roadmap is read
        from bot.roadmap import RoadmapDocument

        return RoadmapDocument
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DocumentUpdate:
    """A fetched document: new validators and whether its body was parsed into the snapshot."""

    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    changed: bool
    #: the memo of a plain Atom body's entries (`bot.sources.feedmemo`); None keeps the stored one
    entries: bytes | None = None


@dataclass
class SourceFetch:
    """One poll's fetch of a source: validators to store, errors (per document: the other documents
    are still read), parser warnings, and — when rate limited beyond `rate_limit_wait` — how long to
    wait before the next poll."""

    updates: list[DocumentUpdate] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retry_after: float | None = None
    rate_limited: str | None = None  # the message, when the poll stopped for a rate limit


@dataclass
class ReleaseFetch(SourceFetch):
    """A release source's fetch: the documents parsed (a 304 is only an update), in configured order."""

    documents: list[Document] = field(default_factory=list)
    #: the release notes announce deprecations (Flatcar): the pipeline looks for notices in them
    deprecation_notes: bool = False


@dataclass
class RoadmapFetch(SourceFetch):
    """A roadmap source's fetch: the listings read (a 304 is only an update)."""

    documents: list[RoadmapDocument] = field(default_factory=list)
    #: every listing of the source: a known item is only absent when each was read completely
    every_document: tuple[str, ...] = ()
