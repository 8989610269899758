"""Explicit (de)serialisation of the model records the store keeps as JSON.

Every record type has a `Fields` spec naming each field and how it is stored: as is, a timestamp
(ISO 8601, UTC), a tuple (a JSON list) or a mapping (a JSON object). Nothing is guessed from type
hints; `tests/test_store.py` checks that every spec covers every field of its dataclass, so a field
added to the model without a codec entry fails the tests instead of being stored wrongly.
A key missing from an older payload takes the field's default; unknown keys are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

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
    SummaryEvent,
    SummaryRoute,
)

T = TypeVar("T")


def ts(value: datetime | None) -> str | None:
    """A timestamp as stored: ISO 8601 in UTC (None stays None)."""
    return value.astimezone(UTC).isoformat() if value else None


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _same(value: Any) -> Any:
    return value


def _list(value: Any) -> Any:
    return list(value)


def _tuple(value: Any) -> Any:
    return tuple(value)


def _dict(value: Any) -> Any:
    return dict(value)


#: how each kind of field is (encoded, decoded); None values stay None
KINDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "plain": (_same, _same),
    "datetime": (ts, dt),
    "tuple": (_list, _tuple),
    "mapping": (_dict, _dict),
}


@dataclass(frozen=True)
class Fields:
    """The stored form of one record type: (field name, kind) for every field, in order."""

    cls: type
    fields: tuple[tuple[str, str], ...]

    def encode(self, record: Any) -> dict[str, Any]:
        if type(record) is not self.cls:
            raise TypeError(f"expected a {self.cls.__name__}, got {type(record).__name__}")
        out: dict[str, Any] = {}
        for name, kind in self.fields:
            value = getattr(record, name)
            out[name] = None if value is None else KINDS[kind][0](value)
        return out

    def decode(self, data: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, kind in self.fields:
            if name in data:
                value = data[name]
                values[name] = None if value is None else KINDS[kind][1](value)
        return self.cls(**values)


RELEASE = Fields(
    Release,
    (
        ("source", "plain"),
        ("project", "plain"),
        ("stream", "plain"),
        ("channel", "plain"),
        ("version", "plain"),
        ("title", "plain"),
        ("published", "datetime"),
        ("link", "plain"),
        ("packages", "mapping"),
        ("notes", "plain"),
        ("notes_format", "plain"),
        ("architectures", "tuple"),
    ),
)
NOTICE = Fields(
    Notice,
    (
        ("source", "plain"),
        ("project", "plain"),
        ("id", "plain"),
        ("text", "plain"),
        ("summary", "plain"),
        ("channel", "plain"),
        ("stream", "plain"),
        ("version", "plain"),
        ("published", "datetime"),
        ("link", "plain"),
        ("heading", "plain"),
        ("links", "tuple"),
    ),
)
REACH = Fields(
    Reach,
    (
        ("source", "plain"),
        ("notice_id", "plain"),
        ("channel", "plain"),
        ("stream", "plain"),
        ("version", "plain"),
        ("published", "datetime"),
        ("link", "plain"),
    ),
)
ROADMAP_ITEM = Fields(
    RoadmapItem,
    (
        ("source", "plain"),
        ("project", "plain"),
        ("id", "plain"),
        ("title", "plain"),
        ("url", "plain"),
        ("status", "plain"),
        ("state", "plain"),
        ("labels", "tuple"),
        ("number", "plain"),
        ("repo", "plain"),
        ("kind", "plain"),
        ("updated", "datetime"),
        ("body", "plain"),
        ("created", "datetime"),
    ),
)

#: the flat record types and their specs
RECORDS: dict[type, Fields] = {spec.cls: spec for spec in (RELEASE, NOTICE, REACH, ROADMAP_ITEM)}


def record_to_dict(record: Any) -> dict[str, Any]:
    """A flat model record (Release, Notice, Reach, RoadmapItem) as JSON-able data."""
    spec = RECORDS.get(type(record))
    if spec is None:
        raise TypeError(f"no stored form for {type(record).__name__}")
    return spec.encode(record)


def record_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of record_to_dict."""
    spec = RECORDS.get(cls)
    if spec is None:
        raise TypeError(f"no stored form for {cls.__name__}")
    record: T = spec.decode(data)
    return record


def release_to_dict(release: Release) -> dict[str, Any]:
    return RELEASE.encode(release)


def release_from_dict(data: Mapping[str, Any]) -> Release:
    release: Release = RELEASE.decode(data)
    return release


def notice_to_dict(notice: Notice) -> dict[str, Any]:
    return NOTICE.encode(notice)


def notice_from_dict(data: Mapping[str, Any]) -> Notice:
    notice: Notice = NOTICE.decode(data)
    return notice


def reach_to_dict(reach: Reach) -> dict[str, Any]:
    return REACH.encode(reach)


def reach_from_dict(data: Mapping[str, Any]) -> Reach:
    reach: Reach = REACH.decode(data)
    return reach


def roadmap_item_to_dict(item: RoadmapItem) -> dict[str, Any]:
    return ROADMAP_ITEM.encode(item)


def roadmap_item_from_dict(data: Mapping[str, Any]) -> RoadmapItem:
    item: RoadmapItem = ROADMAP_ITEM.decode(data)
    return item


def summary_to_dict(event: SummaryEvent) -> dict[str, Any]:
    """A flood's summary: the newest releases it names (as releases are stored, without notes) and the
    routes of all it summarises, as [channel, stream, kind, security] lists."""
    return {
        "kind": event.kind,
        "source": event.source,
        "project": event.project,
        "document": event.document,
        "count": event.count,
        "newest": [release_to_dict(r) for r in event.newest],
        "oldest_published": ts(event.oldest_published),
        "routes": [[r.channel, r.stream, r.kind, r.security] for r in event.routes],
    }


def summary_from_dict(data: Mapping[str, Any]) -> SummaryEvent:
    return SummaryEvent(
        source=data["source"],
        project=data["project"],
        document=data["document"],
        count=int(data["count"]),
        newest=tuple(release_from_dict(r) for r in data["newest"]),
        oldest_published=dt(data.get("oldest_published")),
        routes=tuple(SummaryRoute(c, s, k, bool(sec)) for c, s, k, sec in data.get("routes", [])),
    )


def event_to_dict(event: AnyEvent) -> dict[str, Any]:
    """JSON-able form of any event; release events keep their original payload format."""
    if isinstance(event, SummaryEvent):
        return summary_to_dict(event)
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
    if data["kind"] == "summary":
        return summary_from_dict(data)
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
