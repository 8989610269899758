"""The bot's state: known releases, per-document HTTP validators, events, the outbox, digests,
deprecation notices and roadmap items.

The state change of a poll and the outbox rows it causes are written in one transaction
(`commit_poll(PollRecord)`). Sinks read the outbox and mark delivery, so a crash or an outage leaves
messages queued, never lost. The schema is a list of versioned steps (`bot.store.schema`), applied on
open.

Modules: `records` (what goes in and out), `codec` (explicit JSON forms of model records), `schema`,
`interface` (`StateStore`, what the rest of the bot may use), and the SQLite backend: `base`
(connection, migration), `polls`, `plans`, `outbox`, `digests`, combined in `sqlite.SqliteStore`.
"""

from __future__ import annotations

from bot.store.announcements import Announcement
from bot.store.base import describe_size
from bot.store.codec import (
    event_from_dict,
    event_to_dict,
    notice_from_dict,
    notice_to_dict,
    reach_from_dict,
    reach_to_dict,
    record_from_dict,
    record_to_dict,
    release_event_from_dict,
    release_from_dict,
    release_to_dict,
    roadmap_item_from_dict,
    roadmap_item_to_dict,
)
from bot.store.interface import StateStore
from bot.store.records import (
    DigestRecord,
    DocumentState,
    DocumentUpdate,
    OutboxItem,
    OutboxMessage,
    PollRecord,
    SourceStatus,
    ThreadKey,
    ThreadStart,
)
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION
from bot.store.sqlite import SqliteStore

#: The default backend (SQLite); `Store(path)` opens a state file.
Store = SqliteStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Announcement",
    "DigestRecord",
    "DocumentState",
    "DocumentUpdate",
    "OutboxItem",
    "OutboxMessage",
    "PollRecord",
    "SourceStatus",
    "SqliteStore",
    "StateStore",
    "Store",
    "ThreadKey",
    "ThreadStart",
    "describe_size",
    "event_from_dict",
    "event_to_dict",
    "notice_from_dict",
    "notice_to_dict",
    "reach_from_dict",
    "reach_to_dict",
    "record_from_dict",
    "record_to_dict",
    "release_event_from_dict",
    "release_from_dict",
    "release_to_dict",
    "roadmap_item_from_dict",
    "roadmap_item_to_dict",
]
