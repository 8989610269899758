"""Mail digests with a controlled clock (no sleeping): the cron schedule in a time zone, the weekly
boundary, a digest missed while the bot was down (sent once), empty periods, never twice; what a
digest says (sections by kind, grouped by project and channel) and its golden file from the real
Flatcar history."""

from __future__ import annotations

import email
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtplib.email import flatten_message

from bot import digest
from bot.config import DigestConfig
from bot.model import Event
from bot.render import Renderer
from bot.sinks.mail import MailSink
from bot.store import PollRecord, Store
from tests.helpers import DATA, check_golden
from tests.mailhelpers import history_events, mail_sink

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = (("minute", "0"), ("hour", "9"), ("day_of_week", "mon"))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def trigger(timezone: str = "Europe/Berlin", cron: tuple[tuple[str, str], ...] = MONDAY_9) -> Any:
    return DigestConfig(cron=cron, timezone=timezone).trigger()


# --------------------------------------------------------------------------------------------------
# The schedule: digest_due(last_sent, now, trigger), pure
# --------------------------------------------------------------------------------------------------


def test_weekly_boundary() -> None:
    last = utc(2025, 3, 17, 8, 0)  # Monday 09:00 in Berlin (CET, UTC+1)
    assert digest.digest_due(last, utc(2025, 3, 20, 12, 0), trigger()) is None
    assert digest.digest_due(last, utc(2025, 3, 24, 7, 59, 59), trigger()) is None
    assert digest.digest_due(last, utc(2025, 3, 24, 8, 0), trigger()) == utc(2025, 3, 24, 8, 0)
    assert digest.digest_due(last, utc(2025, 3, 24, 8, 0, 1), trigger()) == utc(2025, 3, 24, 8, 0)
    assert digest.digest_due(last, utc(2025, 3, 30, 23, 0), trigger()) == utc(2025, 3, 24, 8, 0)
    # just sent: nothing is due until the next Monday
    assert digest.digest_due(utc(2025, 3, 24, 8, 0), utc(2025, 3, 24, 8, 0, 1), trigger()) is None


def test_nothing_is_due_before_anything_was_recorded_or_when_the_clock_went_back() -> None:
    assert digest.digest_due(None, utc(2025, 3, 24, 8, 0), trigger()) is None
    assert digest.digest_due(utc(2025, 3, 24, 8, 0), utc(2025, 3, 20, 8, 0), trigger()) is None


def test_missed_digests_make_one_digest_for_the_latest_period() -> None:
    last = utc(2025, 3, 3, 8, 0)
    # the bot was down for three Mondays: one digest is due, for the latest one
    assert digest.digest_due(last, utc(2025, 3, 26, 12, 0), trigger()) == utc(2025, 3, 24, 8, 0)


def test_timezone_and_daylight_saving_time() -> None:
    # Europe/Berlin moved to CEST (UTC+2) on Sunday 2025-03-30: 09:00 local is 07:00 UTC from then on
    last = utc(2025, 3, 24, 8, 0)
    assert digest.digest_due(last, utc(2025, 3, 31, 6, 59), trigger()) is None
    due = digest.digest_due(last, utc(2025, 3, 31, 7, 0), trigger())
    assert due == utc(2025, 3, 31, 7, 0)
    assert due is not None and due.astimezone(BERLIN).hour == 9
    # the same schedule in UTC fires two hours later
    last = utc(2025, 3, 24, 9, 0)
    assert digest.digest_due(last, utc(2025, 3, 31, 7, 0), trigger("UTC")) is None
    assert digest.digest_due(last, utc(2025, 3, 31, 9, 0), trigger("UTC")) == utc(2025, 3, 31, 9, 0)
    # and in New York (EDT since 2025-03-09, UTC-4) 09:00 is 13:00 UTC
    last = utc(2025, 3, 24, 13, 0)
    assert digest.digest_due(last, utc(2025, 3, 31, 12, 59), trigger("America/New_York")) is None
    assert digest.digest_due(last, utc(2025, 3, 31, 13, 0), trigger("America/New_York")) == utc(
        2025, 3, 31, 13
    )


