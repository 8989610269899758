"""The store's cost levers (issues 11 and 17): batched delivery marks, the synchronous mode, pruning the
bodies of delivered messages, the state size, and the delivery pass writing its marks in few
transactions."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.messages import sample_events
from bot.store import OutboxMessage, PollRecord, Store, describe_size
from bot.store.codec import ts
from tests.store_suite import queue_sample as _queue

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def test_synchronous_mode_is_normal_by_default_and_full_on_request(tmp_path: Path) -> None:
    with Store(tmp_path / "a.sqlite3") as normal, Store(tmp_path / "b.sqlite3", synchronous="full") as full:
        assert normal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert full._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert normal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(StoreError, match="sqlite_synchronous must be one of NORMAL, FULL, not 'off'"):
        Store(tmp_path / "c.sqlite3", synchronous="off")


def test_the_pruning_query_uses_its_partial_index(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        for sql in (store.PRUNE_SQL, store.PRUNED_SQL):
            plan = " | ".join(row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + sql, ("x",)))
            assert "INDEX outbox_unpruned" in plan and "SCAN" not in plan


def test_a_pruned_message_keeps_its_row_and_leaves_the_indexes_it_no_longer_needs(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        ids = _queue(store)
        store.mark_delivered_many(ids[:2], now=NOW)
        db = store._db
        open_rows = "SELECT count(*) FROM outbox INDEXED BY outbox_open WHERE state != 'delivered'"
        unpruned = "SELECT count(*) FROM outbox INDEXED BY outbox_unpruned WHERE " + store.PRUNE_WHERE
        later = ts(NOW + timedelta(days=1))
        assert db.execute(open_rows).fetchone()[0] == len(ids) - 2  # delivered ones are not in it
        assert db.execute(unpruned, (later,)).fetchone()[0] == 2
        assert store.prune_delivered(before=NOW + timedelta(days=1)) == 2
        assert db.execute(unpruned, (later,)).fetchone()[0] == 0  # pruned: out of the prune index
        assert store.prune_delivered(before=NOW + timedelta(days=1)) == 0
        rows = db.execute(
            "SELECT id, message_id, state, has_body, delivered_at FROM outbox ORDER BY id"
        ).fetchall()
        assert [(r["state"], r["has_body"]) for r in rows[:3]] == [
            ("delivered", 0),
            ("delivered", 0),
            ("queued", 1),
        ]
        assert rows[0]["message_id"] == "<0@x>" and rows[0]["delivered_at"] == ts(NOW.replace(microsecond=0))
        assert [i.id for i in store.pending("list", now=NOW)] == ids[2:]  # the queue is as it was


def test_the_step_to_schema_8_marks_the_bodies_already_pruned(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        ids = _queue(store)
        store.mark_delivered_many(ids[:2], now=NOW)
        store._db.execute("DELETE FROM outbox_bodies WHERE outbox_id = ?", (ids[0],))  # pruned under 7
        fresh = store._db.execute("SELECT sql FROM sqlite_schema ORDER BY name").fetchall()
    raw = sqlite3.connect(path)
    raw.executescript(
        """DROP INDEX outbox_unpruned; DROP INDEX outbox_open; ALTER TABLE outbox DROP COLUMN has_body;
           CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE state = 'delivered';
           CREATE INDEX outbox_by_group ON outbox (sink_group, state);
           ALTER TABLE documents DROP COLUMN entries; PRAGMA user_version = 7;"""
    )
    raw.close()
    with Store(path) as store:
        rows = store._db.execute("SELECT id, has_body FROM outbox ORDER BY id").fetchall()
        assert [r["has_body"] for r in rows] == [0] + [1] * (len(ids) - 1)
        assert store._db.execute("SELECT sql FROM sqlite_schema ORDER BY name").fetchall() == fresh


def test_a_new_state_file_gives_pruned_pages_back(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
        event = sample_events()[0]
        big = [
            (
                dataclasses.replace(event, release=dataclasses.replace(event.release, version=f"{k}.0.0")),
                [OutboxMessage(sink="l", message_id=f"<{k}@x>", payload={"body": "x" * 5000})],
            )
            for k in range(200)
        ]
        store.commit_poll(PollRecord("sample", now=NOW, events=big))
        store.mark_delivered_many([i.id for i in store.pending("l", now=NOW, limit=500)], now=NOW)
        before = store.state_size()
        assert store.prune_delivered(before=NOW + timedelta(days=1), vacuum_pages=100) == 200
        after = store.state_size()
        assert after["file"] <= before["file"] - 100 * 4096  # 100 pages given back
        assert store.prune_delivered(before=NOW + timedelta(days=1), vacuum_pages=1 << 20) == 0


def test_state_size_counts_bytes_and_rows(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        ids = _queue(store)
        size = store.state_size()
        assert size["events"] == len(sample_events()) and size["outbox"] == len(ids)
        assert size["file"] > 0 and size["free"] >= 0 and size["wal"] > 0
        line = describe_size(size)
        assert f"{size['events']} events, {size['outbox']} messages" in line and "MiB" in line
    with Store(":memory:") as memory:
        assert memory.state_size()["wal"] == 0


def test_a_state_file_of_schema_4_gets_its_bodies_moved(tmp_path: Path) -> None:
    """tests/data/state-v3.sqlite3 migrated up to schema 4, then to 5: every body moves, none lost."""
    import shutil

    from bot.store.base import SqliteBase
    from tests.helpers import DATA

    path = tmp_path / "s.sqlite3"
    shutil.copy(DATA / "state-v3.sqlite3", path)
    with sqlite3.connect(path) as raw:
        old = dict(raw.execute("SELECT id, payload FROM outbox").fetchall())
    partial = SqliteBase.__new__(SqliteBase)
    partial.path = str(path)
    partial._db = sqlite3.connect(path, isolation_level=None)
    partial._migrate(target=4)
    assert partial.schema_version == 4
    partial.close()
    with Store(path) as store:
        bodies = dict(store._db.execute("SELECT outbox_id, payload FROM outbox_bodies").fetchall())
        columns = [r[1] for r in store._db.execute("PRAGMA table_info(outbox)")]
    assert bodies == old and len(old) > 0
    assert "payload" not in columns


def test_the_bot_table_takes_the_durability_and_retention_keys(tmp_path: Path) -> None:
    from bot.config import load_config
    from bot.errors import ConfigError

    base = '[[sources]]\nname = "f"\nkind = "feed"\nurl = "https://example.org/f.atom"\n'
    base += '[[outputs]]\nname = "c"\nkind = "console"\n'
    path = tmp_path / "config.toml"
    path.write_text('[bot]\nsqlite_synchronous = "full"\noutbox_retention = "30d"\n' + base)
    config = load_config(path)
    assert config.sqlite_synchronous == "full" and config.outbox_retention == 30 * 86400
    path.write_text(base)
    config = load_config(path)
    assert config.sqlite_synchronous == "normal" and config.outbox_retention == 90 * 86400
    path.write_text('[bot]\nsqlite_synchronous = "off"\n' + base)
    with pytest.raises(ConfigError, match="sqlite_synchronous") as error:
        load_config(path)
    assert "config.toml" in str(error.value) and "'normal', 'full'" in str(error.value)


def test_a_delivery_pass_prunes_bodies_older_than_the_retention(tmp_path: Path) -> None:
    from bot.app import Bot
    from bot.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(
        f'[bot]\nstate = "{tmp_path / "state.sqlite3"}"\noutbox_retention = "30d"\n'
        '[[sources]]\nname = "f"\nkind = "feed"\nurl = "https://example.org/f.atom"\n'
        '[[outputs]]\nname = "c"\nkind = "console"\n'
    )
    config = load_config(path)
    with Store(config.state) as store:
        ids = _queue(store, sink="c")
        store.mark_delivered_many(ids[:1], now=NOW - timedelta(days=31))
        store.mark_delivered_many(ids[1:], now=NOW - timedelta(days=29))

    async def deliver() -> None:
        bot = Bot(config, clock=lambda: NOW)
        try:
            await bot.deliver()
        finally:
            await bot.aclose()

    asyncio.run(deliver())
    with Store(config.state) as store:
        left = [r[0] for r in store._db.execute("SELECT outbox_id FROM outbox_bodies ORDER BY outbox_id")]
        assert left == ids[1:]
        assert store.outbox_counts() == {"c": {"delivered": len(ids)}}
