"""The SQLite store: versioned schema, one transaction per poll, the outbox."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.messages import sample_events
from bot.store import SCHEMA_VERSION, DocumentUpdate, OutboxMessage, PollRecord, Store

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


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


def test_commit_poll_is_one_transaction(tmp_path: Path) -> None:
    """A failure while writing the outbox rolls back the releases and validators of that poll."""
    event = sample_events()[0]
    with Store(tmp_path / "s.sqlite3") as store:
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


def test_event_keys_are_unique_and_outbox_rows_follow_them(tmp_path: Path) -> None:
    event = sample_events()[0]
    message = OutboxMessage(sink="mbox", message_id="<m@x>", payload={"text": "t"})
    with Store(tmp_path / "s.sqlite3") as store:
        first = store.commit_poll(
            PollRecord(
                "sample", now=NOW, documents=[], new_releases=[event.release], events=[(event, [message])]
            )
        )
        again = store.commit_poll(
            PollRecord(
                "sample", now=NOW, documents=[], new_releases=[event.release], events=[(event, [message])]
            )
        )
        assert len(first) == 1 and again == []
        assert store.outbox_counts() == {"mbox": {"queued": 1}}
        ((stored_id, stored),) = store.events()
        assert stored_id == first[0]
        assert stored == event  # the payload round-trips exactly


def test_outbox_retry_and_permanent_failure(tmp_path: Path) -> None:
    events = sample_events()
    with Store(tmp_path / "s.sqlite3") as store:
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


def test_source_status_counts_failure_streaks(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
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
