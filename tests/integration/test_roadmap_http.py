"""The tests of tests/unit/test_roadmap.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.app import Bot, PollResult
from bot.commands import answer, load_state_view
from bot.config import GithubIssuesSource, MboxOutput, SourceConfig, load_config
from bot.sinks.console import ConsoleSink
from bot.sources import fetch_roadmap
from bot.sources.http import HttpFetcher
from bot.store import Store
from tests.helpers import DATA, narrow
from tests.httpserver import LocalHTTPServer
from tests.unit.test_roadmap import BASELINE, LATER, TOKEN_ENV, data


class FakeGitHub:
    """The two endpoints the bot uses, with GitHub's headers: ETag and 304 on the issues listing, Link
    pagination, X-RateLimit-*; `fail_next` queues answers (rate limits, errors) sent before the data."""

    ISSUES = "/api/repos/flatcar/Flatcar/issues"
    GRAPHQL = "/api/graphql"

    def __init__(self, server: LocalHTTPServer) -> None:
        self.server = server
        self.issue_pages: list[bytes] = []
        self.project_pages: dict[str | None, bytes] = {}
        self.queued: dict[str, list[tuple[int, dict[str, str], bytes]]] = {"issues": [], "graphql": []}
        self.remaining: dict[int, int] = {}  # page → X-RateLimit-Remaining to send with it
        self.reset = int(time.time()) + 3600
        self.queries: list[dict[str, Any]] = []
        server.set_handler(self.ISSUES, self._issues)
        server.set_handler(self.GRAPHQL, self._graphql)

    def fail_next(self, endpoint: str, status: int, body: bytes, **headers: str) -> None:
        """Answer the next request to `endpoint` ("issues" or "graphql") with this instead."""
        self.queued[endpoint].append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    def _rate_headers(self, remaining: int = 4990) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(5000 - remaining),
            "X-RateLimit-Resource": "core",
        }

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status != 304:
            h.wfile.write(body)

    def _queued(self, h: BaseHTTPRequestHandler, endpoint: str) -> bool:
        if not self.queued[endpoint]:
            return False
        status, headers, body = self.queued[endpoint].pop(0)
        self._send(h, status, body, headers)
        return True

    def _issues(self, h: BaseHTTPRequestHandler) -> None:
        if self._queued(h, "issues"):
            return
        query = parse_qs(urlsplit(h.path).query)
        assert query["labels"] == ["kind/roadmap"] and query["state"] == ["all"]
        assert query["sort"] == ["updated"] and query["direction"] == ["desc"]
        page = int(query.get("page", ["1"])[0])
        body = self.issue_pages[page - 1]
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        headers = {"ETag": etag, **self._rate_headers(self.remaining.get(page, 4990))}
        if page < len(self.issue_pages):
            base = (
                self.server.url(self.ISSUES) + "?labels=kind%2Froadmap&state=all&sort=updated&direction=desc"
            )
            last = len(self.issue_pages)
            headers["Link"] = f'<{base}&page={page + 1}>; rel="next", <{base}&page={last}>; rel="last"'
        if h.headers.get("If-None-Match") == etag:
            self._send(h, 304, b"", headers)
            return
        self._send(h, 200, body, headers)

    def _graphql(self, h: BaseHTTPRequestHandler) -> None:
        request = json.loads(getattr(h, "request_body", b"{}"))
        self.queries.append(request)
        if self._queued(h, "graphql"):
            return
        if h.headers.get("Authorization") != "Bearer test-token":
            self._send(h, 401, data("rest-bad-credentials.json"), {})
            return
        variables = request["variables"]
        assert "projectV2(number: $number)" in request["query"]
        assert variables["org"] == "flatcar" and variables["number"] == 7 and variables["field"] == "Status"
        self._send(h, 200, self.project_pages[variables["cursor"]], self._rate_headers())

    def snapshot(self, which: str) -> None:
        if which == "first":
            self.issue_pages = [data("issues-1.json"), data("issues-2.json")]
            self.project_pages = {None: data("project-1.json"), "Mw": data("project-2.json")}
        else:
            self.issue_pages = [data(f"issues-later-{n}.json") for n in (1, 2, 3)]
            self.project_pages = {None: data("project-later-1.json"), "Mw": data("project-later-2.json")}


@pytest.fixture
def github(http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    monkeypatch.setenv(TOKEN_ENV, "test-token")
    fake = FakeGitHub(http_server)
    fake.snapshot("first")
    return fake


def write_config(tmp_path: Path, server: LocalHTTPServer, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [http]
        timeout = "5s"

        [[sources]]
        name = "issues"
        kind = "github_issues"
        project = "Flatcar"
        api_url = "{server.url("/api")}"
        repo = "flatcar/Flatcar"
        labels = ["kind/roadmap"]
        rate_limit_wait = "5s"

        [[sources]]
        name = "board"
        kind = "github_project"
        project = "Flatcar"
        api_url = "{server.url("/api/graphql")}"
        org = "flatcar"
        project_number = 7
        statuses = ["Planned", "In progress", "Done"]
        token_env = "{TOKEN_ENV}"

        [[outputs]]
        name = "console"
        kind = "console"
        """)
        + extra,
        encoding="utf-8",
    )
    return path


