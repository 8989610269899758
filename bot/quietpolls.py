"""The fast path of a poll that found nothing new: every document answered 304 (or served the same
body) with the validators already stored, no error, no warning, no rate limit.

Such a poll changes nothing but the source's status (last attempt and success, error streak ended)
and its documents' fetch time. It reads no known releases, plans nothing in the planning thread, and
its status is not written in a transaction of its own: `QuietPolls` keeps it in memory and writes the
status of every quiet poll pending in one transaction (`StateStore.record_quiet_polls`) at most
`FLUSH_DELAY` seconds later, at the end of `poll_all`, and when the bot closes. A crash loses at most
those seconds of poll times (the next poll writes them again); `status`, /readyz and
`status --check` read the status a moment later than before, never older than one poll interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from bot.failures import describe_store_error
from bot.fetched import ReleaseFetch, SourceFetch
from bot.store import DocumentState

log = logging.getLogger("release-bot")

__all__ = ["FLUSH_DELAY", "QuietPolls", "is_quiet"]

#: seconds a quiet poll's status waits in memory for others to share its transaction
FLUSH_DELAY = 0.5


def is_quiet(fetched: SourceFetch, stored: Mapping[str, DocumentState]) -> bool:
    """True when `fetched` read nothing new and stores nothing new: a release source whose every
    document is unchanged with the validators already stored, and no error, warning or rate limit."""
    if not isinstance(fetched, ReleaseFetch) or fetched.documents or not fetched.updates:
        return False
    if fetched.errors or fetched.warnings or fetched.rate_limited or fetched.retry_after is not None:
        return False
    for update in fetched.updates:
        known = stored.get(update.name)
        if update.changed or known is None:
            return False
        if (update.url, update.etag, update.last_modified, update.body_sha256) != (
            known.url,
            known.etag,
            known.last_modified,
            known.body_sha256,
        ):
            return False
    return True


class QuietPolls:
    """Quiet polls whose status is not written yet: source → the time of its latest quiet poll."""

    def __init__(self, write: Callable[[list[tuple[str, datetime]]], None], *, delay: float = FLUSH_DELAY):
        self._write = write
        self._delay = delay
        self._pending: dict[str, datetime] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False  # the last flush failed (logged once until one succeeds)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, source: str, now: datetime) -> None:
        """Note a quiet poll of `source`; its status is written within `delay` seconds."""
        self._pending[source] = now
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self.flush_logged)

    def discard(self, source: str) -> None:
        """A poll of `source` is being recorded in full: its older quiet poll must not overwrite it."""
        self._pending.pop(source, None)

    def flush(self) -> None:
        """Write every pending quiet poll in one transaction (nothing when none is pending). On a store
        error the polls stay pending (a newer poll of a source replaces its own) and it is raised."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        polls, self._pending = list(self._pending.items()), {}
        try:
            self._write(polls)
        except BaseException:
            for source, now in polls:
                self._pending.setdefault(source, now)
            raise

    @property
    def failing(self) -> bool:
        """The last flush failed: polls take the full path meanwhile (a failing store is then reported
        per source, by the daemon's streaks) until a full commit succeeds and flushes again."""
        return self._failing

    def sources(self) -> tuple[str, ...]:
        """The sources whose quiet poll is pending."""
        return tuple(self._pending)

    def flush_logged(self) -> None:
        """`flush`, a store error logged in one line, once until a flush succeeds again (the polls
        stay pending for the next flush)."""
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - a timer callback: logged here, not by the loop
            cause = describe_store_error(exc) or f"{type(exc).__name__}: {exc}"
            level = logging.DEBUG if self._failing else logging.ERROR
            self._failing = True
            log.log(level, "could not record the status of %d quiet poll(s): %s", len(self._pending), cause)
        else:
            if self._failing:
                log.info("the status of quiet polls is recorded again")
            self._failing = False
