"""The SQLite backend: one database file (or ":memory:"), the parts of the store in one class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.announcements import AnnouncementStore
from bot.store.base import SqliteBase
from bot.store.digests import DigestStore
from bot.store.outbox import OutboxStore
from bot.store.plans import PlanStore
from bot.store.polls import PollStore

if TYPE_CHECKING:
    from bot.store.interface import StateStore


class SqliteStore(SqliteBase, PollStore, PlanStore, OutboxStore, DigestStore, AnnouncementStore):
    """The state of one bot in one SQLite file; implements `StateStore`.

    Not shared across threads; each process opens its own. WAL mode lets `status` read while the
    daemon writes; a poll's state and its outbox rows are one transaction.
    """


if TYPE_CHECKING:  # mypy checks that the SQLite backend implements the whole interface
    _backend: type[StateStore] = SqliteStore
