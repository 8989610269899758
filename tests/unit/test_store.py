"""The store: one transaction per poll, the outbox, the thread index, the explicit codec — written
against the `StateStore` interface with a `store` fixture parametrised by backend, so a second
backend runs the same tests — and the SQLite backend's versioned schema and migrations."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.messages import sample_events
from bot.model import Event, Release
from bot.store import (
    SCHEMA_VERSION,
    DocumentUpdate,
    OutboxMessage,
    PollRecord,
    SqliteStore,
    StateStore,
    Store,
    ThreadKey,
    ThreadStart,
)
from bot.store.codec import RECORDS
from tests.helpers import DATA

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


def test_commit_poll_is_one_transaction(store: StateStore) -> None:
    """A failure while writing the outbox rolls back the releases and validators of that poll."""
    event = sample_events()[0]
    bad = OutboxMessage(sink="x", message_id="<a@b>", payload={"not json": object()})
    with pytest.raises(TypeError):
        store.commit_poll(
            PollRecord(
                "sample",
                now=NOW,
                documents=[DocumentUpdate("d", "http://x/d", '"e"', None, "h", True)],
                new_releases=[event.release],
                events=[(event, [bad])],
            )
        )
    assert store.known_releases("sample") == {}
    assert store.documents("sample") == {}
    assert store.events() == []


def test_event_keys_are_unique_and_outbox_rows_follow_them(store: StateStore) -> None:
    event = sample_events()[0]
    message = OutboxMessage(sink="mbox", message_id="<m@x>", payload={"text": "t"})
    first = store.commit_poll(
        PollRecord("sample", now=NOW, documents=[], new_releases=[event.release], events=[(event, [message])])
    )
    again = store.commit_poll(
        PollRecord("sample", now=NOW, documents=[], new_releases=[event.release], events=[(event, [message])])
    )
    assert len(first) == 1 and again == []
    assert store.outbox_counts() == {"mbox": {"queued": 1}}
    ((stored_id, stored),) = store.events()
    assert stored_id == first[0]
    assert stored == event  # the payload round-trips exactly


def test_outbox_retry_and_permanent_failure(store: StateStore) -> None:
    events = sample_events()
    store.commit_poll(
        PollRecord(
            "sample",
            now=NOW,
            documents=[],
            new_releases=[],
            events=[(e, [OutboxMessage("mail", f"<{i}@x>", {"n": i})]) for i, e in enumerate(events)],
        )
    )
    first, second, third = store.pending("mail", now=NOW)
    store.mark_attempt_failed(
        first.id, error="421 try later", permanent=False, retry_at=NOW + timedelta(minutes=1)
    )
    assert store.pending("mail", now=NOW) == []  # order kept: the rest waits for the retry
    due = store.pending("mail", now=NOW + timedelta(minutes=2))
    assert [i.id for i in due] == [first.id, second.id, third.id]
    assert due[0].attempts == 1
    store.mark_attempt_failed(first.id, error="550 no such list", permanent=True, retry_at=None)
    store.mark_delivered(second.id, now=NOW)
    assert [i.id for i in store.pending("mail", now=NOW)] == [third.id]
    assert store.outbox_counts()["mail"] == {"failed": 1, "delivered": 1, "queued": 1}
    errors = store.outbox_errors("mail")
    assert errors[0][2:] == ("failed", "550 no such list")


def test_source_status_counts_failure_streaks(store: StateStore) -> None:
    assert store.record_failure("s", now=NOW, error="boom") == 1
    assert store.record_failure("s", now=NOW, error="boom") == 2
    store.commit_poll(PollRecord("s", now=NOW, documents=[], new_releases=[], events=[]))
    status = store.source_status("s")
    assert status is not None
    assert status.error_streak == 0 and status.last_error is None
    assert status.last_error_at == NOW and status.last_success_at == NOW


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


def _rel(channel: str, version: str, source: str = "flatcar") -> Release:
    return Release(source=source, project="Flatcar", stream=channel, channel=channel, version=version)


def _mail(sink: str, event: Event, *, opens: bool = False) -> OutboxMessage:
    release = event.release
    thread = ThreadKey(release.source, release.stream, release.major) if opens else None
    return OutboxMessage(sink, f"<{event.key}.{sink}@x>", {"text": event.key}, thread=thread)


def test_outbox_groups_replace_sink_name_prefixes(store: StateStore) -> None:
    """An IRC output has one sink per channel; `retry net` requeues every channel of `net` and nothing
    of the output `net-2` (or of one whose channel sink merely starts with "net/")."""
    events = sample_events()
    messages = [
        OutboxMessage("net/#a", "<1@x>", {}, group="net"),
        OutboxMessage("net/#b", "<2@x>", {}, group="net"),
        OutboxMessage("net-2/#a", "<3@x>", {}, group="net-2"),
        OutboxMessage("net/", "<4@x>", {}, group="other"),  # a name that looks like net's, another group
        OutboxMessage("list", "<5@x>", {}),  # no group: its own
    ]
    store.commit_poll(PollRecord("s", now=NOW, events=[(events[0], messages)]))
    for message in messages:
        for item in store.pending(message.sink, now=NOW):
            store.mark_attempt_failed(item.id, error="404", permanent=True, retry_at=None)
    assert store.outbox_groups() == {
        "net": {"net/#a": {"failed": 1}, "net/#b": {"failed": 1}},
        "net-2": {"net-2/#a": {"failed": 1}},
        "other": {"net/": {"failed": 1}},
        "list": {"list": {"failed": 1}},
    }
    assert store.requeue_failed("net") == 2
    assert [i.message_id for i in store.pending("net/#a", now=NOW)] == ["<1@x>"]
    assert store.pending("net-2/#a", now=NOW) == [] and store.pending("net/", now=NOW) == []
    assert store.requeue_failed() == 3


def test_thread_starts_are_looked_up_by_sink_source_major(store: StateStore) -> None:
    alpha0 = Event("release", _rel("alpha", "4230.0.0"), previous=_rel("alpha", "4186.0.0"))
    alpha1 = Event("release", _rel("alpha", "4230.0.1"), previous=_rel("alpha", "4230.0.0"))
    beta = Event("promotion", _rel("beta", "4230.1.0"), promoted_from="alpha")
    other_major = Event("release", _rel("alpha", "4186.0.0"))
    other_source = Event("release", _rel("alpha", "4230.0.0", source="mirror"))
    store.commit_poll(
        PollRecord(
            "flatcar",
            now=NOW,
            events=[
                (other_major, [_mail("list", other_major, opens=True)]),
                (alpha0, [_mail("list", alpha0, opens=True), _mail("other-list", alpha0, opens=True)]),
                (alpha1, [_mail("list", alpha1)]),
                (beta, [_mail("list", beta, opens=True), _mail("irc", beta)]),
            ],
        )
    )
    store.commit_poll(
        PollRecord("mirror", now=NOW, events=[(other_source, [_mail("list", other_source, opens=True)])])
    )
    starts = store.thread_starts("list", source="flatcar", major="4230")
    assert starts == [
        ThreadStart(alpha0.key, "alpha", "<release:flatcar/alpha/4230.0.0.list@x>"),
        ThreadStart(beta.key, "beta", "<promotion:flatcar/beta/4230.1.0.list@x>"),
    ]
    assert store.thread_starts("list", source="flatcar", major="4230", stream="beta") == starts[1:]
    assert store.thread_starts("irc", source="flatcar", major="4230") == []
    assert [s.event_key for s in store.thread_starts("list", source="mirror", major="4230")] == [
        other_source.key
    ]
    # an event already recorded is skipped with its messages: no second thread entry
    store.commit_poll(PollRecord("flatcar", now=NOW, events=[(alpha0, [_mail("list", alpha0, opens=True)])]))
    assert store.thread_starts("list", source="flatcar", major="4230") == starts


def test_a_queued_digest_is_in_its_group(store: StateStore) -> None:
    message = OutboxMessage("list", "<digest@x>", {"text": "d"}, group="list")
    assert store.record_digest(
        "list",
        now=NOW,
        period_start=None,
        period_end=NOW,
        last_event_id=0,
        count=0,
        status="queued",
        message=message,
    )
    assert store.outbox_groups() == {"list": {"list": {"queued": 1}}}
    assert [i.event_key for i in store.pending("list", now=NOW)] == [f"digest:list/{NOW.isoformat()}"]


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
