"""The schema: one ordered list of versioned steps, applied in order on open.

A step is DDL statements plus, where existing rows must be converted, a function run in the same
transaction. The statements are written in SQLite's dialect; the steps (their numbers, what they add,
the conversion functions over a DB-API connection with qmark parameters) are what a second backend
reuses. A state file records the last step applied (`PRAGMA user_version` for SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.model import Event
from bot.security_index import security_index_of
from bot.store.codec import release_event_from_dict


class Executor(Protocol):
    """The part of a DB-API connection a conversion step uses."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]
    convert: Callable[[Executor], None] | None = None


def _statements(sql: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in sql.split(";") if s.strip())


# 1: the first schema
V1 = """
    CREATE TABLE documents (
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        body_sha256 TEXT,
        baselined_at TEXT NOT NULL,
        fetched_at TEXT,
        changed_at TEXT,
        PRIMARY KEY (source, name)
    );
    CREATE TABLE source_status (
        source TEXT PRIMARY KEY,
        last_attempt_at TEXT,
        last_success_at TEXT,
        last_change_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        error_streak INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE releases (
        source TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT NOT NULL,
        channel TEXT NOT NULL,
        project TEXT NOT NULL,
        title TEXT NOT NULL,
        published TEXT,
        link TEXT,
        packages TEXT NOT NULL,
        notes TEXT NOT NULL,
        notes_format TEXT NOT NULL,
        architectures TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, stream, version)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT NOT NULL,
        created_at TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES events(id),
        sink TEXT NOT NULL,
        message_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        UNIQUE (sink, event_id)
    );
    CREATE INDEX outbox_pending ON outbox (sink, state, id);
    """

# mail digests (issue 4): what each digest of each mail output covered. A queued digest is also an
# `events` row of kind 'digest' (key 'digest:<output>/<period end>') with its outbox row, so it is
# delivered like any message and never doubled; 'baseline' and 'empty' rows send nothing.
V2 = """
    CREATE TABLE digests (
        output TEXT NOT NULL,
        period_end TEXT NOT NULL,
        period_start TEXT,
        last_event_id INTEGER NOT NULL,
        events INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('baseline', 'empty', 'queued')),
        event_id INTEGER REFERENCES events(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (output, period_end)
    );
    """

# deprecations and roadmap (issue 5): notices found in release notes (or on roadmap items), the
# channels each has reached, and the roadmap items last seen with their status.
V3 = """
    CREATE TABLE notices (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        project TEXT NOT NULL,
        text TEXT NOT NULL,
        summary TEXT NOT NULL,
        heading TEXT NOT NULL,
        links TEXT NOT NULL,
        channel TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT,
        published TEXT,
        link TEXT,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, id)
    );
    CREATE TABLE notice_reaches (
        source TEXT NOT NULL,
        notice_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        stream TEXT NOT NULL,
        version TEXT,
        published TEXT,
        link TEXT,
        first_seen_at TEXT NOT NULL,
        PRIMARY KEY (source, notice_id, channel),
        FOREIGN KEY (source, notice_id) REFERENCES notices (source, id)
    );
    CREATE TABLE roadmap_items (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        present INTEGER NOT NULL DEFAULT 1,
        payload TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (source, id)
    );
    """

# 4 (store package): the outbox says which output ("sink group") each sink belongs to — an IRC output
# has one sink per channel, named "OUTPUT/#channel" — so nothing matches sink names by prefix; and
# `threads` indexes the messages that open a mail thread by (sink, source, major, stream), so a
# promotion finds its thread parents without loading the list's history.
V4 = """
    ALTER TABLE outbox ADD COLUMN sink_group TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET sink_group = CASE WHEN instr(sink, '/') > 0
                                        THEN substr(sink, 1, instr(sink, '/') - 1) ELSE sink END;
    CREATE INDEX outbox_by_group ON outbox (sink_group, state);
    CREATE TABLE threads (
        outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
        sink TEXT NOT NULL,
        source TEXT NOT NULL,
        major TEXT NOT NULL,
        stream TEXT NOT NULL,
        event_id INTEGER NOT NULL REFERENCES events(id),
        event_key TEXT NOT NULL,
        message_id TEXT NOT NULL
    );
    CREATE INDEX threads_by_key ON threads (sink, source, major, stream, event_id);
"""


