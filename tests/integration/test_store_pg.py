"""The store suite (tests/store_suite.py) on PostgreSQL: the same test functions as on SQLite, each
on a fresh database of the session's throwaway cluster (tests/postgres.py); and the PostgreSQL
backend's own schema rules."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.errors import StoreError
from bot.store import SCHEMA_VERSION, StateStore
from bot.store.pgconn import StateUnavailable
from bot.store.pgstore import PgStore
from tests.postgres import PASSWORD_ENV, PgCluster
from tests.store_suite import (  # noqa: F401 - the store suite, collected here for PostgreSQL
    test_a_delivery_pass_marks_in_few_transactions,
    test_a_queued_digest_is_in_its_group,
    test_a_sink_that_is_not_idempotent_is_marked_message_by_message,
    test_commit_poll_is_one_transaction,
    test_event_keys_are_unique_and_outbox_rows_follow_them,
    test_mark_delivered_many_marks_each_message_once,
    test_marks_are_written_before_a_failure_is_recorded,
    test_outbox_groups_replace_sink_name_prefixes,
    test_outbox_retry_and_permanent_failure,
    test_pruning_drops_old_bodies_and_keeps_what_idempotency_needs,
    test_release_notes_are_stored_once_and_read_back_whole,
    test_source_status_counts_failure_streaks,
    test_thread_starts_are_looked_up_by_sink_source_major,
)


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
    from bot.messages import sample_events
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