def poll_once(config_path: Path, when: datetime) -> tuple[list[PollResult], list[str]]:
    """One poll of every source at `when`, one delivery; (results, console lines)."""

    async def main() -> tuple[list[PollResult], list[str]]:
        config = load_config(config_path)
        out = io.StringIO()
        bot = Bot(config, sinks=[ConsoleSink(config.outputs[0], stream=out)], clock=lambda: when)
        try:
            polls = await bot.poll_all()
            await bot.deliver()
        finally:
            await bot.aclose()
        return polls, out.getvalue().splitlines()

    return asyncio.run(main())


def test_issues_and_project_over_http(
    github: FakeGitHub, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, http_server)
    polls, lines = poll_once(config, BASELINE)
    assert all(p.ok for p in polls), [p.error for p in polls]
    assert lines == []  # baseline
    assert {p.source: p.baselined for p in polls} == {
        "issues": ("issues-kind/roadmap",),
        "board": ("project-flatcar-7",),
    }
    issue_requests = http_server.requests_to(FakeGitHub.ISSUES)
    assert [urlsplit(r.path).query.endswith("page=2") for r in issue_requests] == [
        False,
        True,
    ]  # Link followed
    assert all(r.headers.get("Accept") == "application/vnd.github+json" for r in issue_requests)
    assert "Authorization" not in issue_requests[0].headers  # no token_env: unauthenticated
    assert [q["variables"]["cursor"] for q in github.queries] == [None, "Mw"]  # cursor pagination
    graphql = http_server.requests_to(FakeGitHub.GRAPHQL)
    assert all(r.method == "POST" and r.headers.get("Authorization") == "Bearer test-token" for r in graphql)

    github.snapshot("later")
    http_server.clear_requests()
    polls, lines = poll_once(config, LATER)
    assert all(p.ok for p in polls), [p.error for p in polls]
    assert len(http_server.requests_to(FakeGitHub.ISSUES)) == 3
    # the two sources are polled concurrently: each one's lines are in order, the two interleave
    issues_lines = [line for line in lines if line.endswith(("1700", "/2130")) or "closed: #2050" in line]
    assert issues_lines == lines[:3] or issues_lines == lines[-3:]
    assert sorted(lines) == sorted(
        [
            "[Flatcar] deprecation on the roadmap: Drop support for the Azure classic (ASM) images"
            " — https://github.com/flatcar/Flatcar/issues/1700",
            "[Flatcar roadmap] new: #2130 Roadmap: Kubernetes 1.34 as a sysext — https://github.com/flatcar/Flatcar/issues/2130",
            "[Flatcar roadmap] closed: #2050 Roadmap: arm64 images on every cloud provider"
            " — https://github.com/flatcar/Flatcar/issues/2050",
            "[Flatcar roadmap] Evaluate composefs for /usr: Backlog → Planned",
            "[Flatcar roadmap] #2050 Roadmap: arm64 images on every cloud provider: Planned → In progress"
            " — https://github.com/flatcar/Flatcar/issues/2050",
            "[Flatcar roadmap] new: #2131 Roadmap: IPv6-only clusters [Planned] — https://github.com/flatcar/Flatcar/issues/2131",
            "[Flatcar roadmap] #2101 Roadmap: ship every OEM as a systemd-sysext image: In progress → Done"
            " — https://github.com/flatcar/Flatcar/issues/2101",
            "[Flatcar roadmap] closed: #3001 sysext: build the OEM images as extensions"
            " — https://github.com/flatcar/scripts/pull/3001",
        ]
    )

    # The same data again: the issues listing answers 304 (page 1 only); nothing is announced.
    http_server.clear_requests()
    polls, lines = poll_once(config, LATER)
    assert lines == []
    (first_page,) = http_server.requests_to(FakeGitHub.ISSUES)
    assert first_page.headers.get("If-None-Match")
    assert next(p for p in polls if p.source == "issues").unchanged == 1

    with Store(tmp_path / "state.sqlite3") as store:
        state = load_state_view(store)
        keys = [event.key for _, event in store.events()]
    assert len(keys) == len(set(keys)) == 8
    assert answer("!roadmap", state) == [
        "Flatcar roadmap: 7 open — open 3, Planned 2, Backlog 1, Done 1 (!roadmap <status>)",
        "[Done] #2101 Roadmap: ship every OEM as a systemd-sysext image — https://github.com/flatcar/Flatcar/issues/2101",
        "[Planned] #2131 Roadmap: IPv6-only clusters — https://github.com/flatcar/Flatcar/issues/2131",
        "[Backlog] #2130 Roadmap: Kubernetes 1.34 as a sysext — https://github.com/flatcar/Flatcar/issues/2130",
        "[Planned] Evaluate composefs for /usr",
    ]
    assert answer("!roadmap planned", state) == [
        "[Planned] #2131 Roadmap: IPv6-only clusters — https://github.com/flatcar/Flatcar/issues/2131",
        "[Planned] Evaluate composefs for /usr",
    ]
    # #2050 is on the board "In progress", but its issue was closed since: the newer news wins
    assert answer("!roadmap in progress", state) == [
        "no roadmap item is 'in progress'; open items are: Backlog, Done, open, Planned"
    ]
    assert answer("!roadmap closed", state) == [
        "[closed] #2050 Roadmap: arm64 images on every cloud provider — https://github.com/flatcar/Flatcar/issues/2050",
        "[closed] #3001 sysext: build the OEM images as extensions — https://github.com/flatcar/scripts/pull/3001",
        "[closed] #1990 Roadmap: Ignition spec 3.5 support — https://github.com/flatcar/Flatcar/issues/1990",
    ]
    deprecations = answer("!deprecations roadmap", state)
    assert deprecations is not None and len(deprecations) == 2
    assert deprecations == [
        "Deprecate cgroups v1 (legacy hierarchy) support — on the roadmap (kind/deprecation)"
        " — https://github.com/flatcar/Flatcar/issues/2098",
        "Drop support for the Azure classic (ASM) images — on the roadmap (kind/deprecation)"
        " — https://github.com/flatcar/Flatcar/issues/1700",
    ]


