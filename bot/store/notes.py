"""Releases are stored once: in `releases`. An event's payload names its release (and the previous
one) by (source, stream, version). When the release it would carry is exactly the one stored, the
payload keeps only that key, a JSON list `[source, stream, version]` in place of the release object
(the compact form); when only the notes are the stored ones, they are left out (`"notes_ref": true`,
the form of earlier versions); otherwise the release is written whole. Reading puts back what was
left out, so all three forms — and full payloads written by earlier versions — decode alike."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.store.base import Connection

NOTES_SQL = "SELECT notes FROM releases WHERE source = ? AND stream = ? AND version = ?"
#: the columns of `releases` that make a release's stored form (`codec.RELEASE`), in its order
RELEASE_SQL = """SELECT source, project, stream, channel, version, title, published, link, packages,
                        notes, notes_format, architectures
                 FROM releases WHERE source = ? AND stream = ? AND version = ?"""
_SLOTS = ("release", "previous")


def _stored(db: Connection, release: dict[str, Any]) -> str | None:
    row = db.execute(NOTES_SQL, (release["source"], release["stream"], release["version"])).fetchone()
    return None if row is None else str(row[0])


def stored_release(db: Connection, source: str, stream: str, version: str) -> dict[str, Any] | None:
    """The release (source, stream, version) as `codec.release_to_dict` gives it, or None."""
    row = db.execute(RELEASE_SQL, (source, stream, version)).fetchone()
    if row is None:
        return None
    names = ("source", "project", "stream", "channel", "version", "title", "published", "link")
    data: dict[str, Any] = dict(zip(names, row[:8], strict=True))
    data["packages"] = json.loads(row[8])
    data["notes"] = row[9]
    data["notes_format"] = row[10]
    data["architectures"] = json.loads(row[11])
    return data


def shared_notes(db: Connection, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload to store: a release that `releases` holds as is replaced by its key, else its notes
    by a reference when they are the stored ones."""
    if payload.get("kind") not in ("release", "promotion"):
        return payload
    for slot in _SLOTS:
        release = payload.get(slot)
        if not isinstance(release, dict):
            continue
        key = (release["source"], release["stream"], release["version"])
        if stored_release(db, *key) == release:
            payload[slot] = list(key)
        elif release.get("notes") and _stored(db, release) == release["notes"]:
            del release["notes"]
            release["notes_ref"] = True
    return payload


def with_notes(db: Connection, payload: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `shared_notes`, on a payload read back (any of its forms)."""
    for slot in _SLOTS:
        release = payload.get(slot)
        if isinstance(release, list):
            source, stream, version = release
            full = stored_release(db, source, stream, version)
            if full is None:
                raise StoreError(
                    f"event {payload.get('kind')} {source}/{stream}/{version}: its {slot} release "
                    "is not in the releases table"
                )
            payload[slot] = full
        elif isinstance(release, dict) and release.pop("notes_ref", False):
            release["notes"] = _stored(db, release) or ""
    return payload