def test_sparse_and_dense_schedules() -> None:
    leap = (("minute", "0"), ("hour", "9"), ("day", "29"), ("month", "2"))
    assert digest.digest_due(utc(2020, 3, 1), utc(2025, 3, 10), trigger("UTC", leap)) == utc(2024, 2, 29, 9)
    assert digest.digest_due(utc(2024, 3, 1), utc(2025, 3, 10), trigger("UTC", leap)) is None
    every_minute = (("minute", "*"),)
    started = time.monotonic()
    due = digest.digest_due(utc(2024, 3, 1), utc(2025, 3, 10, 12, 34, 56), trigger("UTC", every_minute))
    assert due == utc(2025, 3, 10, 12, 34)
    assert time.monotonic() - started < 5  # a year of downtime is not walked minute by minute


# --------------------------------------------------------------------------------------------------
# tick(): baseline, queueing, never twice, empty periods — on a store, with a controlled clock
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def store() -> Any:
    with Store(":memory:") as db:
        yield db


def weekly_sink(tmp_path: Path, **digest_keys: Any) -> MailSink:
    return mail_sink(tmp_path, digest={"cron": "0 9 * * mon", "timezone": "Europe/Berlin", **digest_keys})


def record(store: Store, events: list[Event], when: datetime) -> None:
    store.commit_poll(
        PollRecord("flatcar", now=when, documents=(), new_releases=(), events=[(e, []) for e in events])
    )


def queued_digests(store: Store) -> list[Any]:
    return [i for i in store.pending("list", now=utc(2100, 1, 1)) if i.event_key.startswith("digest:")]


def test_first_tick_records_a_baseline_at_the_previous_fire_time(tmp_path: Path, store: Store) -> None:
    sink = weekly_sink(tmp_path)
    (_, before), (_, first), (_, second) = history_events()
    record(store, before, utc(2025, 3, 16, 12, 0))  # before the baseline: never in a digest
    record(store, first, utc(2025, 3, 18, 12, 0))  # after it: in the first digest
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 19, 10, 0)) is None
    (baseline,) = store.digests("list")
    assert (baseline.status, baseline.period_end) == ("baseline", utc(2025, 3, 17, 8, 0))
    assert queued_digests(store) == []

    record(store, second, utc(2025, 3, 20, 18, 0))
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 7, 59)) is None
    plan = digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 8, 0, 3))
    assert plan is not None
    assert (plan.period_start, plan.period_end) == (utc(2025, 3, 17, 8, 0), utc(2025, 3, 24, 8, 0))
    assert [e.key for _, e in plan.events] == [e.key for e in first + second]
    (item,) = queued_digests(store)
    assert item.message_id == "<digest.list.20250324T080000Z@example.org>"
    assert item.payload["subject"] == "[Flatcar] Digest 2025-03-17 to 2025-03-24: 8 announcements"
    assert "- 4230.0.0 " not in str(item.payload["text"])  # recorded before the baseline
    assert "- 4230.0.1 (2025-02-18)" in str(item.payload["text"])

    # never twice: the same period again, later that day, or from a second process
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 8, 0, 3)) is None
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 20, 0)) is None
    assert digest.tick(store, weekly_sink(tmp_path), Renderer(), now=utc(2025, 3, 25, 9, 0)) is None
    assert len(queued_digests(store)) == 1
    assert store.events() and all(str(e.kind) != "digest" for _, e in store.events())


def test_an_empty_period_is_not_sent_unless_configured(tmp_path: Path, store: Store) -> None:
    quiet = weekly_sink(tmp_path)
    digest.tick(store, quiet, Renderer(), now=utc(2025, 3, 19, 10, 0))
    plan = digest.tick(store, quiet, Renderer(), now=utc(2025, 3, 24, 8, 0))
    assert plan is not None and plan.events == []
    assert store.last_digest("list").status == "empty"  # type: ignore[union-attr]
    assert queued_digests(store) == []
    assert digest.tick(store, quiet, Renderer(), now=utc(2025, 3, 24, 9, 0)) is None

    with Store(":memory:") as other:
        chatty = weekly_sink(tmp_path, send_empty=True)
        digest.tick(other, chatty, Renderer(), now=utc(2025, 3, 19, 10, 0))
        digest.tick(other, chatty, Renderer(), now=utc(2025, 3, 24, 8, 0))
        (item,) = queued_digests(other)
        assert item.payload["subject"] == "[release-bot] Digest 2025-03-17 to 2025-03-24: nothing new"
        assert "Nothing was announced in this period." in str(item.payload["text"])