def test_roadmap_events_reach_the_mbox_and_the_digest_kinds(
    github: FakeGitHub, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        http_server,
        extra='\n[[outputs]]\nname = "mbox"\nkind = "mbox"\npath = "out.mbox"\n'
        '[outputs.filter]\nkinds = ["roadmap"]\n',
    )
    from bot.sinks.mbox import MboxSink

    async def run(when: datetime) -> None:
        loaded = load_config(config)
        bot = Bot(loaded, sinks=[MboxSink(narrow(loaded.outputs[1], MboxOutput))], clock=lambda: when)
        try:
            await bot.poll_all()
            await bot.deliver()
        finally:
            await bot.aclose()

    asyncio.run(run(BASELINE))
    github.snapshot("later")
    asyncio.run(run(LATER))
    import mailbox

    box = mailbox.mbox(tmp_path / "out.mbox", create=False)
    try:
        subjects = [str(m["Subject"]) for m in box]
        ids = [str(m["Message-ID"]) for m in box]
    finally:
        box.close()
    assert len(subjects) == 7  # the deprecation notice is routed elsewhere (kinds = ["roadmap"])
    assert "[Flatcar roadmap] In progress: #2050 Roadmap: arm64 images on every cloud provider" in subjects
    # the item's id "flatcar/Flatcar#2050" is spelled safely (bot.messages may add a short hash)
    # (and cut to fit one header line, ending in a hash of the whole: bot.presentation.ids)
    from bot.presentation.ids import _id_part, fit_message_id

    local = f"roadmap.Flatcar.flatcar.{_id_part('Flatcar#2050')}.in-progress.mbox"
    assert ids.count(fit_message_id(local, "release-bot.invalid")) == 1, ids


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def issues_source(server: LocalHTTPServer, **changes: Any) -> GithubIssuesSource:
    values: dict[str, Any] = {
        "name": "issues",
        "kind": "github_issues",
        "project": "Flatcar",
        "interval": 900.0,
        "announce_on_first_run": 0,
        "api_url": server.url("/api"),
        "repo": "flatcar/Flatcar",
        "labels": ("kind/roadmap",),
        "rate_limit_wait": 5.0,
    }
    values.update(changes)
    return GithubIssuesSource(**values)


