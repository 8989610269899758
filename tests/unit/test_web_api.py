"""The JSON API, /readyz, /metrics and /feed.atom called in-process (aiohttp's mocked requests: no
socket) over a state holding the real Flatcar history: the API answers what the channel commands
answer, with ETags, conditional GET and JSON errors; GET and HEAD only."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from bot.app import Bot
from bot.commands import answer
from bot.config import parse_config
from bot.detect import StreamIndex
from bot.model import Event, Release, version_key
from bot.security import cve_answer
from bot.store import OutboxMessage, PollRecord, Store
from bot.web import metrics
from bot.web.server import _guard, make_app
from tests.helpers import SNAPSHOTS, history_snapshot

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
#: the list mail's subject of stable 4152.2.2: a feed entry is titled like the mail
STABLE_SUBJECT = "[Flatcar] stable 4152.2.2: kernel 6.6.83, 61 security fixes"


def _config(tmp_path: Path) -> Any:
    data = {
        "http_server": {"feed_authority": "example.org,2025", "public_url": "https://bot.example.org"},
        "sources": [{"name": "flatcar", "kind": "flatcar", "interval": "15m"}],
        "outputs": [{"name": "mbox", "kind": "mbox", "path": "out.mbox"}],
    }
    return parse_config(data, path=tmp_path / "config.toml")


@functools.cache
def _releases() -> list[Release]:
    return [r for d in history_snapshot(SNAPSHOTS[-1]).documents for r in d.releases]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    """A bot whose state knows the releases of the 2025-03-20 snapshot; the newest of each stream
    was announced (an event with a queued mbox message), an hour apart, oldest first."""
    releases = _releases()
    store = Store(":memory:")
    index = StreamIndex(releases)
    newest: dict[str, Release] = {}
    for r in releases:
        if r.stream not in newest or version_key(r.version) > version_key(newest[r.stream].version):
            newest[r.stream] = r
    store.commit_poll(PollRecord("flatcar", now=NOW - timedelta(days=1), new_releases=releases))
    for k, r in enumerate(sorted(newest.values(), key=lambda r: r.stream)):
        event = Event("release", r, previous=index.previous(r))
        message = OutboxMessage("mbox", f"<{k}@test>", {"subject": r.version})
        store.commit_poll(PollRecord("flatcar", now=NOW + timedelta(hours=k), events=[(event, [message])]))
    config = _config(tmp_path)
    instance = Bot(config, store=store, sinks=[])
    yield instance
    asyncio.run(instance.aclose())


def call(bot: Bot, path: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> web.Response:
    """One request through the app's router and middleware, without a socket."""
    settings = bot.config.http_server
    assert settings is not None
    app = make_app(bot, settings)

    async def go() -> web.Response:
        request = make_mocked_request(method, path, headers=headers or {}, app=app)
        match = await app.router.resolve(request)
        request._match_info = match  # what aiohttp's server does before calling the handler
        match.add_app(app)
        response = await _guard(request, match.handler)
        assert isinstance(response, web.Response)
        return response

    return asyncio.run(go())


def body(response: web.Response) -> Any:
    assert response.body is not None
    return json.loads(bytes(response.body))  # type: ignore[arg-type]


def test_releases_answer_what_the_channel_commands_answer(bot: Bot) -> None:
    state = bot.state_view()
    everything = call(bot, "/api/v1/releases")
    assert everything.status == 200 and everything.content_type == "application/json"
    data = body(everything)
    assert data["text"] == answer("!release", state)
    assert {r["label"] for r in data["releases"]} >= {"alpha", "beta", "stable", "LTS-2024", "LTS-2023"}

    stable = body(call(bot, "/api/v1/releases/stable"))
    truth = max((r for r in state.releases if r.stream == "stable"), key=lambda r: version_key(r.version))
    assert [r["version"] for r in stable["releases"]] == [truth.version] == ["4152.2.2"]
    assert stable["text"] == answer("!release stable", state)
    assert stable["releases"][0]["packages"]["kernel"] == truth.packages["kernel"]
    assert stable["releases"][0]["all_packages"] == dict(sorted(truth.packages.items()))
    assert stable["releases"][0]["published"].endswith("Z")

    version = body(call(bot, "/api/v1/releases/4152.2.2"))
    assert version["text"] == answer("!release 4152.2.2", state)
    lts = body(call(bot, "/api/v1/releases/lts"))
    assert [r["label"] for r in lts["releases"]] == ["LTS-2024", "LTS-2023"]

    changes = body(call(bot, "/api/v1/changes/stable"))
    assert changes["text"] == answer("!changes stable", state)
    assert changes["changes"][0]["previous"]["version"] == "4152.2.1"
    assert {"package": "kernel", "old": "6.6.74", "new": "6.6.83"} in changes["changes"][0]["changes"]