def test_a_digest_missed_while_down_is_sent_once_at_the_next_start(tmp_path: Path, store: Store) -> None:
    sink = weekly_sink(tmp_path)
    (_, before), (_, first), (_, second) = history_events()
    digest.tick(store, sink, Renderer(), now=utc(2025, 2, 10, 12, 0))  # baseline: Mon 2025-02-10 08:00 UTC
    record(store, before + first, utc(2025, 2, 12, 12, 0))
    record(store, second, utc(2025, 3, 20, 18, 0))
    # down from 2025-02-12 to Wednesday 2025-03-26: five Mondays missed, one digest at the start
    plan = digest.tick(store, sink, Renderer(), now=utc(2025, 3, 26, 10, 0))
    assert plan is not None and plan.period_end == utc(2025, 3, 24, 8, 0)
    assert len(plan.events) == 9
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 26, 10, 0, 1)) is None
    (item,) = queued_digests(store)
    assert item.message_id == "<digest.list.20250324T080000Z@example.org>"
    # the next digest covers what comes after the late one, from its period end
    record(store, second[:1], utc(2025, 3, 27, 9, 0))  # (an event key already stored: ignored)
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 31, 7, 0)).events == []  # type: ignore[union-attr]


def test_the_digest_filter_narrows_what_is_listed_not_what_is_covered(tmp_path: Path, store: Store) -> None:
    sink = weekly_sink(tmp_path, filter={"channels": ["stable"]})
    (_, _), (_, first), (_, second) = history_events()
    digest.tick(store, sink, Renderer(), now=utc(2025, 3, 17, 8, 0))
    record(store, first + second, utc(2025, 3, 20, 18, 0))
    plan = digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 8, 0))
    assert plan is not None
    assert [e.version for _, e in plan.events] == ["4152.2.1", "4152.2.2"]
    assert plan.last_event_id == max(i for i, _ in store.events())


def test_send_now_and_preview_use_the_same_period_logic(tmp_path: Path, store: Store) -> None:
    sink = weekly_sink(tmp_path)
    (_, _), (_, first), (_, _) = history_events()
    record(store, first, utc(2025, 3, 18, 12, 0))
    preview = digest.plan(store, sink, period_end=utc(2025, 3, 19, 12, 0))
    assert preview.baseline and preview.period_start == utc(2025, 3, 17, 8, 0) and len(preview.events) == 4
    assert store.digests("list") == []  # planning writes nothing
    now = utc(2025, 3, 19, 12, 0)
    sent = digest.enqueue(store, sink, Renderer(), now=now, period_end=now, force=True)
    assert sent is not None and len(sent.events) == 4
    assert digest.enqueue(store, sink, Renderer(), now=now, period_end=now, force=True) is None
    # the scheduled one on Monday covers only what came after
    assert digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 8, 0)).events == []  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------------
# What a digest says
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtherEvent:
    """An event of a kind the digest does not know: only what every event has."""

    kind: str
    project: str
    channel: str
    stream: str
    version: str
    summary: str
    link: str | None = None
    source: str = "flatcar"
    published: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.source}/{self.stream}/{self.version}"


def test_every_kind_gets_its_own_section(tmp_path: Path) -> None:
    (_, _), (_, first), (_, _) = history_events()
    deprecation = OtherEvent(
        "deprecation",
        "Flatcar",
        "beta",
        "beta",
        "4186.1.1",
        "cgroups v1 is removed",
        link="https://www.flatcar.org/releases#release-4186.1.1",
    )
    advisory = OtherEvent(
        "security-advisory",
        "Flatcar",
        "stable",
        "stable",
        "GHSA-1",
        "A <b>bad</b> bug",
        link="javascript:alert(1)",
    )
    events: list[tuple[int, Any]] = [(i, e) for i, e in enumerate([*first, deprecation, advisory], start=1)]
    context = digest.digest_context(
        events,
        output="list",
        period_start=utc(2025, 2, 10, 8),
        period_end=utc(2025, 2, 17, 8),
        timezone="UTC",
    )
    assert [s["title"] for s in context["sections"]] == ["Releases", "Deprecations", "Security advisory"]
    releases = context["sections"][0]["projects"][0]
    assert releases["project"] == "Flatcar"
    assert [c["label"] for c in releases["channels"]] == ["alpha", "beta", "stable", "LTS-2024"]
    payload = weekly_sink(tmp_path).render_digest(context, Renderer())
    text, html = str(payload["text"]), str(payload["html"])
    assert "## Deprecations: Flatcar" in text and "- 4186.1.1: cgroups v1 is removed" in text
    assert "## Security advisory: Flatcar" in text and "- GHSA-1: A <b>bad</b> bug" in text
    assert "A &lt;b&gt;bad&lt;/b&gt; bug" in html and "javascript:" not in html
    assert payload["subject"] == "[Flatcar] Digest 2025-02-10 to 2025-02-17: 6 announcements"