def fetch(source: SourceConfig, sleep: Callable[[float], Any]) -> Any:
    async def main() -> Any:
        async with HttpFetcher(user_agent="test", timeout=5) as fetcher:
            return await fetch_roadmap(fetcher, source, {}, sleep=sleep)

    return asyncio.run(main())


def test_rate_limited_403_waits_for_a_near_reset(github: FakeGitHub, http_server: LocalHTTPServer) -> None:
    github.fail_next(
        "issues",
        403,
        data("rest-rate-limited.json"),
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(int(time.time()) + 2),
    )
    sleeps = Sleeps()
    result = fetch(issues_source(http_server), sleeps)
    assert result.errors == [] and result.retry_after is None
    assert len(sleeps.calls) == 1 and 0 < sleeps.calls[0] <= 2
    assert len(result.documents[0].items) == 5


def test_429_retry_after_is_honoured(github: FakeGitHub, http_server: LocalHTTPServer) -> None:
    github.fail_next("issues", 429, b'{"message": "secondary rate limit"}', Retry_After="3")
    sleeps = Sleeps()
    result = fetch(issues_source(http_server), sleeps)
    assert sleeps.calls == [3.0] and result.errors == []


def test_exhausted_limit_between_pages_waits_before_the_next_page(
    github: FakeGitHub, http_server: LocalHTTPServer
) -> None:
    github.reset = int(time.time()) + 2
    github.remaining = {1: 0}
    sleeps = Sleeps()
    result = fetch(issues_source(http_server), sleeps)
    assert len(sleeps.calls) == 1 and result.documents[0].complete
    github.reset = int(time.time()) + 3600  # too far: stop, use what was read, come back at the reset
    sleeps = Sleeps()
    result = fetch(issues_source(http_server), sleeps)
    assert sleeps.calls == [] and 3500 < result.retry_after <= 3600
    assert not result.documents[0].complete and len(result.documents[0].items) == 3
    assert result.updates == []  # validators not stored: the next poll reads the listing again


def test_a_long_rate_limit_defers_the_poll_instead_of_failing(
    github: FakeGitHub, http_server: LocalHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, http_server)
    github.fail_next(
        "issues",
        403,
        data("rest-rate-limited.json"),
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(int(time.time()) + 1800),
    )
    with caplog.at_level(logging.INFO, logger="release-bot"):
        polls, _ = poll_once(config, BASELINE)
    issues = next(p for p in polls if p.source == "issues")
    assert not issues.ok and issues.retry_after is not None and 1700 < issues.retry_after <= 1800
    assert "rate limited" in (issues.error or "")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # not loud
    assert any("next poll in" in r.getMessage() for r in caplog.records)
    with Store(tmp_path / "state.sqlite3") as store:
        status = store.source_status("issues")
        assert status is not None and "rate limited" in (status.last_error or "")
        assert store.roadmap_items("issues") == []  # nothing read, nothing baselined
    bot = Bot(load_config(config), sinks=[])
    try:
        assert bot.next_poll_delay(bot.config.source("issues"), issues) == issues.retry_after  # at the reset
        assert bot.next_poll_delay(bot.config.source("issues"), PollResult("issues", ok=True)) == 900.0
    finally:
        asyncio.run(bot.aclose())
    polls, _ = poll_once(config, BASELINE)  # after the reset: the baseline
    assert next(p for p in polls if p.source == "issues").baselined == ("issues-kind/roadmap",)