def test_deprecations_roadmap_and_cve(bot: Bot) -> None:
    state = bot.state_view()
    deprecations = body(call(bot, "/api/v1/deprecations"))
    assert deprecations["text"] == answer("!deprecations", state) and deprecations["notices"] == []
    roadmap = body(call(bot, "/api/v1/roadmap"))
    assert roadmap["text"] == answer("!roadmap", state) and roadmap["items"] == []
    cve = body(call(bot, "/api/v1/cve/cve-2025-21835"))
    assert cve["id"] == "CVE-2025-21835" and cve["text"] == cve_answer("CVE-2025-21835", state.releases)
    assert cve["command"] == "!cve CVE-2025-21835" and cve["packages"]
    stable = next(s for s in cve["streams"] if s["stream"] == "stable")
    assert stable["first_listed"]["version"] == "4152.2.2"
    unlisted = call(bot, "/api/v1/cve/CVE-1999-0001")
    assert unlisted.status == 404 and "mention CVE-1999-0001" in body(unlisted)["error"]["message"]
    bad = call(bot, "/api/v1/cve/not-a-cve")
    assert bad.status == 400 and "not a CVE or GHSA id" in body(bad)["error"]["message"]


def test_errors_are_json_with_a_message(bot: Bot) -> None:
    unknown = call(bot, "/api/v1/releases/nightly")
    assert unknown.status == 404
    assert body(unknown) == {
        "error": {"status": 404, "message": (answer("!release nightly", bot.state_view()) or [""])[0]}
    }
    assert unknown.headers["Cache-Control"] == "no-store"
    missing = call(bot, "/api/v1/nothing")
    assert missing.status == 404 and "openapi.json" in body(missing)["error"]["message"]
    assert call(bot, "/api/v1/releases/%3Cscript%3E").status == 400
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        refused = call(bot, "/api/v1/releases", method=method)
        assert refused.status == 405 and refused.headers["Allow"] == "GET, HEAD"
        assert "read-only" in body(refused)["error"]["message"]


def test_etag_cache_control_and_conditional_get(bot: Bot) -> None:
    first = call(bot, "/api/v1/releases/stable")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "public, max-age=60"
    again = call(bot, "/api/v1/releases/stable", headers={"If-None-Match": etag})
    assert again.status == 304 and not again.body and again.headers["ETag"] == etag
    assert call(bot, "/api/v1/releases/stable", headers={"If-None-Match": '"other"'}).status == 200


def test_openapi_document_names_every_route(bot: Bot) -> None:
    doc = body(call(bot, "/api/v1/openapi.json"))
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/v1/releases",
        "/api/v1/releases/{name}",
        "/api/v1/changes/{name}",
        "/api/v1/deprecations",
        "/api/v1/roadmap",
        "/api/v1/cve/{id}",
    }


