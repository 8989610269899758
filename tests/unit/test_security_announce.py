"""Security in announcements: the summary in IRC/console lines (within the line budget, over every
bundled release), the `filter.security` routing flag, the digest's security section and its subject."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Filter
from bot.digest_render import digest_context
from bot.messages import sample_plan_events
from bot.model import Event, PackageChange
from bot.presentation.render import IRC_LINE_BYTES
from bot.render import Renderer
from bot.routing import passes
from bot.security import release_security, summary_line
from bot.sinks import irc_line
from bot.store import PollRecord, Store
from tests.mailhelpers import history_events, mail_sink
from tests.unit.test_security import full_releases

END = datetime(2025, 3, 24, 8, 0, tzinfo=UTC)


def test_every_bundled_release_line_carries_its_summary_within_the_budget() -> None:
    renderer = Renderer()
    changes = tuple(
        PackageChange(n, "1.2.3-r" + "9" * 20, "1.2.4-r" + "9" * 20) for n in ("kernel", "systemd")
    )
    with_summary = 0
    for release in full_releases():
        for event in (
            Event("release", release),
            Event("promotion", release, previous=release, promoted_from="alpha", changes=changes),
        ):
            line = irc_line(event, renderer)
            assert len(line.encode()) <= IRC_LINE_BYTES or "security:" not in line, line
            index = release_security(release)
            if len(index) and event.kind == "release":
                assert " — security: " in line, line  # a plain release line always has room
                with_summary += 1
            if len(index) and event.kind == "promotion" and "security:" in line:
                shown = line.split(" — security: ")[1].rsplit(" — ", 1)[0]
                # one of the summary's shorter forms ("14 CVEs in 3 packages"), never a cut one
                assert any(summary_line(index, b) == f"security: {shown}" for b in range(24, 200)), line
            if not len(index):
                assert "security:" not in line
    assert with_summary > 400  # of the 421 releases with a security section


def test_filter_security_routes_only_releases_that_fix_something(tmp_path: Path) -> None:
    events = [e for _, batch in history_events() for e in batch]
    route = Filter(security=True)
    fixing = [e for e in events if len(release_security(e.release))]
    assert fixing and [e.key for e in events if passes(route, e)] == [e.key for e in fixing]
    quiet = dataclasses.replace(events[0].release, notes="Bug fixes only.")
    assert not passes(route, Event("release", quiet)) and passes(Filter(), Event("release", quiet))
    deprecation = next(e for e in sample_plan_events() if e.kind == "deprecation")
    assert not passes(route, deprecation)
    sink = mail_sink(tmp_path, filter={"security": True, "channels": ["stable"]})
    assert [e.key for e in events if sink.wants(e)] == [
        e.key for e in fixing if e.release.channel == "stable"
    ]


def test_filter_security_must_be_a_boolean(tmp_path: Path) -> None:
    import pytest

    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"filter\.security"):
        mail_sink(tmp_path, filter={"security": "yes"})


def test_the_digest_has_a_security_section_per_channel() -> None:
    events = [e for _, batch in history_events() for e in batch]
    context = digest_context(list(enumerate(events, 1)), output="list", period_start=None, period_end=END)
    security = {(c["label"]): c for c in context["security"]}
    stable = security["stable"]
    ids = {i for e in events if e.release.stream == "stable" for i in release_security(e.release).ids}
    assert stable["total"] == len(ids) > 0
    assert [r["version"] for r in stable["releases"]] == sorted(
        e.version for e in events if e.release.stream == "stable" and len(release_security(e.release))
    )
    text = Renderer().render("mail/digest.txt.j2", **context)
    assert "## Security fixes" in text and f"- Flatcar stable: {len(ids)} fixes" in text


def test_an_empty_digest_keeps_the_project_tag(tmp_path: Path) -> None:
    from bot import digest

    events = [e for _, batch in history_events() for e in batch]
    sink = mail_sink(tmp_path, digest={"cron": "0 9 * * mon", "send_empty": True})
    with Store(":memory:") as store:
        store.commit_poll(PollRecord("flatcar", now=END, new_releases=[events[0].release]))
        digest.tick(store, sink, Renderer(), now=datetime(2025, 3, 19, 10, 0, tzinfo=UTC))
        digest.tick(store, sink, Renderer(), now=datetime(2025, 3, 24, 9, 0, 1, tzinfo=UTC))
        (item,) = [i for i in store.pending("list", now=END.replace(year=2100)) if "digest" in i.event_key]
    assert item.payload["subject"] == "[Flatcar] Digest 2025-03-17 to 2025-03-24: nothing new"