def test_digest_golden_from_the_real_history(tmp_path: Path, store: Store) -> None:
    sink = weekly_sink(tmp_path)
    digest.tick(store, sink, Renderer(), now=utc(2025, 1, 27, 12, 0))  # baseline Mon 2025-01-27 08:00 UTC
    times = [utc(2025, 1, 30, 17, 0), utc(2025, 2, 18, 12, 0), utc(2025, 3, 20, 18, 0)]
    for (_, events), when in zip(history_events(), times, strict=True):
        record(store, events, when)
    plan = digest.tick(store, sink, Renderer(), now=utc(2025, 3, 24, 8, 0))  # weeks missed: one digest
    assert plan is not None and len(plan.events) == 9
    (item,) = queued_digests(store)
    raw = flatten_message(sink.build(item))
    assert sink.build_wire(item).data == raw  # what delivery sends: the same bytes, written directly
    check_golden(
        DATA / "golden" / "mail" / "digest-2025-01-27_to_2025-03-24.eml.txt",
        raw.decode("ascii").replace("\r\n", "\n"),
    )
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "[Flatcar] Digest 2025-01-27 to 2025-03-24: 9 announcements"
    text_part = message.get_body(("plain",))
    assert text_part is not None
    text = str(text_part.get_content()).replace("\r\n", "\n")
    assert text.index("\nAlpha\n") < text.index("\nBeta\n") < text.index("\nStable\n")
    assert text.index("\nLTS-2024\n") < text.index("\nLTS-2023\n")
    assert "- 4230.1.0 (2025-03-20): 4230 promoted from alpha" in text
    assert "  Since 4186.1.1: kernel 6.6.74 -> 6.6.83, systemd 255 -> 256" in text
    assert "  https://www.flatcar.org/releases#release-4230.1.0" in text
    for line in text.splitlines():
        assert len(line) <= 72 or " " not in line.strip(), line


def test_the_digest_message_id_is_stable_per_output_and_period() -> None:
    end = datetime(2025, 3, 24, 9, 0, tzinfo=BERLIN)
    first = digest.digest_message_id("list", end, domain="example.org")
    assert first == digest.digest_message_id("list", end.astimezone(UTC), domain="example.org")
    assert first == "<digest.list.20250324T080000Z@example.org>"
    assert first != digest.digest_message_id("list", end + timedelta(days=7), domain="example.org")
    assert first != digest.digest_message_id("other", end, domain="example.org")


def test_digests_in_the_same_second_get_different_message_ids(tmp_path: Path, store: Store) -> None:
    # the scheduled digest ends at 09:00:00; `digest --send-now` in that same second makes a second
    # period and a second mail — with one Message-ID the list server would drop it as a duplicate
    sink = weekly_sink(tmp_path, send_empty=True)
    digest.tick(store, sink, Renderer(), now=utc(2025, 3, 19, 10, 0))
    at_nine = utc(2025, 3, 24, 8, 0)
    assert digest.tick(store, sink, Renderer(), now=at_nine + timedelta(microseconds=100_000)) is not None
    now = at_nine + timedelta(microseconds=600_000)
    assert digest.enqueue(store, sink, Renderer(), now=now, period_end=now, force=True) is not None
    assert [item.message_id for item in queued_digests(store)] == [
        "<digest.list.20250324T080000Z@example.org>",
        "<digest.list.20250324T080000.600000Z@example.org>",
    ]