def test_readyz_is_the_status_check_verdict(bot: Bot) -> None:
    stale = call(bot, "/readyz")
    data = body(stale)
    assert (
        stale.status == 503 and data["status"] == "degraded" and stale.headers["Cache-Control"] == "no-store"
    )
    assert any("not polled for" in r for r in data["reasons"])  # the state's last poll was in 2025
    assert data["outputs"][0] | {"queued": 5, "state": "degraded"} == data["outputs"][0]  # queued too long
    assert data["outputs"][0]["oldest_queued_age_seconds"] > 86400

    now = datetime.now(UTC)
    for item in bot.store.pending("mbox", now=now):
        bot.store.mark_delivered(item.id, now=now)
    bot.store.commit_poll(PollRecord("flatcar", now=now))
    ready = call(bot, "/readyz")
    data = body(ready)
    assert ready.status == 200 and data["status"] == "healthy" and data["reasons"] == []
    assert data["sources"][0] | {"name": "flatcar", "state": "ok", "error_streak": 0} == data["sources"][0]
    assert (
        data["outputs"][0] | {"name": "mbox", "state": "ok", "queued": 0, "connected": None}
        == data["outputs"][0]
    )

    bot.store.commit_poll(PollRecord("flatcar", now=now - timedelta(hours=2)))  # the last success
    for _ in range(4):
        bot.store.record_failure("flatcar", now=now, error="HTTP 503")
    down = call(bot, "/readyz")
    data = body(down)
    assert down.status == 503 and data["sources"][0]["state"] == "degraded"
    assert data["sources"][0]["error_streak"] == 4 and data["sources"][0]["last_error"] == "HTTP 503"
    assert data["reasons"] == data["sources"][0]["reasons"]
    assert data["reasons"][0].startswith("source flatcar: failing for 2 h")
    assert call(bot, "/healthz").text == "ok\n"


def test_metrics_parse_and_name_conventions(bot: Bot) -> None:
    metrics.count_delivery("mbox")
    metrics.count_delivery("mbox", cause="transient")
    response = call(bot, "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(response.text or "")}
    for name, family in families.items():
        assert name.startswith("release_bot_"), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert samples[("release_bot_outbox_queued", (("output", "mbox"),))] == 5
    assert samples[("release_bot_outbox_oldest_age_seconds", (("output", "mbox"),))] > 0
    assert samples[("release_bot_deliveries_total", (("output", "mbox"),))] >= 1
    assert samples[("release_bot_delivery_failures_total", (("cause", "transient"), ("output", "mbox")))] >= 1
    assert ("release_bot_build_info", (("version", "0.1.0"),)) in samples
    assert (
        "release_bot_poll_duration_seconds" in families
        and families["release_bot_poll_duration_seconds"].type == "histogram"
    )


def test_feed_of_the_announcements(bot: Bot) -> None:
    response = call(bot, "/feed.atom")
    assert response.content_type == "application/atom+xml"
    parsed = feedparser.parse(bytes(response.body))  # type: ignore[arg-type]
    assert not parsed.bozo and parsed.version == "atom10"
    assert parsed.feed.id == "tag:example.org,2025:feed"
    assert parsed.feed.links[0].href == "https://bot.example.org/feed.atom"
    entries = parsed.entries
    assert len(entries) == 5
    announced = bot.store.announcements(limit=10)
    assert [e.id for e in entries] == [f"tag:example.org,2025:event:{a.key}" for a in announced]
    assert [e.updated for e in entries] == [
        a.announced_at.isoformat().replace("+00:00", "Z") for a in announced
    ]
    assert entries[0].updated == "2025-03-20T16:00:00Z"  # newest first
    assert parsed.feed.updated == entries[0].updated
    assert all(e.title.startswith("[Flatcar] ") and e.summary and e.link for e in entries)
    stable = feedparser.parse(bytes(call(bot, "/feed.atom?channel=stable").body))  # type: ignore[arg-type]
    assert [e.title for e in stable.entries] == [STABLE_SUBJECT]
    lts = feedparser.parse(bytes(call(bot, "/feed.atom?channel=lts&kind=release").body))  # type: ignore[arg-type]
    assert len(lts.entries) == 2
    assert call(bot, "/feed.atom?kind=nonsense").status == 400
    again = call(bot, "/feed.atom", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    since = call(bot, "/feed.atom", headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.status == 304


def test_status_page_renders_and_a_broken_override_says_which_line(bot: Bot, tmp_path: Path) -> None:
    page = call(bot, "/")
    assert page.status == 200 and page.content_type == "text/html"
    html = page.text or ""
    assert "4152.2.2" in html and STABLE_SUBJECT in html and "<script" not in html
    override = tmp_path / "templates" / "web"
    override.mkdir(parents=True)
    (override / "status.html.j2").write_text("<p>{{ projects.nope }}</p>\n", encoding="utf-8")
    from bot.presentation import Renderer

    bot.renderer = Renderer(override_dir=tmp_path / "templates")
    broken = call(bot, "/")
    assert broken.status == 500
    message = body(broken)["error"]["message"]
    assert "web/status.html.j2" in message and "line 1" in message, message
