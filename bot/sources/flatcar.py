"""Flatcar's per-channel releases JSON (www.flatcar.org/releases-json/releases-<channel>.json).

Each file maps a version to its record; the `current*` keys are pointers (copies of one record), not
releases. LTS releases of several yearly streams share the channel `lts`: a release's stream is taken
from the file it came from (`releases-lts-2024.json`) or, in `releases-lts.json`, from the
`current-YYYY` pointer of its major version.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.channels import FLATCAR_CHANNELS
from bot.errors import ParseError
from bot.model import Document, Release

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_POINTER = re.compile(r"^current(?:-(\d{4}))?$")
_LTS_FILE = re.compile(r"releases-lts-(\d{4})\.json$")

CHANNELS: tuple[str, ...] = FLATCAR_CHANNELS


def document_name(channel: str) -> str:
    """The file name of a channel (`stable`) or LTS stream (`lts-2024`)."""
    return f"releases-{channel}.json"


def parse_release_date(value: str) -> datetime:
    """'2018-04-25 14:36:41 +0000' → aware UTC datetime."""
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise ValueError(f"unrecognised release_date {value!r}")


def _loose(value: Any) -> Any:
    """Old records store lists/dicts as their Python repr ("['amd64']"); newer ones as JSON values."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except ValueError:
                return ast.literal_eval(text)
    return value


def _packages(value: Any) -> dict[str, str]:
    data = _loose(value)
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError("major_software is not a mapping")
    packages: dict[str, str] = {}
    for name, versions in data.items():
        many = isinstance(versions, list | tuple)
        packages[str(name)] = ", ".join(str(v) for v in versions) if many else str(versions)
    return packages


def _architectures(value: Any) -> tuple[str, ...]:
    data = _loose(value)
    if not data:
        return ()
    if isinstance(data, str):
        return (data,)
    return tuple(str(a) for a in data)


def parse_releases_json(
    body: bytes,
    *,
    source: str,
    project: str,
    url: str,
    doc_name: str,
    release_link: str = "https://www.flatcar.org/releases#release-{version}",
) -> Document:
    """Parse one releases JSON file into a Document. Raises ParseError naming the source and URL."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        head = body[:200].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html", b"<")):
            raise ParseError("expected JSON, got an HTML/XML page", source=source, url=url) from exc
        raise ParseError(f"not valid JSON: {exc}", source=source, url=url) from exc
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}", source=source, url=url)

    file_stream = None
    match = _LTS_FILE.search(doc_name)
    if match:
        file_stream = f"lts-{match.group(1)}"

    records: dict[str, Mapping[str, Any]] = {}
    pointers: dict[str, Mapping[str, Any]] = {}
    for key, record in data.items():
        if not isinstance(record, Mapping):
            raise ParseError(f"entry {key!r} is not an object", source=source, url=url)
        if _POINTER.match(key):
            pointers[key] = record
        elif _VERSION.match(key):
            records[key] = record
        else:
            raise ParseError(
                f"unexpected key {key!r} (neither a version nor a current* pointer)", source=source, url=url
            )

    # major version → LTS stream, from the current-YYYY pointers (a pointer is a copy of a record).
    lts_majors: dict[str, str] = {}
    for key, record in pointers.items():
        year = _POINTER.match(key).group(1)  # type: ignore[union-attr]
        if not year:
            continue
        for version, candidate in records.items():
            if candidate == record:
                lts_majors[version.split(".", 1)[0]] = f"lts-{year}"
                break

    releases: list[Release] = []
    for version, record in records.items():
        try:
            channel = str(record["channel"])
            published = (
                parse_release_date(str(record["release_date"])) if record.get("release_date") else None
            )
            packages = _packages(record.get("major_software"))
            architectures = _architectures(record.get("architectures"))
        except (KeyError, ValueError, SyntaxError, TypeError) as exc:
            raise ParseError(f"entry {version!r}: {exc}", source=source, url=url) from exc
        if channel == "lts":
            stream = file_stream or lts_majors.get(version.split(".", 1)[0], "lts")
        else:
            stream = channel
        notes = record.get("release_notes") or ""
        releases.append(
            Release(
                source=source,
                project=project,
                stream=stream,
                channel=channel,
                version=version,
                title=f"{project} {channel} {version}",
                published=published,
                link=release_link.format(version=version, channel=channel, stream=stream),
                packages=packages,
                notes=str(notes),
                notes_format="markdown",
                architectures=architectures,
            )
        )
    return Document(name=doc_name, releases=tuple(releases))
