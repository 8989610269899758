"""The store suite: every test here is written against `StateStore` and takes a `store` fixture, so
the same functions run on each backend — tests/unit/test_store.py parametrises them over SQLite (a file,
":memory:"), tests/integration/test_store_pg.py over PostgreSQL (a fresh database of a throwaway
cluster). The SQL a test reads directly (`conn_of(store)`) is qmark SQL both backends take."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import Deliverer
from bot.messages import sample_events
from bot.model import AnyEvent, Event, Release
from bot.store import (
    DocumentUpdate,
    OutboxItem,
    OutboxMessage,
    PollRecord,
    StateStore,
    ThreadKey,
    ThreadStart,
)
from bot.store.base import Connection, StoreCore

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def conn_of(store: StateStore) -> Connection:
    """The store's connection (qmark SQL, rows by index or name), for reading what it wrote."""
    assert isinstance(store, StoreCore)
    return store._db


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


def test_a_document_remembers_its_entries_until_a_reading_gives_new_ones(store: StateStore) -> None:
    """The memo of a document's entries (`bot.sources.feedmemo`) is stored with the releases they gave,
    kept by a poll that read nothing (a 304: None), replaced by the next reading's."""
    memo = bytes(range(256)) * 4  # every byte value: stored and read back as it is

    def poll(entries: bytes | None, changed: bool) -> None:
        update = DocumentUpdate("feed", "http://x/f", '"e"', None, "h", changed, entries)
        store.commit_poll(PollRecord("s", now=NOW, documents=[update], new_releases=[], events=[]))

    poll(memo, True)
    assert store.documents("s")["feed"].entries == memo
    poll(None, False)
    assert store.documents("s")["feed"].entries == memo
    poll(b"next", True)
    assert store.documents("s")["feed"].entries == b"next"


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


def test_quiet_polls_end_streaks_and_move_the_poll_times(store: StateStore) -> None:
    from datetime import timedelta

    later = NOW + timedelta(hours=1)
    assert store.record_failure("s", now=NOW, error="boom") == 1
    store.record_quiet_polls([("s", later), ("new", later)])
    for name in ("s", "new"):
        status = store.source_status(name)
        assert status is not None
        assert status.last_attempt_at == later and status.last_success_at == later
        assert status.error_streak == 0 and status.last_error is None
    status = store.source_status("s")
    assert status is not None and status.last_error_at == NOW  # when it last failed stays known


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


class _Sink:
    """A sink that records what it was given and how many mark transactions had happened then."""

    name = "list"
    group = "list"

    def __init__(self, store: StateStore, fail_at: int | None = None, *, idempotent: bool = True) -> None:
        self.idempotent = idempotent  # like mbox: a resend after a crash leaves one copy
        self.store = store
        self.sent: list[int] = []
        self.fail_at = fail_at

    def ready(self) -> bool:
        return True

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deliver(self, item: OutboxItem) -> None:
        from bot.errors import DeliveryError

        if self.fail_at is not None and len(self.sent) == self.fail_at:
            self.fail_at = None
            raise DeliveryError("550 no", sink=self.name, permanent=True)
        self.sent.append(item.id)


def queue_sample(store: StateStore, sink: str = "list") -> list[int]:
    events = sample_events()
    batch: list[tuple[AnyEvent, list[OutboxMessage]]] = [
        (e, [OutboxMessage(sink=sink, message_id=f"<{i}@x>", payload={"text": "body " * 50})])
        for i, e in enumerate(events)
    ]
    store.commit_poll(PollRecord("sample", now=NOW, events=batch))
    return [item.id for item in store.pending(sink, now=NOW)]


def test_mark_delivered_many_marks_each_message_once(store: StateStore) -> None:
    ids = queue_sample(store)
    assert len(ids) >= 3
    store.mark_delivered_many(ids[:2], now=NOW)
    store.mark_delivered_many([], now=NOW)  # nothing to do, no error
    assert store.outbox_counts() == {"list": {"delivered": 2, "queued": len(ids) - 2}}
    assert [i.id for i in store.pending("list", now=NOW)] == ids[2:]
    rows = conn_of(store).execute("SELECT attempts, delivered_at FROM outbox WHERE id IN (?, ?)", ids[:2])
    assert [tuple(r) for r in rows] == [(1, NOW.isoformat())] * 2


