"""The store on SQLite: the store suite (tests/store_suite.py: one transaction per poll, the outbox, the
thread index, delivery marks, pruning — written against `StateStore`, run here with a `store` fixture
parametrised over SQLite backends and in tests/integration/test_store_pg.py over PostgreSQL), the
explicit codec, and the SQLite backend's versioned schema and migrations."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.messages import sample_events
from bot.store import (
    SCHEMA_VERSION,
    DocumentUpdate,
    PollRecord,
    SqliteStore,
    StateStore,
    Store,
)
from bot.store.codec import RECORDS
from tests import store_suite
from tests.helpers import DATA

# the whole store suite, collected here for SQLite: every test_* of tests/store_suite.py, so a new one
# runs on both backends without being listed twice
globals().update({name: test for name, test in vars(store_suite).items() if name.startswith("test_")})

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)

#: backend name → how to open an empty store in a test's directory
BACKENDS: dict[str, Callable[[Path], StateStore]] = {
    "sqlite": lambda tmp_path: SqliteStore(tmp_path / "s.sqlite3"),
    "sqlite-memory": lambda tmp_path: SqliteStore(":memory:"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    with BACKENDS[request.param](tmp_path) as opened:
        yield opened


def test_model_records_round_trip_and_old_payloads_take_defaults() -> None:
    from bot.model import Notice, Reach, RoadmapItem
    from bot.store import record_from_dict, record_to_dict

    item = RoadmapItem(
        source="gh",
        project="Flatcar",
        id="flatcar/Flatcar#1",
        title="cgroups v2",
        url="https://x/1",
        status="In progress",
        labels=("kind/roadmap",),
        number=1,
        updated=NOW,
        created=NOW,
    )
    notice = Notice(
        source="flatcar",
        project="Flatcar",
        id="n1",
        text="rkt is deprecated",
        summary="rkt",
        channel="alpha",
        stream="alpha",
        version="2857.0.0",
        published=NOW,
        links=("https://x",),
    )
    reach = Reach(source="flatcar", notice_id="n1", channel="beta", stream="beta", version="2905.1.0")
    for record in (item, notice, reach, sample_events()[0].release):
        data = record_to_dict(record)
        assert record_from_dict(type(record), data) == record
    old = record_to_dict(item)
    del old["created"]  # a payload written before the field existed
    assert record_from_dict(RoadmapItem, old).created is None


def test_every_codec_spec_names_every_field_of_its_record() -> None:
    """A field added to a model record without a codec entry fails here, not silently in the state."""
    for cls, spec in RECORDS.items():
        assert [name for name, _ in spec.fields] == [f.name for f in dataclasses.fields(cls)], cls.__name__
    with pytest.raises(TypeError, match="no stored form"):
        from bot.store import record_to_dict

        record_to_dict(sample_events()[0])  # an event is not a flat record


def test_a_poll_record_is_frozen_and_keeps_what_it_was_given() -> None:
    documents = [DocumentUpdate("d", "http://x/d", None, None, "h", True)]
    poll = PollRecord("s", now=NOW, documents=documents)
    documents.append(DocumentUpdate("e", "http://x/e", None, None, "h", True))
    assert poll.documents == (DocumentUpdate("d", "http://x/d", None, None, "h", True),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        poll.error = "x"  # type: ignore[misc]
    assert PollRecord.failure("s", now=NOW, error="boom") == PollRecord("s", now=NOW, error="boom")


# -- the SQLite backend: schema versions and migrations ----------------------------------------


def test_new_database_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.schema_version == SCHEMA_VERSION
    with Store(tmp_path / "s.sqlite3") as store:  # reopening migrates nothing
        assert store.schema_version == SCHEMA_VERSION


def test_database_from_a_newer_release_bot_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer release-bot"):
        Store(path)
    assert path.read_bytes() == before


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_text("hello, I am a text file" * 100)
    with pytest.raises(StoreError, match="not a usable release-bot state database"):
        Store(path)


def _schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [(t, n, " ".join((q or "").split())) for t, n, q in rows]


def test_a_state_file_of_schema_3_is_migrated_with_its_data(tmp_path: Path) -> None:
    """tests/data/state-v3.sqlite3 was written by the last single-module store (schema 3): a mail list,
    two channels of the IRC output `net` (two permanent failures on #flatcar), the output `net-2`, a
    digest baseline; the flatcar alpha 4230.0.0 release, 4230.0.1, the beta 4230.1.0 promotion, and
    the sample events."""
    path = tmp_path / "state.sqlite3"
    shutil.copy(DATA / "state-v3.sqlite3", path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
        before = raw.execute("SELECT id, sink, state, message_id, payload FROM outbox ORDER BY id").fetchall()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        groups = store.outbox_groups()
        assert sorted(groups) == ["list", "net", "net-2"]
        assert sorted(groups["net"]) == ["net/#flatcar", "net/#flatcar-dev"]
        assert groups["net"]["net/#flatcar"] == {"failed": 2, "queued": 4}
        assert store.requeue_failed("net-2") == 0
        assert store.requeue_failed("net") == 2
        # thread index: the mails that opened major 4230 (alpha 4230.0.0, the beta promotion)
        starts = store.thread_starts("list", source="flatcar", major="4230")
        assert [s.event_key for s in starts] == [
            "release:flatcar/alpha/4230.0.0",
            "promotion:flatcar/beta/4230.1.0",
        ]
        assert [s.message_id for s in starts] == ["<0.list@x>", "<2.list@x>"]
        # everything else reads as before
        assert len(store.events()) == 6 and store.documents("flatcar")
        assert store.last_digest("list") is not None
        assert len(store.pending("list", now=NOW)) == 5
        db = store._db
        after = db.execute(
            """SELECT o.id, o.sink, o.state, o.message_id, b.payload FROM outbox o
               JOIN outbox_bodies b ON b.outbox_id = o.id ORDER BY o.id"""
        ).fetchall()  # schema 5: the bodies moved to a table of their own, every one of them
        assert len(after) == len(before)
        assert [tuple(r)[1:] for r in after if r[1] != "net/#flatcar"] == [
            tuple(r)[1:] for r in before if r[1] != "net/#flatcar"
        ]
        migrated = _schema(db)
    with Store(tmp_path / "fresh.sqlite3") as fresh:
        assert migrated == _schema(fresh._db)  # a migrated file has exactly the schema of a new one


def test_the_thread_lookup_and_the_delivery_reads_use_their_indexes(tmp_path: Path) -> None:
    """The per-event and per-message reads are index lookups, never scans of the history."""
    with Store(tmp_path / "s.sqlite3") as store:
        db = store._db

        def plan(sql: str, *args: object) -> str:
            return " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))

        thread = plan(store.THREAD_SQL + " ORDER BY event_id", "list", "flatcar", "4230")
        assert "USING INDEX threads_by_key" in thread and "SCAN" not in thread.replace("TEMP B-TREE", "")
        pending = plan(store.PENDING_SQL, "list", 100)
        assert "SEARCH o USING INDEX outbox_pending" in pending and "SCAN" not in pending
        requeue = plan(store.REQUEUE_SQL + " AND sink_group = ?", "net")
        assert "INDEX outbox_open" in requeue and "SCAN" not in requeue
        # the prune reads the delivered messages that still have a body, not every delivered one
        prune = plan("SELECT id FROM outbox WHERE " + store.PRUNE_WHERE, "2025-01-01")
        assert "INDEX outbox_unpruned" in prune and "SCAN" not in prune
