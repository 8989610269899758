"""Release notes are stored once: in `releases`. An event's payload names its release (and the previous
one) by (source, stream, version); when the notes it would carry are exactly those stored with that
release, they are left out of the payload (`"notes_ref": true`) and put back when the event is read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.base import Connection

NOTES_SQL = "SELECT notes FROM releases WHERE source = ? AND stream = ? AND version = ?"


def _stored(db: Connection, release: dict[str, Any]) -> str | None:
    row = db.execute(NOTES_SQL, (release["source"], release["stream"], release["version"])).fetchone()
    return None if row is None else str(row[0])


def shared_notes(db: Connection, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload to store: release notes that `releases` holds already replaced by a reference."""
    if payload.get("kind") not in ("release", "promotion"):
        return payload
    for key in ("release", "previous"):
        release = payload.get(key)
        if isinstance(release, dict) and release.get("notes") and _stored(db, release) == release["notes"]:
            del release["notes"]
            release["notes_ref"] = True
    return payload


def with_notes(db: Connection, payload: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `shared_notes`, on a payload read back."""
    for key in ("release", "previous"):
        release = payload.get(key)
        if isinstance(release, dict) and release.pop("notes_ref", False):
            release["notes"] = _stored(db, release) or ""
    return payload