def test_pruning_drops_old_bodies_and_keeps_what_idempotency_needs(store: StateStore) -> None:
    ids = queue_sample(store)
    store.mark_delivered_many(ids[:1], now=NOW - timedelta(days=100))
    store.mark_delivered_many(ids[1:2], now=NOW - timedelta(days=10))
    columns = "id, message_id, event_id, sink, state, created_at, delivered_at"
    before = conn_of(store).execute(f"SELECT {columns} FROM outbox ORDER BY id").fetchall()
    assert store.prune_delivered(before=NOW - timedelta(days=90)) == 1
    assert store.prune_delivered(before=NOW - timedelta(days=90)) == 0  # already pruned
    after = conn_of(store).execute(f"SELECT {columns} FROM outbox ORDER BY id").fetchall()
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    bodies = dict(conn_of(store).execute("SELECT outbox_id, payload FROM outbox_bodies").fetchall())
    assert ids[0] not in bodies
    assert json.loads(bodies[ids[1]]) == {"text": "body " * 50}  # delivered, not old enough
    assert all(json.loads(bodies[i]) for i in ids[2:])  # queued: never pruned
    assert [i.id for i in store.pending("list", now=NOW)] == ids[2:]
    # the events stay: re-detecting the same release queues nothing again
    event = sample_events()[0]
    again = store.commit_poll(PollRecord("sample", now=NOW, events=[(event, [])]))
    assert again == []


def test_a_delivery_pass_marks_in_few_transactions(store: StateStore) -> None:
    ids = queue_sample(store)
    calls: list[list[int]] = []
    original = store.mark_delivered_many

    def spy(item_ids: Sequence[int], *, now: datetime) -> None:
        calls.append(list(item_ids))
        original(item_ids, now=now)

    store.mark_delivered_many = spy  # type: ignore[method-assign]
    sink = _Sink(store)
    deliverer = Deliverer(store, [sink], clock=lambda: NOW)  # type: ignore[list-item]
    result = asyncio.run(deliverer.deliver())
    assert result.delivered == len(ids) and sink.sent == ids
    assert calls == [ids]  # one transaction for the whole (fast) pass
    assert store.outbox_counts() == {"list": {"delivered": len(ids)}}


def test_a_sink_that_is_not_idempotent_is_marked_message_by_message(store: StateStore) -> None:
    """A mail sent twice reaches the list twice: each is marked delivered before the next is sent."""
    ids = queue_sample(store)
    calls: list[list[int]] = []
    original = store.mark_delivered_many

    def spy(item_ids: Sequence[int], *, now: datetime) -> None:
        calls.append(list(item_ids))
        original(item_ids, now=now)

    store.mark_delivered_many = spy  # type: ignore[method-assign]
    sink = _Sink(store, idempotent=False)
    result = asyncio.run(Deliverer(store, [sink], clock=lambda: NOW).deliver())  # type: ignore[list-item]
    assert result.delivered == len(ids)
    assert calls == [[i] for i in ids]


def test_marks_are_written_before_a_failure_is_recorded(store: StateStore) -> None:
    ids = queue_sample(store)
    sink = _Sink(store, fail_at=1)
    deliverer = Deliverer(store, [sink], clock=lambda: NOW)  # type: ignore[list-item]
    result = asyncio.run(deliverer.deliver())
    assert result.failed == 1 and result.delivered == len(ids) - 1
    states = dict(conn_of(store).execute("SELECT id, state FROM outbox").fetchall())
    assert states[ids[0]] == "delivered" and states[ids[1]] == "failed"
    assert all(states[i] == "delivered" for i in ids[2:])


def test_release_notes_are_stored_once_and_read_back_whole(store: StateStore) -> None:
    from bot.model import Event

    event = next(e for e in sample_events() if isinstance(e, Event) and e.release.notes)
    store.commit_poll(PollRecord("sample", now=NOW, new_releases=[event.release], events=[(event, [])]))
    (raw,) = conn_of(store).execute("SELECT payload FROM events").fetchone()
    stored = json.loads(raw)
    # the release is in `releases` as is: the payload names it by key only (the compact form)
    assert stored["release"] == list(event.release.key)
    assert event.release.notes not in raw
    assert store.events() == [(1, event)]
    # an event whose release is not in `releases` keeps its notes in the payload
    other = next(
        e
        for e in sample_events()
        if isinstance(e, Event)
        and e.release.notes
        and (e.release.stream, e.release.version) != (event.release.stream, event.release.version)
    )
    (second,) = store.commit_poll(PollRecord("sample", now=NOW, events=[(other, [])]))
    (raw2,) = conn_of(store).execute("SELECT payload FROM events WHERE id = ?", (second,)).fetchone()
    assert json.loads(raw2)["release"]["notes"] == other.release.notes
    assert store.events(since_id=1) == [(second, other)]


