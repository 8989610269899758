"""Plain model objects that flow source → snapshot → events → outbox. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EventKind = Literal["release", "promotion"]
EVENT_KINDS: tuple[str, ...] = ("release", "promotion")

#: Packages an announcement names, in this order, when the source reports them.
KEY_PACKAGES: tuple[str, ...] = ("kernel", "systemd", "docker", "containerd", "ignition")

#: Flatcar's channel ladder: a major version moves alpha → beta → stable → lts.
CHANNEL_ORDER: tuple[str, ...] = ("alpha", "beta", "stable", "lts")


@dataclass(frozen=True)
class Release:
    """One release of one stream, as a source reported it. Text fields are untrusted."""

    source: str
    project: str
    stream: str
    channel: str
    version: str
    title: str = ""
    published: datetime | None = None
    link: str | None = None
    packages: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
    notes_format: Literal["markdown", "html", "text"] = "text"
    architectures: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.stream, self.version)

    @property
    def major(self) -> str:
        return self.version.split(".", 1)[0]


@dataclass(frozen=True)
class Document:
    """One fetched and parsed document of a source (e.g. releases-beta.json)."""

    name: str
    releases: tuple[Release, ...]


@dataclass(frozen=True)
class Snapshot:
    """What one poll of one source returned. Only documents that changed are present."""

    source: str
    documents: tuple[Document, ...]


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Event:
    """Something worth announcing. `key` is built from meaning, never from feed ids or text."""

    kind: EventKind
    release: Release
    previous: Release | None = None
    promoted_from: str | None = None
    changes: tuple[PackageChange, ...] = ()

    @property
    def key(self) -> str:
        source, stream, version = self.release.key
        return f"{self.kind}:{source}/{stream}/{version}"


_NUM = re.compile(r"\d+|[^\d.]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for dotted versions: numeric parts compare as numbers ('4593.2.10' > '4593.2.9')."""
    parts: list[tuple[int, int | str]] = []
    for token in _NUM.findall(version):
        if token.isdigit():
            parts.append((1, int(token)))
        else:
            parts.append((0, token))
    return tuple(parts)