def test_graphql_rate_limit_answer_waits(
    github: FakeGitHub, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    github.fail_next(
        "graphql",
        200,
        data("graphql-rate-limited.json"),
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(int(time.time()) + 1),
    )
    source = load_config(write_config(tmp_path, http_server)).source("board")
    sleeps = Sleeps()
    result = fetch(source, sleeps)
    assert len(sleeps.calls) == 1 and result.errors == []
    assert len(result.documents[0].items) == 5


@pytest.mark.parametrize(
    ("which", "status", "body", "expected"),
    [
        ("issues", 401, "rest-bad-credentials.json", "HTTP 401 Unauthorized"),
        ("issues", 500, "", "HTTP 500 Internal Server Error"),
        ("board", 200, "graphql-not-found.json", "GraphQL error: Could not resolve to an Organization"),
        ("board", 502, "", "HTTP 502 Bad Gateway"),
    ],
)
def test_error_answers_fail_the_source_only(
    github: FakeGitHub,
    http_server: LocalHTTPServer,
    tmp_path: Path,
    which: str,
    status: int,
    body: str,
    expected: str,
) -> None:
    config = write_config(tmp_path, http_server)
    github.fail_next("issues" if which == "issues" else "graphql", status, data(body) if body else b"")
    polls, _ = poll_once(config, BASELINE)
    failed = {p.source: p for p in polls if not p.ok}
    assert list(failed) == [which]
    assert expected in (failed[which].error or "")
    ok = [p for p in polls if p.ok]
    assert all(p.baselined for p in ok)  # the other source went on


def test_the_token_never_follows_a_pagination_link_to_another_host(
    github: FakeGitHub, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page is fetched with the token: a Link to another origin than the configured API's (here
    another port) is refused, not followed."""
    other = LocalHTTPServer()
    other.start()
    try:
        other.set("/steal", b"[]", content_type="application/json")
        first = data("issues-1.json")
        link = f'<{other.url("/steal")}?page=2>; rel="next"'
        github.fail_next("issues", 200, first, Link=link)
        monkeypatch.setenv(TOKEN_ENV, "secret-token")
        result = fetch(issues_source(http_server, token_env=TOKEN_ENV), Sleeps())
        assert other.requests_to("/steal") == []
        assert len(result.errors) == 1 and "pagination link to another host refused" in result.errors[0]
        assert "secret-token" not in result.errors[0]
    finally:
        other.stop()


def test_project_without_token_is_a_clear_error(
    github: FakeGitHub, http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    polls, _ = poll_once(write_config(tmp_path, http_server), BASELINE)
    board_result = next(p for p in polls if p.source == "board")
    assert not board_result.ok
    assert f"environment variable {TOKEN_ENV} (token_env) is not set" in (board_result.error or "")
    assert http_server.requests_to(FakeGitHub.GRAPHQL) == []


def test_roadmap_feed(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    """Any Atom/RSS feed works as a roadmap source; here the real beta feed of 2025-02-18 and 2025-03-20
    (re-rendered with new <updated> times, and one new entry)."""
    feeds = DATA / "feeds"
    http_server.set("/roadmap.xml", (feeds / "history-2025-02-18-releases-beta-trimmed.xml").read_bytes())
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "plans"
        kind = "roadmap_feed"
        project = "Flatcar"
        url = "{http_server.url("/roadmap.xml")}"
        [[outputs]]
        name = "console"
        kind = "console"
        """),
        encoding="utf-8",
    )
    polls, lines = poll_once(path, datetime(2025, 2, 19, tzinfo=UTC))
    assert polls[0].ok and polls[0].baselined == ("feed",) and lines == []
    http_server.set("/roadmap.xml", (feeds / "history-2025-03-20-releases-beta-trimmed.xml").read_bytes())
    polls, lines = poll_once(path, datetime(2025, 3, 21, tzinfo=UTC))
    assert polls[0].ok
    assert lines == ["[Flatcar roadmap] new: 4230.1.0 — https://www.flatcar.org/releases/#release-4230.1.0"]
