"""Flatcar's per-channel releases JSON (www.flatcar.org/releases-json/releases-<channel>.json).

Each file maps a version to its record; the `current*` keys are pointers (copies of one record), not
releases. LTS releases of several yearly streams share the channel `lts`: a release's stream is taken
from the file it came from (`releases-lts-2024.json`) or, in `releases-lts.json`, from the
`current-YYYY` pointer of its major version.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.channels import FLATCAR_CHANNELS
from bot.errors import ParseError
from bot.model import Document, Release
from bot.sources.limits import (
    MAX_ARCHITECTURE,
    MAX_ARCHITECTURES,
    MAX_LINK,
    MAX_LOOSE,
    MAX_PACKAGE_NAME,
    MAX_PACKAGE_VERSION,
    MAX_PACKAGES,
    MAX_RECORDS,
    MAX_TITLE,
    cap_notes,
    cap_text,
    shown,
)

log = logging.getLogger("release-bot")

_VERSION = re.compile(r"^\d{1,9}\.\d{1,9}\.\d{1,9}$")
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
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
            if len(text) > MAX_LOOSE:
                raise ValueError(f"value of {len(text)} characters (more than {MAX_LOOSE})")
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
    if len(data) > MAX_PACKAGES:
        raise ValueError(f"major_software has {len(data)} entries (more than {MAX_PACKAGES})")
    packages: dict[str, str] = {}
    for name, versions in data.items():
        many = isinstance(versions, list | tuple)
        if many and not all(isinstance(v, str | int | float) for v in versions):
            raise ValueError(f"major_software {shown(name)}: versions are not a list of strings")
        if not many and not isinstance(versions, str | int | float):
            raise ValueError(f"major_software {shown(name)}: {type(versions).__name__} is not a version")
        text = ", ".join(str(v) for v in versions) if many else str(versions)
        packages[cap_text(str(name), MAX_PACKAGE_NAME)] = cap_text(text, MAX_PACKAGE_VERSION)
    return packages


def _architectures(value: Any) -> tuple[str, ...]:
    data = _loose(value)
    if not data:
        return ()
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list | tuple) or not all(isinstance(a, str) for a in data):
        raise ValueError("architectures is not a list of names")
    if len(data) > MAX_ARCHITECTURES:
        raise ValueError(f"architectures has {len(data)} entries (more than {MAX_ARCHITECTURES})")
    return tuple(cap_text(a, MAX_ARCHITECTURE) for a in data)


def _channel(value: Any) -> str:
    if not isinstance(value, str) or not _CHANNEL.match(value):
        raise ValueError(f"channel {shown(value)} is not a channel name")
    return value


def _release(
    version: str,
    record: Mapping[str, Any],
    *,
    source: str,
    project: str,
    file_stream: str | None,
    lts_majors: Mapping[str, str],
    release_link: str,
) -> Release:
    """One record → Release; raises ValueError (or KeyError, TypeError, SyntaxError, RecursionError)
    for a record that cannot be read."""
    channel = _channel(record["channel"])
    date = record.get("release_date")
    if date is not None and not isinstance(date, str):
        raise ValueError(f"release_date is a {type(date).__name__}, not a date")
    published = parse_release_date(date[:64]) if date else None
    packages = _packages(record.get("major_software"))
    architectures = _architectures(record.get("architectures"))
    stream = channel
    if channel == "lts":
        stream = file_stream or lts_majors.get(version.split(".", 1)[0], "lts")
    notes = record.get("release_notes") or ""
    if not isinstance(notes, str):
        raise ValueError(f"release_notes is a {type(notes).__name__}, not text")
    link = release_link.format(version=version, channel=channel, stream=stream)
    return Release(
        source=source,
        project=project,
        stream=stream,
        channel=channel,
        version=version,
        title=cap_text(f"{project} {channel} {version}", MAX_TITLE),
        published=published,
        link=link if len(link) <= MAX_LINK else None,
        packages=packages,
        notes=cap_notes(notes),
        notes_format="markdown",
        architectures=architectures,
    )


def parse_releases_json(
    body: bytes,
    *,
    source: str,
    project: str,
    url: str,
    doc_name: str,
    release_link: str = "https://www.flatcar.org/releases#release-{version}",
    warnings: list[str] | None = None,
) -> Document:
    """Parse one releases JSON file into a Document. Raises ParseError naming the source and URL when
    the file as a whole is unusable (not JSON, not an object, nested too deeply).

    A record that cannot be read (a `release_date` of "next tuesday", no `channel`, a list instead of
    an object, an unknown key, a field over its limit in `bot.sources.limits`) is skipped with one
    warning naming it; the others are read. The warnings are appended to `warnings`; without that
    list they are logged.
    """
    notes: list[str] = [] if warnings is None else warnings
    try:
        return _parse(
            body,
            source=source,
            project=project,
            url=url,
            doc_name=doc_name,
            release_link=release_link,
            warnings=notes,
        )
    except RecursionError:
        raise ParseError("JSON nested too deeply", source=source, url=url) from None
    finally:
        if warnings is None:
            for warning in notes:
                log.warning("source %r (%s): %s", source, url, warning)


def _parse(
    body: bytes,
    *,
    source: str,
    project: str,
    url: str,
    doc_name: str,
    release_link: str,
    warnings: list[str],
) -> Document:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        head = body[:200].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html", b"<")):
            raise ParseError("expected JSON, got an HTML/XML page", source=source, url=url) from None
        raise ParseError(f"not valid JSON: {cap_text(str(exc), 200)}", source=source, url=url) from None
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
            warnings.append(f"entry {shown(key)} skipped: a {type(record).__name__}, not an object")
        elif _POINTER.match(key):
            pointers[key] = record
        elif _VERSION.match(key):
            records[key] = record
        else:
            warnings.append(f"entry {shown(key)} skipped: neither a version nor a current* pointer")
    if len(records) > MAX_RECORDS:
        newest = sorted(records, key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)
        keep = set(newest[:MAX_RECORDS])
        warnings.append(
            f"{len(records)} releases, more than {MAX_RECORDS}: only the newest {MAX_RECORDS} read"
        )
        records = {k: v for k, v in records.items() if k in keep}

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
            releases.append(
                _release(
                    version,
                    record,
                    source=source,
                    project=project,
                    file_stream=file_stream,
                    lts_majors=lts_majors,
                    release_link=release_link,
                )
            )
        except KeyError as exc:
            warnings.append(f"entry {shown(version)} skipped: no {exc}")
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError | MemoryError) else str(exc)
            warnings.append(f"entry {shown(version)} skipped: {cap_text(reason, 200)}")
    return Document(name=doc_name, releases=tuple(releases))