def test_events_round_trip_through_the_compact_form(store: StateStore) -> None:
    """Every sample event (releases and promotions, with and without a previous release), its releases
    stored, is written naming them by key only and reads back identical through `events` (outbox,
    digests, status, commands) and `announcements` (web feed)."""
    events = sample_events()
    releases = {r.key: r for e in events if isinstance(e, Event) for r in (e.release, e.previous) if r}
    store.commit_poll(PollRecord("sample", now=NOW, new_releases=list(releases.values())))
    ids = store.commit_poll(PollRecord("sample", now=NOW, events=[(e, []) for e in events]))
    assert [event for _, event in store.events()] == events
    announced = {a.id: a.event for a in store.announcements(limit=len(events) + 1)}
    assert [announced[i] for i in ids] == events
    rows = dict(conn_of(store).execute("SELECT id, payload FROM events").fetchall())
    for event_id, event in zip(ids, events, strict=True):
        stored = json.loads(rows[event_id])
        if isinstance(event, Event):
            assert stored["release"] == list(event.release.key)
            assert stored["previous"] == (list(event.previous.key) if event.previous else None)
    assert any(isinstance(e, Event) and e.previous for e in events)


def test_old_full_payloads_still_decode(store: StateStore) -> None:
    """Rows written by earlier versions — the release whole, or its notes by reference — decode as
    before, next to compact rows."""
    from bot.store import event_to_dict

    event = next(e for e in sample_events() if isinstance(e, Event) and e.previous and e.release.notes)
    assert event.previous is not None
    store.commit_poll(PollRecord("sample", now=NOW, new_releases=[event.release, event.previous]))
    full = event_to_dict(event)
    by_ref = event_to_dict(event)
    del by_ref["release"]["notes"]
    by_ref["release"]["notes_ref"] = True
    db = conn_of(store)
    assert isinstance(store, StoreCore)
    with store.transaction() as tx:
        for n, payload in enumerate((full, by_ref)):
            tx.execute(
                """INSERT INTO events (key, kind, source, stream, version, created_at, payload)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    f"old{n}:{event.key}",
                    event.kind,
                    event.source,
                    event.stream,
                    event.version,
                    NOW.isoformat(),
                    json.dumps(payload),
                ),
            )
    (new_id,) = store.commit_poll(PollRecord("sample", now=NOW, events=[(event, [])]))
    assert [e for _, e in store.events()] == [event, event, event]
    assert [a.event for a in store.announcements()] == [event, event, event]
    (raw,) = db.execute("SELECT payload FROM events WHERE id = ?", (new_id,)).fetchone()
    assert len(raw) < len(json.dumps(full)) // 3


def test_known_releases_read_back_every_field(store: StateStore) -> None:
    """`known_releases` (its own decoder: every release of a source is read per poll) gives back what
    was stored, as `releases` (the generic codec) does: empty and full packages and architectures, no
    date, no link."""
    full = Release(
        "sample",
        "flatcar",
        "stable",
        "stable",
        "4230.2.0",
        title="Stable 4230.2.0",
        published=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        link="https://example.org/4230.2.0",
        packages={"kernel": "6.6.1", "docker": "24.0.9"},
        notes="## Changes\n- kernel 6.6.1",
        notes_format="markdown",
        architectures=("amd64", "arm64"),
    )
    bare = Release("sample", "flatcar", "beta", "beta", "4230.1.0")
    other = Release("other", "flatcar", "beta", "beta", "4230.1.0")
    store.commit_poll(PollRecord("sample", now=NOW, new_releases=[full, bare]))
    store.commit_poll(PollRecord("other", now=NOW, new_releases=[other]))
    known = store.known_releases("sample")
    assert known == {("stable", "4230.2.0"): full, ("beta", "4230.1.0"): bare}
    assert type(known[("stable", "4230.2.0")].architectures) is tuple
    assert sorted(store.releases("sample"), key=lambda r: r.stream) == [bare, full]