def _opened_a_major(event: Event) -> bool:
    """The rule mail threading used when rows up to schema 3 were written (bot.sinks.mail.opens_major):
    a promotion, or a release whose stream had no earlier release of that major."""
    if event.kind == "promotion":
        return True
    previous = event.previous
    return event.kind == "release" and (previous is None or previous.major != event.release.major)


def _v4_index_threads(db: Executor) -> None:
    """Index the release and promotion messages already queued that opened a major version. Before
    schema 4 every sink's history was searched, so every sink's rows are indexed."""
    rows: Iterable[Any] = list(
        db.execute(
            """SELECT o.id, o.sink, o.event_id, o.message_id, e.key, e.payload
               FROM outbox o JOIN events e ON e.id = o.event_id
               WHERE e.kind IN ('release', 'promotion') ORDER BY o.id"""
        )
    )
    for outbox_id, sink, event_id, message_id, key, payload in rows:
        event = release_event_from_dict(json.loads(payload))
        if _opened_a_major(event):
            release = event.release
            db.execute(
                """INSERT INTO threads (outbox_id, sink, source, major, stream, event_id, event_key,
                                        message_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (outbox_id, sink, release.source, release.major, release.stream, event_id, key, message_id),
            )


# 5 (security answers, issue 12): each release's security index (CVE and GHSA ids per package, from
# its notes; `SecurityIndex.to_json`), written with the release — baseline included — and filled in
# here for the releases already stored.
V5 = """
    ALTER TABLE releases ADD COLUMN security TEXT;
"""


def _v5_index_security(db: Executor) -> None:
    """The security index of every release already stored, from its notes."""
    rows: Iterable[Any] = list(
        db.execute("SELECT source, stream, version, notes, notes_format FROM releases")
    )
    for source, stream, version, notes, notes_format in rows:
        index = security_index_of(notes, notes_format)
        db.execute(
            "UPDATE releases SET security = ? WHERE source = ? AND stream = ? AND version = ?",
            (index.to_json(), source, stream, version),
        )


# 6 (bounded state): message bodies move to a table of their own, so that dropping the body of a
# message delivered longer ago than the retention (`prune_delivered`) leaves the outbox rows (Message-ID,
# event, sink, status, times: what idempotency and threading need) densely packed; the partial index
# finds the delivered messages by time.
V6 = """
    CREATE TABLE outbox_bodies (
        outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
        payload TEXT NOT NULL
    );
    INSERT INTO outbox_bodies (outbox_id, payload) SELECT id, payload FROM outbox;
    ALTER TABLE outbox DROP COLUMN payload;
    CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE state = 'delivered';
"""

# 7 (smaller delivered rows, issue 17): what a delivered message keeps once its body is pruned is its
# row (Message-ID, event, sink, status, times) and the index entries that serve it, no others. The
# index of an output's queued and failed messages holds only those (a partial index); the prune index
# holds only delivered messages that still have a body (`has_body`, cleared when the body is dropped),
# so an hourly prune reads the messages of its retention window, not the whole history.
V7 = """
    ALTER TABLE outbox ADD COLUMN has_body INTEGER NOT NULL DEFAULT 1;
    UPDATE outbox SET has_body = 0
        WHERE NOT EXISTS (SELECT 1 FROM outbox_bodies b WHERE b.outbox_id = outbox.id);
    DROP INDEX outbox_delivered;
    CREATE INDEX outbox_unpruned ON outbox (delivered_at) WHERE state = 'delivered' AND has_body = 1;
    DROP INDEX outbox_by_group;
    CREATE INDEX outbox_open ON outbox (sink_group, state) WHERE state != 'delivered';
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "documents, source status, releases, events, outbox", _statements(V1)),
    Migration(2, "mail digests", _statements(V2)),
    Migration(3, "deprecation notices, their reaches, roadmap items", _statements(V3)),
    Migration(4, "outbox sink groups; thread index", _statements(V4), convert=_v4_index_threads),
    Migration(5, "security index of each release", _statements(V5), convert=_v5_index_security),
    Migration(6, "message bodies in a table of their own (pruned after delivery)", _statements(V6)),
    Migration(7, "delivered rows without index entries they do not need", _statements(V7)),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1)), "steps are numbered 1, 2, …"
