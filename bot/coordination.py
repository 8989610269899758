"""Several instances, one voice: which process delivers (and so drives the outputs that hold a
connection — an IRC network, a Matrix sync loop — and answers channel queries).

On SQLite that is the delivery lock file beside the state (`bot.delivery.DeliveryLock`, one host). On
PostgreSQL it is `LeaderLock`: a session advisory lock held on a dedicated connection. The holder
keeps it as long as its session lives; when the process dies (kill -9, crash, host gone) the server
ends the session and the lock is free: a standby takes it at its next claim (every
`[bot] deliver_interval`) and delivers from the outbox where the other stopped. A dead host is
noticed by the server's TCP keepalives on that session, set from `[bot] takeover_timeout`.
`holders()` says who holds what, for `status`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

    from bot.store.interface import StateStore
    from bot.store.records import OutboxItem

__all__ = [
    "DELIVERY_LOCK",
    "Holder",
    "LeaderLock",
    "Lock",
    "delivery_lock",
    "holder_lines",
    "holders",
    "instance_name",
]

log = logging.getLogger(__name__)

#: the second key of the advisory lock of delivery (the first is bot.store.pgstore.LOCK_CLASS)
DELIVERY_LOCK = 2


class Lock(Protocol):
    """What the deliverer needs of its lock."""

    @property
    def held(self) -> bool: ...

    def claim(self) -> bool: ...

    def release(self) -> None: ...


def instance_name() -> str:
    """This process as other instances see it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLock:
    """The delivery lock of a PostgreSQL state: `pg_try_advisory_lock` on a session of its own."""

    def __init__(
        self, url: str, *, password: str | None, takeover: float = 30.0, key: int = DELIVERY_LOCK
    ) -> None:
        from bot.store.pgconn import redact

        self.url = url
        self.label = redact(url)
        self._password = password
        self.takeover = takeover
        self.key = key
        self.name = instance_name()
        self._conn: psycopg.Connection[Any] | None = None
        self._warned = False
        self._unreachable = False
        #: the last claim found the lock held by another instance (this one, if it had the outputs
        #: open, lets go of them: bot.delivery.Deliverer)
        self.other_holder = False

    @property
    def held(self) -> bool:
        return self._conn is not None

    def _still_held(self) -> bool:
        """Whether our session is alive and still holds the lock (a server restart ends both)."""
        import psycopg

        from bot.store.pgstore import LOCK_CLASS

        assert self._conn is not None
        try:
            row = self._conn.execute(
                """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                   AND classid = %s AND objid = %s AND granted""",
                (LOCK_CLASS, self.key),
            ).fetchone()
        except psycopg.Error:
            return False
        return row is not None and int(row[0]) == 1

    def claim(self) -> bool:
        """True when this process holds the lock (taken now or before); False: another one does, or
        the database cannot be reached (then nobody delivers from here until it can)."""
        from bot.store.pgconn import StateUnavailable, connect
        from bot.store.pgstore import LOCK_CLASS

        if self._conn is not None:
            if self._still_held():
                return True
            log.warning("lost the delivery lock of %s (its database session ended): standing by", self.label)
            self.release()
        try:
            conn = connect(
                self.url, password=self._password, application_name=f"release-bot {self.name} delivery"
            )
        except StateUnavailable as exc:
            if not self._unreachable:  # once per outage, not once per delivery tick
                log.warning("%s (nothing is delivered from here until it is back)", exc)
                self._unreachable = True
            return False
        if self._unreachable:
            log.info("%s: the database is reachable again", self.label)
            self._unreachable = False
        try:
            # the server notices a vanished host through keepalives on this session
            idle = max(1, int(self.takeover / 3))
            conn.execute(f"SET tcp_keepalives_idle = {idle}")
            conn.execute(f"SET tcp_keepalives_interval = {max(1, idle // 3)}")
            conn.execute("SET tcp_keepalives_count = 3")
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.key)).fetchone()
        except Exception:
            conn.close()
            raise
        self.other_holder = row is None or not row[0]
        if self.other_holder:
            conn.close()
            if not self._warned:
                log.warning(
                    "standby: another release-bot instance delivers from %s; this one polls and waits "
                    "to take over its outputs",
                    self.label,
                )
                self._warned = True
            return False
        if self._warned:
            log.info("the delivery lock of %s is free again: this instance delivers now", self.label)
            self._warned = False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session ends: the lock is free
            self._conn = None


