"""Small helpers shared by tests: real data loading and golden files."""

from __future__ import annotations

import gzip
import os
import socket
from pathlib import Path
from typing import TypeVar

import pytest

from bot.model import Document, Release, Snapshot
from bot.sources.flatcar import parse_releases_json

T = TypeVar("T")

DATA = Path(__file__).resolve().parent / "data"
HISTORY = DATA / "history"
SNAPSHOTS = tuple(sorted(p.name for p in HISTORY.iterdir() if p.is_dir()))
CHANNEL_FILES = ("alpha", "beta", "stable", "lts")


def history_bytes(snapshot: str, name: str) -> bytes:
    return gzip.decompress((HISTORY / snapshot / f"releases-{name}.json.gz").read_bytes())


def history_snapshot(snapshot: str, channels: tuple[str, ...] = CHANNEL_FILES) -> Snapshot:
    documents = []
    for channel in channels:
        name = f"releases-{channel}.json"
        documents.append(
            parse_releases_json(
                history_bytes(snapshot, channel), source="flatcar", project="Flatcar", url=name, doc_name=name
            )
        )
    return Snapshot("flatcar", tuple(documents))


def known_from(snapshot: Snapshot) -> dict[tuple[str, str], Release]:
    return {(r.stream, r.version): r for d in snapshot.documents for r in d.releases}


def only(snapshot: Snapshot, *names: str) -> Snapshot:
    return Snapshot(snapshot.source, tuple(d for d in snapshot.documents if d.name in names))


def replace_doc(snapshot: Snapshot, document: Document) -> Snapshot:
    return Snapshot(
        snapshot.source, tuple(document if d.name == document.name else d for d in snapshot.documents)
    )


def check_golden(path: Path, actual: str) -> None:
    """Compare with a reviewed golden file. A missing golden file fails (as rss2email's tests do): it
    is written only with UPDATE_GOLDEN=1, which rewrites every golden the run touches — review the diff."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        raise AssertionError(f"golden file {path} is missing: UPDATE_GOLDEN=1 writes it, then review it")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path} (UPDATE_GOLDEN=1 to accept, then review)"


#: When "1" (CI sets it), a real-server test that cannot run here fails instead of skipping.
REQUIRE_ENV = "RELEASE_BOT_REQUIRE_SERVERS"


def require_or_skip(reason: str) -> None:
    """Skip a real-server test that cannot run here, or fail it when REQUIRE_ENV=1 (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """TCP ports on `host` that were free a moment ago (bound together, so the numbers are distinct)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def narrow(value: object, cls: type[T]) -> T:
    """`value` as a `cls` — e.g. a config output of the kind the test configured — or a clear failure."""
    assert isinstance(value, cls), f"expected a {cls.__name__}, got {type(value).__name__}"
    return value
