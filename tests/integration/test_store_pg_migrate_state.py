"""`release-bot migrate-state`: a SQLite state with real history (the bundled Flatcar snapshots replayed
through `once`, an mbox output that delivered and a mail output whose server is down, so messages are
still queued) moves into PostgreSQL; the bot then runs on PostgreSQL and announces nothing again,
keeps the queued messages queued, and announces the next snapshot exactly as the SQLite state would."""

from __future__ import annotations

import mailbox
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.pgstore import PgStore
from tests.helpers import SNAPSHOTS, free_port
from tests.httpserver import LocalHTTPServer
from tests.postgres import PASSWORD, PASSWORD_ENV
from tests.replay import flatcar_source, mail_output, mbox_output, serve_history

pytestmark = pytest.mark.integration


def _config(folder: Path, http: LocalHTTPServer, state: str, dead_port: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "config.toml"
    state_keys = f'state = "{state}"'
    if state.startswith("postgresql://"):
        state_keys += f'\nstate_password_env = "{PASSWORD_ENV}"'
    path.write_text(
        f"[bot]\n{state_keys}\n"
        + flatcar_source(http)
        + mbox_output()
        + mail_output(dead_port, connect_timeout="1s"),
        encoding="utf-8",
    )
    return path


def _mbox_ids(folder: Path) -> list[str]:
    box = mailbox.mbox(folder / "out.mbox")
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def _sqlite_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            "events": db.execute("SELECT id, key, payload FROM events ORDER BY id").fetchall(),
            "outbox": db.execute(
                "SELECT id, event_id, sink, message_id, state, attempts FROM outbox ORDER BY id"
            ).fetchall(),
            "releases": db.execute(
                "SELECT source, stream, version FROM releases ORDER BY 1, 2, 3"
            ).fetchall(),
            "documents": db.execute("SELECT name, etag, body_sha256 FROM documents ORDER BY name").fetchall(),
        }


def _pg_rows(store: PgStore) -> dict[str, list[tuple[object, ...]]]:
    db = store._db
    return {
        "events": [
            tuple(r) for r in db.execute("SELECT id, key, payload FROM events ORDER BY id").fetchall()
        ],
        "outbox": [
            tuple(r)
            for r in db.execute(
                "SELECT id, event_id, sink, message_id, state, attempts FROM outbox ORDER BY id"
            ).fetchall()
        ],
        "releases": [
            tuple(r)
            for r in db.execute("SELECT source, stream, version FROM releases ORDER BY 1, 2, 3").fetchall()
        ],
        "documents": [
            tuple(r)
            for r in db.execute("SELECT name, etag, body_sha256 FROM documents ORDER BY name").fetchall()
        ],
    }


def test_a_real_sqlite_state_moves_to_postgresql_without_a_single_reannouncement(
    tmp_path: Path, http_server: LocalHTTPServer, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(SNAPSHOTS) >= 3
    dead = free_port()  # the mail output's server is down: its messages stay queued
    lite = _config(tmp_path / "lite", http_server, "state.sqlite3", dead)
    for snapshot in SNAPSHOTS[:-1]:
        serve_history(http_server, snapshot)
        main(["-c", str(lite), "once"])
    state = tmp_path / "lite" / "state.sqlite3"
    before = _sqlite_rows(state)
    announced = _mbox_ids(tmp_path / "lite")
    assert announced and before["events"]
    assert {row[4] for row in before["outbox"]} == {"delivered", "queued"}  # mbox delivered, mail queued
    untouched = state.read_bytes()

    capsys.readouterr()
    assert main(["migrate-state", "--from", str(state), "--to", pg_url, "--password-env", PASSWORD_ENV]) == 0
    out = capsys.readouterr().out
    assert f"{len(before['events'])} events" in out and f"{len(before['outbox'])} outbox" in out
    assert state.read_bytes() == untouched  # the source file is left as it was
    with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
        assert _pg_rows(store) == before  # row for row, ids kept
    # a second copy into the same database is refused: it holds a state now
    assert main(["migrate-state", "--from", str(state), "--to", pg_url, "--password-env", PASSWORD_ENV]) == 2
    assert "already holds a state" in capsys.readouterr().err

    # the bot goes on from PostgreSQL with the same mbox: the same snapshot announces nothing
    pg_folder = tmp_path / "pg"
    pg_folder.mkdir()
    shutil.copy(tmp_path / "lite" / "out.mbox", pg_folder / "out.mbox")
    on_pg = _config(pg_folder, http_server, pg_url, dead)
    main(["-c", str(on_pg), "once"])
    assert _mbox_ids(pg_folder) == announced
    with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
        after = _pg_rows(store)
    assert after["events"] == before["events"] and after["releases"] == before["releases"]
    assert [r[:5] for r in after["outbox"]] == [r[:5] for r in before["outbox"]]  # queued still queued

    # the next snapshot: PostgreSQL announces exactly what SQLite announces
    serve_history(http_server, SNAPSHOTS[-1])
    main(["-c", str(lite), "once"])
    main(["-c", str(on_pg), "once"])
    lite_new = _mbox_ids(tmp_path / "lite")[len(announced) :]
    pg_new = _mbox_ids(pg_folder)[len(announced) :]
    assert lite_new and pg_new == lite_new
    assert not list(pg_folder.rglob("*.sqlite3*"))  # the PostgreSQL run wrote no SQLite state
    with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
        pg_final = _pg_rows(store)
    lite_final = _sqlite_rows(state)
    assert [r[1:] for r in pg_final["events"]] == [r[1:] for r in lite_final["events"]]
    assert pg_final["releases"] == lite_final["releases"]


def test_status_migrate_and_the_delivery_lock_on_postgresql(
    tmp_path: Path, http_server: LocalHTTPServer, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`migrate` creates the schema and says so; `status` reads the PostgreSQL state and says which
    instance holds the delivery lock; a second deliverer on the same database is a standby."""
    from bot.coordination import LeaderLock, holders

    serve_history(http_server, SNAPSHOTS[0])
    config = _config(tmp_path / "pg", http_server, pg_url, free_port())
    assert main(["-c", str(config), "migrate"]) == 0
    assert "schema 0 → " in capsys.readouterr().out
    assert main(["-c", str(config), "migrate"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["-c", str(config), "once"]) == 1  # the mail output's server is down
    capsys.readouterr()
    # the read-only verbs read the PostgreSQL state
    assert main(["-c", str(config), "query", "!release stable"]) == 0
    assert "stable 4152.2.0" in capsys.readouterr().out  # the stable release of the first snapshot
    assert main(["-c", str(config), "preview", "flatcar"]) == 0
    assert "4152.2.0" in capsys.readouterr().out  # nothing new: the newest stored release is shown
    first, second = (LeaderLock(pg_url, password=PASSWORD) for _ in range(2))
    try:
        assert first.claim() and not second.claim()
        assert main(["-c", str(config), "status"]) == 0
        out = capsys.readouterr().out
        assert "state: postgresql://bot@127.0.0.1" in out and "instances: delivery" in out
        with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
            (holder,) = holders(store)
        assert holder.instance == first.name
        first.release()  # the holder stops: the standby takes over at its next claim
        assert second.claim()
    finally:
        first.release()
        second.release()
