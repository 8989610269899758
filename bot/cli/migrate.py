"""`release-bot migrate` (apply the missing schema steps to the configured state, say which) and
`release-bot migrate-state --from state.sqlite3 --to postgresql://…` (move a SQLite state into an
empty PostgreSQL database: every table, row for row, ids kept, in one transaction — so the bot goes on
from exactly where it was: nothing re-baselined, nothing announced again, queued messages still
queued, delivered ones still delivered)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import StoreError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["TABLES", "add_migrate_verbs", "cmd_migrate", "cmd_migrate_state", "copy_state"]

#: every table of the state, in an order that respects their references
TABLES = (
    "documents",
    "source_status",
    "releases",
    "events",
    "outbox",
    "outbox_bodies",
    "threads",
    "digests",
    "notices",
    "notice_reaches",
    "roadmap_items",
)
#: the tables whose ids the PostgreSQL side numbers with an identity column (continued after the copy)
IDENTITIES = {
    "events": "id",
    "outbox": "id",
    "digests": "rowid",
    "notices": "rowid",
    "notice_reaches": "rowid",
    "roadmap_items": "rowid",
}


def add_migrate_verbs(sub: Any, verb: Any) -> None:
    verb(
        sub,
        "migrate",
        "bot.cli.migrate:cmd_migrate",
        "apply the missing schema steps to the state (SQLite or PostgreSQL); `run` and `once` do it too",
        "release-bot migrate",
    )
    p = verb(
        sub,
        "migrate-state",
        "bot.cli.migrate:cmd_migrate_state",
        "copy a SQLite state into an empty PostgreSQL database (no re-baselining, no re-announcing)",
        "release-bot migrate-state --from state.sqlite3 --to postgresql://bot@db.example.org/releasebot",
    )
    p.add_argument("--from", dest="source", required=True, metavar="FILE", help="the SQLite state file")
    p.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        help="the PostgreSQL database (postgresql://user@host:port/db; default: the config's [bot] state)",
    )
    p.add_argument(
        "--password-env",
        metavar="VAR",
        help="the variable holding the database password (default: the config's state_password_env; "
        "libpq's ~/.pgpass, PGPASSWORD or a service file work too)",
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.cli.verbs import load
    from bot.store.backend import open_postgres

    config = load(args)
    if config.database is None:
        from bot.store import SqliteStore
        from bot.store.schema import SCHEMA_VERSION

        with SqliteStore(config.state, synchronous=config.sqlite_synchronous) as store:
            print(
                f"{config.state}: schema version {store.schema_version} (this release-bot: {SCHEMA_VERSION})"
            )
        return 0
    with open_postgres(config, migrate=None) as store:
        before = store.schema_version
        applied = store.migrate()
        after = store.schema_version
    if applied:
        print(
            f"{config.state_label}: schema {before} → {after} (steps {', '.join(map(str, applied))} applied)"
        )
    else:
        print(f"{config.state_label}: schema version {after}, nothing to do")
    return 0


def cmd_migrate_state(args: argparse.Namespace) -> int:
    source = Path(args.source)
    target: str | None = args.target
    password_env: str | None = args.password_env
    if target is None or password_env is None:
        from bot.cli.verbs import load

        config = load(args)
        if config.database is None and target is None:
            raise StoreError("no --to given and the config's [bot] state is not a postgresql:// URL")
        if config.database is not None:
            target = target or config.database.url
            password_env = password_env or config.database.password_env
    assert target is not None
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise StoreError(f"the variable {password_env} (the database password) is not set")
    counts = copy_state(source, target, password=password)
    total = sum(counts.values())
    detail = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"copied {total} rows from {source} to the PostgreSQL state: {detail}")
    return 0


def copy_state(source: Path, target: str, *, password: str | None) -> dict[str, int]:
    """Copy the SQLite state `source` (migrated first, on a copy: the file is left as it was) into the
    empty PostgreSQL database `target` (migrated to the current schema); rows copied per table."""
    from bot.store import SqliteStore
    from bot.store.pgstore import PgStore, is_postgresql

    if not is_postgresql(target):
        raise StoreError(f"--to {target!r} is not a postgresql:// URL")
    if not source.is_file():
        raise StoreError(f"{source}: no such state file")
    import sqlite3  # here, not at the top: every verb's parser imports this module (`--help` too)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="release-bot-migrate-") as folder:
        copy = Path(folder) / "state.sqlite3"
        try:
            with (
                sqlite3.connect(f"file:{source}?mode=ro", uri=True) as original,
                sqlite3.connect(copy) as dest,
            ):
                original.backup(dest)  # a consistent copy, even beside a running daemon
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{source}: not a usable release-bot state database: {exc}") from exc
        with SqliteStore(copy) as lite, PgStore(target, password=password) as pg:
            return _copy(lite._db, pg, source)


def _copy(lite: sqlite3.Connection, pg: Any, source: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with pg.transaction() as db:
        busy = [t for t in TABLES if db.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
        if busy:
            raise StoreError(
                f"{pg.path}: the database already holds a state (rows in {', '.join(busy)}); "
                "migrate-state copies into an empty one only"
            )
        conn = pg._db.conn
        for table in TABLES:
            columns = [
                row[0]
                for row in db.execute(
                    """SELECT column_name FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position""",
                    (table,),
                ).fetchall()
            ]
            names = ", ".join(columns)
            rows = lite.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
            n = 0
            with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row))
                    n += 1
            counts[table] = n
        for table, column in IDENTITIES.items():
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"GREATEST((SELECT MAX({column}) FROM {table}), 1), (SELECT COUNT(*) FROM {table}) > 0)"
            )
    return counts