def delivery_lock(store: StateStore, fallback: type[Any]) -> Lock:
    """The lock that makes one process the deliverer of `store`: `LeaderLock` for PostgreSQL, else
    `fallback(store.path)` (the lock file of a SQLite state)."""
    if getattr(store, "backend", "sqlite") == "postgresql":
        url: str = store.url  # type: ignore[attr-defined]
        password: str | None = store.password  # type: ignore[attr-defined]
        takeover: float = getattr(store, "takeover", 30.0)
        return LeaderLock(url, password=password, takeover=takeover)
    lock: Lock = fallback(store.path)
    return lock


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: what (`delivery`), the instance's session name, its address, since when."""

    what: str
    instance: str
    address: str | None
    since: str


def holders(store: StateStore) -> list[Holder]:
    """The advisory locks release-bot instances hold on the database of `store` (PostgreSQL; an empty
    list for SQLite)."""
    if getattr(store, "backend", "sqlite") != "postgresql":
        return []
    from bot.store.pgstore import LOCK_CLASS

    rows = store._db.execute(  # type: ignore[attr-defined]
        """SELECT l.objid, a.application_name, a.client_addr::text, a.backend_start::text
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.classid = ? AND l.granted ORDER BY l.objid""",
        (LOCK_CLASS,),
    ).fetchall()
    names = {DELIVERY_LOCK: "delivery (the outputs and channel queries)"}
    out = []
    for objid, application, address, since in rows:
        instance = str(application).removeprefix("release-bot ").removesuffix(" delivery")
        out.append(Holder(names.get(int(objid), f"lock {objid}"), instance, address, str(since)))
    return out


def holder_lines(store: StateStore) -> list[str]:
    """`status` lines: who delivers (PostgreSQL; none for SQLite, where the lock file says it)."""
    if getattr(store, "backend", "sqlite") != "postgresql":
        return []
    found = holders(store)
    if not found:
        return ["instances: no instance holds the delivery lock (none running, or taking over)"]
    return [
        f"instances: {h.what}: {h.instance}"
        + (f" from {h.address}" if h.address else "")
        + f" since {h.since}"
        for h in found
    ]


async def listen_for_outbox(store: StateStore, wake: asyncio.Event, *, retry: float = 5.0) -> None:
    """Set `wake` whenever a commit on the PostgreSQL state of `store` queued messages (its
    NOTIFY), so delivery does not wait for its next tick; reconnects after a lost connection. Returns
    at once for SQLite (the daemon's own wake-up covers one process). Runs until cancelled."""
    if getattr(store, "backend", "sqlite") != "postgresql":
        return
    import psycopg

    from bot.store.pgstore import NOTIFY_CHANNEL

    url: str = store.url  # type: ignore[attr-defined]
    password: str | None = store.password  # type: ignore[attr-defined]
    extra: dict[str, Any] = {"application_name": f"release-bot {instance_name()} listen"}
    if password is not None:
        extra["password"] = password
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=10, **extra
            ) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                wake.set()  # anything queued while we were not listening
                async for _ in conn.notifies():
                    wake.set()
        except psycopg.Error as exc:
            log.debug("outbox notifications: %s; listening again in %.0f s", exc, retry)
        await asyncio.sleep(retry)


def claim_poll(store: StateStore, source: str, *, now: datetime, interval: float) -> bool:
    """Whether this instance polls `source` now: on PostgreSQL only when no instance started a poll of
    it in the last 0.9 × its interval (a lease with a deadline: `PgStore.claim_poll`), so several
    instances poll each source once per interval between them; always on SQLite."""
    if getattr(store, "backend", "sqlite") != "postgresql":
        return True
    claimed: bool = store.claim_poll(source, now=now, interval=interval)  # type: ignore[attr-defined]
    if not claimed:
        log.debug("source %s: polled by another instance within its interval; skipped here", source)
    return claimed


def claim_pending(store: StateStore, sink: str, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
    """The due messages of `sink` this process delivers now: on PostgreSQL claimed for this instance
    (`PgStore.claim_pending`, leased for `[bot] takeover_timeout`), on SQLite `pending` (one deliverer
    per state file, its lock file)."""
    if getattr(store, "backend", "sqlite") != "postgresql":
        return store.pending(sink, now=now, limit=limit)
    lease: float = getattr(store, "takeover", 30.0)
    items: list[OutboxItem] = store.claim_pending(  # type: ignore[attr-defined]
        sink, holder=instance_name(), now=now, lease=lease, limit=limit
    )
    return items
