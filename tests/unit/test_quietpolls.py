"""Which polls take the quiet fast path (`bot.quietpolls.is_quiet`) and how their status waits."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from bot.fetched import DocumentUpdate, ReleaseFetch, RoadmapFetch
from bot.quietpolls import QuietPolls, is_quiet
from bot.store import DocumentState

STORED = {"stable": DocumentState("s", "stable", "http://x/stable", '"e1"', None, "abc")}
SAME = DocumentUpdate("stable", "http://x/stable", '"e1"', None, "abc", changed=False)


def test_all_unchanged_with_the_stored_validators_is_quiet() -> None:
    assert is_quiet(ReleaseFetch(updates=[SAME]), STORED)


@pytest.mark.parametrize(
    "fetched",
    [
        ReleaseFetch(
            updates=[DocumentUpdate("stable", "http://x/stable", '"e2"', None, "abc", changed=False)]
        ),
        ReleaseFetch(
            updates=[DocumentUpdate("stable", "http://x/stable", '"e1"', None, "abc", changed=True)]
        ),
        ReleaseFetch(updates=[DocumentUpdate("beta", "http://x/beta", '"e1"', None, "abc", changed=False)]),
        ReleaseFetch(updates=[SAME], errors=["HTTP 503"]),
        ReleaseFetch(updates=[SAME], warnings=["odd entry"]),
        ReleaseFetch(updates=[SAME], rate_limited="rate limited", retry_after=60.0),
        ReleaseFetch(),
        RoadmapFetch(updates=[SAME]),
    ],
    ids=["new-etag", "changed", "unknown-document", "error", "warning", "rate-limited", "nothing", "roadmap"],
)
def test_anything_to_store_or_report_is_not_quiet(fetched: ReleaseFetch | RoadmapFetch) -> None:
    assert not is_quiet(fetched, STORED)


def test_a_failed_write_keeps_the_polls_pending_and_newer_ones_win() -> None:
    written: list[list[tuple[str, datetime]]] = []
    fail = [True]

    def write(polls: list[tuple[str, datetime]]) -> None:
        if fail[0]:
            raise OSError("disk full")
        written.append(polls)

    t1, t2 = datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)

    async def main() -> None:
        quiet = QuietPolls(write, delay=3600)
        quiet.add("a", t1)
        quiet.add("b", t1)
        quiet.flush_logged()  # logged, not raised
        assert len(quiet) == 2
        quiet.add("a", t2)
        quiet.discard("b")
        fail[0] = False
        quiet.flush()
        assert written == [[("a", t2)]] and len(quiet) == 0

    asyncio.run(main())


def test_a_failing_flush_is_logged_once_until_it_recovers(caplog: pytest.LogCaptureFixture) -> None:
    fail = [True]

    def write(polls: list[tuple[str, datetime]]) -> None:
        if fail[0]:
            raise OSError("disk full")

    async def main() -> None:
        quiet = QuietPolls(write, delay=3600)
        for _ in range(3):
            quiet.add("a", datetime(2026, 1, 1, tzinfo=UTC))
            quiet.flush_logged()
        fail[0] = False
        quiet.flush_logged()
        assert len(quiet) == 0

    with caplog.at_level(logging.DEBUG, logger="release-bot"):
        asyncio.run(main())
    levels = [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records if r.name == "release-bot"]
    assert levels == [
        (logging.ERROR, "could not record the status of 1 quiet poll(s)"),
        (logging.DEBUG, "could not record the status of 1 quiet poll(s)"),
        (logging.DEBUG, "could not record the status of 1 quiet poll(s)"),
        (logging.INFO, "the status of quiet polls is recorded again"),
    ]
