"""The store suite (tests/store_suite.py) on PostgreSQL: the same test functions as on SQLite, each
on a fresh database of the session's throwaway cluster (tests/postgres.py); and the PostgreSQL
backend's own schema rules."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.errors import StoreError
from bot.messages import sample_events
from bot.store import SCHEMA_VERSION, StateStore
from bot.store.pgconn import StateUnavailable
from bot.store.pgstore import PgStore
from tests import store_suite
from tests.postgres import PASSWORD_ENV, PgCluster
from tests.store_suite import NOW

# the whole store suite, collected here for PostgreSQL: every test_* of tests/store_suite.py, so a new one
# runs on both backends without being listed twice
globals().update({name: test for name, test in vars(store_suite).items() if name.startswith("test_")})


@pytest.fixture
def store(pg_url: str) -> Iterator[StateStore]:
    with PgStore(pg_url, password=os.environ[PASSWORD_ENV]) as opened:
        yield opened


def test_a_new_database_is_migrated_once_and_reopening_changes_nothing(pg_url: str) -> None:
    password = os.environ[PASSWORD_ENV]
    with PgStore(pg_url, password=password) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.migrate() == []
    with PgStore(pg_url, password=password, migrate=False) as store:
        assert store.check_schema() == SCHEMA_VERSION


def test_a_schema_from_a_newer_release_bot_is_refused_untouched(pg_url: str) -> None:
    password = os.environ[PASSWORD_ENV]
    with PgStore(pg_url, password=password) as store:
        store._db.execute(
            "INSERT INTO release_bot_schema (version, summary) VALUES (?, 'future')", (SCHEMA_VERSION + 1,)
        )
    for migrate in (True, False):
        with pytest.raises(StoreError, match="newer release-bot"):
            PgStore(pg_url, password=password, migrate=migrate)


def test_an_empty_database_is_not_opened_without_migrating(pg_url: str) -> None:
    with pytest.raises(StoreError, match=r"schema version 0 is older .*release-bot migrate"):
        PgStore(pg_url, password=os.environ[PASSWORD_ENV], migrate=False)


def test_a_wrong_password_or_an_unreachable_server_is_a_clear_error(
    pg_url: str, pg_cluster: PgCluster
) -> None:
    with pytest.raises(StateUnavailable, match=r"cannot connect to the state database.*password") as caught:
        PgStore(pg_url, password="wrong")
    assert "wrong" not in str(caught.value)
    free = pg_url.replace(f":{pg_cluster.port}/", ":1/")
    with pytest.raises(StateUnavailable, match="cannot connect"):
        PgStore(free, password="x")


def test_a_commit_that_queues_messages_wakes_the_listening_deliverers(pg_url: str) -> None:
    """LISTEN/NOTIFY: a poll committed by one instance wakes the deliverer of another at once."""
    import asyncio

    from bot.coordination import listen_for_outbox
    from bot.store import OutboxMessage, PollRecord
    from tests.store_suite import NOW

    password = os.environ[PASSWORD_ENV]

    async def scenario() -> tuple[bool, bool]:
        wake = asyncio.Event()
        with (
            PgStore(pg_url, password=password) as listener_side,
            PgStore(pg_url, password=password) as poller,
        ):
            task = asyncio.create_task(listen_for_outbox(listener_side, wake))
            await asyncio.wait_for(wake.wait(), 10)  # set once when listening starts
            wake.clear()
            poller.commit_poll(PollRecord("s", now=NOW, events=[]))  # nothing queued: no wake-up
            await asyncio.sleep(0.5)
            quiet = not wake.is_set()
            event = sample_events()[0]
            message = OutboxMessage("mbox", "<m@x>", {"text": "t"})
            await asyncio.to_thread(poller.commit_poll, PollRecord("s", now=NOW, events=[(event, [message])]))
            try:
                await asyncio.wait_for(wake.wait(), 5)
            finally:
                task.cancel()
            return quiet, wake.is_set()

    quiet, woken = asyncio.run(scenario())
    assert quiet and woken


def test_the_sqlite_default_never_imports_psycopg(tmp_path) -> None:
    """psycopg is an optional extra: a bot on a SQLite state runs without it."""
    import subprocess
    import sys

    code = (
        "import sys, bot.app, bot.daemon, bot.cli.verbs, bot.cli.status, bot.coordination\n"
        "from bot.store.backend import open_state\n"
        "from bot.config import parse_config\n"
        "from pathlib import Path\n"
        "assert 'psycopg' not in sys.modules, sorted(m for m in sys.modules if 'psycopg' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_deliverer_that_lost_its_lock_to_another_instance_lets_go_of_its_outputs(pg_url: str) -> None:
    """The delivery lock lives as long as its session: when that session ends (a server restart, a
    network cut) another instance may take the lock; the old holder then closes its sinks (an IRC
    connection, a Matrix sync) so that one instance speaks. A database that is merely unreachable
    closes nothing (nobody can take over meanwhile)."""
    import asyncio

    from bot.coordination import LeaderLock
    from bot.delivery import Deliverer

    password = os.environ[PASSWORD_ENV]

    class Sink:
        name = group = "irc"
        idempotent = True

        def __init__(self) -> None:
            self.opened = 0
            self.closed = 0

        def ready(self) -> bool:
            return True

        async def open(self) -> None:
            self.opened += 1

        async def close(self) -> None:
            self.closed += 1

    with PgStore(pg_url, password=password) as store:
        sink = Sink()
        deliverer = Deliverer(store, [sink], clock=lambda: NOW)  # type: ignore[list-item]
        lock = deliverer.lock
        assert isinstance(lock, LeaderLock)
        asyncio.run(deliverer.deliver())
        assert lock.held and sink.opened == 1
        # the holder's session ends (as when the server restarts); another instance takes the lock
        assert lock._conn is not None
        pid = lock._conn.info.backend_pid
        store._db.execute("SELECT pg_terminate_backend(?)", (pid,))
        other = LeaderLock(pg_url, password=password)
        try:
            for _ in range(50):
                if other.claim():
                    break
                asyncio.run(asyncio.sleep(0.1))
            assert other.held
            asyncio.run(deliverer.deliver())
            assert (lock.held, sink.closed) == (False, 1)  # one voice: the outputs let go
            other.release()
            asyncio.run(deliverer.deliver())  # free again: this instance takes over and reopens
            assert (lock.held, sink.opened) == (True, 2)
        finally:
            other.release()
            asyncio.run(deliverer.close())


def test_a_source_is_polled_by_one_instance_per_interval(pg_url: str) -> None:
    """The poll lease: of several instances asking at the same time one gets it; nobody else until
    0.9 × the interval has passed since that poll started (also when its holder died mid-poll)."""
    from datetime import timedelta

    from bot.coordination import claim_poll
    from bot.store import PollRecord

    password = os.environ[PASSWORD_ENV]
    with PgStore(pg_url, password=password) as a, PgStore(pg_url, password=password) as b:
        assert [claim_poll(s, "flatcar", now=NOW, interval=60) for s in (a, b, a)] == [True, False, False]
        later = NOW + timedelta(seconds=30)
        assert not claim_poll(b, "flatcar", now=later, interval=60)
        assert claim_poll(b, "other", now=later, interval=60)  # each source has its own lease
        a.commit_poll(PollRecord("flatcar", now=NOW, events=[]))  # the holder's poll commits
        status = a.source_status("flatcar")
        assert status is not None and status.last_success_at == NOW and status.error_streak == 0
        due = NOW + timedelta(seconds=54)  # 0.9 × 60 s after the poll started
        assert claim_poll(b, "flatcar", now=due, interval=60) and not claim_poll(
            a, "flatcar", now=due, interval=60
        )


def test_outbox_claims_one_deliverer_per_sink_in_order_and_a_dead_ones_claims_expire(pg_url: str) -> None:
    """`claim_pending`: SELECT … FOR UPDATE SKIP LOCKED with a lease. While one instance's claims on
    a sink run, another claims nothing of it (order is kept); the holder's marks go through its own
    connection; when the holder dies its claims expire and the rest goes to the next claimer."""
    from datetime import timedelta

    from bot.model import Event, Release
    from bot.store import OutboxMessage, PollRecord
    from tests.store_suite import queue_sample

    release = Release(source="x", project="X", stream="a", channel="a", version="1.0.0")

    password = os.environ[PASSWORD_ENV]
    with PgStore(pg_url, password=password) as a, PgStore(pg_url, password=password) as b:
        ids = queue_sample(a)
        assert len(ids) >= 3
        mine = a.claim_pending("list", holder="a", now=NOW, lease=30, limit=2)
        assert [i.id for i in mine] == ids[:2]
        assert b.claim_pending("list", holder="b", now=NOW, lease=30) == []  # a delivers this sink
        again = a.claim_pending("list", holder="a", now=NOW, lease=30)  # the holder goes on
        assert [i.id for i in again] == ids
        a.mark_delivered(ids[0], now=NOW)
        # another sink is free for b
        b.commit_poll(
            PollRecord(
                "x", now=NOW, events=[(Event("release", release), [OutboxMessage("irc", "<i@x>", {})])]
            )
        )
        assert [i.sink for i in b.claim_pending("irc", holder="b", now=NOW, lease=30)] == ["irc"]
        # a dies: its claims run out after the lease, then b takes the rest, in order
        assert b.claim_pending("list", holder="b", now=NOW + timedelta(seconds=29), lease=30) == []
        rest = b.claim_pending("list", holder="b", now=NOW + timedelta(seconds=31), lease=30)
        assert [i.id for i in rest] == ids[1:]
        assert a.claim_pending("list", holder="a", now=NOW + timedelta(seconds=32), lease=30) == []
        # a message waiting for its retry holds back the ones after it, as `pending` does
        b.mark_attempt_failed(ids[1], error="421", permanent=False, retry_at=NOW + timedelta(hours=1))
        assert b.claim_pending("list", holder="b", now=NOW + timedelta(seconds=40), lease=30) == []
        assert b.pending("list", now=NOW + timedelta(seconds=40)) == []


def test_a_role_that_may_not_create_the_schema_gets_a_clear_error(pg_url: str, pg_cluster: PgCluster) -> None:
    name = pg_url.rsplit("/", 1)[1]
    pg_cluster.sql(f"ALTER DATABASE {name} OWNER TO postgres")
    pg_cluster.sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=name)
    with pytest.raises(StoreError, match="cannot set up the state database: permission denied"):
        PgStore(pg_url, password=os.environ[PASSWORD_ENV])
