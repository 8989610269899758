"""The HTTP server of `release-bot run`, over the real Flatcar history snapshots served by a local
HTTP server: readiness follows the source, metrics move with each poll, the API gives the true heads,
the Atom feed gains one entry per announcement and keeps its ids and dates across restarts."""

from __future__ import annotations

import mailbox
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.model import version_key
from tests.helpers import SNAPSHOTS, free_port, history_snapshot
from tests.httpserver import LocalHTTPServer
from tests.replay import serve_history

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FILES = ("alpha", "beta", "stable", "lts")


def serve(server: LocalHTTPServer, snapshot: str) -> None:
    serve_history(server, snapshot, FILES)


def stable_head(snapshot: str) -> str:
    releases = [r for d in history_snapshot(snapshot, ("stable",)).documents for r in d.releases]
    return max((r.version for r in releases), key=version_key)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's own parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


class Daemon:
    """`release-bot run` as a new process, its output in files."""

    def __init__(self, config: Path, tmp_path: Path, port: int) -> None:
        self.config = config
        self.tmp_path = tmp_path
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        out = open(self.tmp_path / f"run{self.runs}.out", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "-c", str(self.config), "run"], cwd=REPO, stdout=out, stderr=out
        )
        out.close()
        wait_for("the HTTP server", lambda: httpx.get(self.base + "/healthz", timeout=2).status_code == 200)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("run*.out")))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kwargs)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = self.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return metric_samples(response.text)

    def feed(self, query: str = "") -> Any:
        response = self.get("/feed.atom" + query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "atom10"
        # the elements RFC 4287 requires: feed id, title, updated (and an author); entry id, title, updated
        assert parsed.feed.id.startswith("tag:")
        assert parsed.feed.title and parsed.feed.updated_parsed and parsed.feed.author
        for entry in parsed.entries:
            assert entry.id.startswith("tag:release-bot.test,2025:event:")
            assert entry.title and entry.updated_parsed and entry.published == entry.updated
            assert entry.summary  # the mail text
        return parsed


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, LocalHTTPServer]]:
    source = LocalHTTPServer()
    source.start()
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        health_failing_intervals = 2

        [http]
        timeout = "5s"
        retry_initial = "1s"
        retry_max = "2s"

        [http_server]
        listen = "127.0.0.1:{port}"
        feed_authority = "release-bot.test,2025"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{source.url("/flatcar/")}"
        interval = "10s"

        [[outputs]]
        name = "mbox"
        kind = "mbox"
        path = "out.mbox"
        """),
        encoding="utf-8",
    )
    bot = Daemon(config, tmp_path, port)
    try:
        yield bot, source
    finally:
        if bot.proc is not None:
            bot.proc.kill()
            bot.proc.wait()
        source.stop()


def _polls(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], result: str = "ok") -> float:
    return samples.get(("release_bot_polls_total", (("result", result), ("source", "flatcar"))), 0.0)


def _events(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(v for (name, _labels), v in samples.items() if name == "release_bot_events_total")


def test_run_serves_health_metrics_api_and_feed(
    daemon: tuple[Daemon, LocalHTTPServer], tmp_path: Path
) -> None:
    bot, source = daemon
    serve(source, SNAPSHOTS[0])
    bot.start()

    # the first poll: a baseline; ready, the true stable head, an empty but valid feed
    wait_for("the first poll", lambda: _polls(bot.metrics()) >= 1)
    ready = bot.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "healthy"
    assert [s["name"] for s in body["sources"]] == ["flatcar"]
    assert body["sources"][0]["state"] == "ok" and body["sources"][0]["last_success_at"]
    assert body["outputs"][0] == body["outputs"][0] | {"name": "mbox", "queued": 0, "state": "ok"}
    stable = bot.get("/api/v1/releases/stable").json()
    assert [r["version"] for r in stable["releases"]] == [stable_head(SNAPSHOTS[0])]
    assert bot.feed().entries == []

    # counters move with a poll: an unchanged source is fetched again (304s), timed, counted
    before = bot.metrics()
    wait_for("another poll", lambda: _polls(bot.metrics()) > _polls(before))
    after = bot.metrics()
    assert after[("release_bot_poll_duration_seconds_count", (("source", "flatcar"),))] > before.get(
        ("release_bot_poll_duration_seconds_count", (("source", "flatcar"),)), 0
    )
    key_304 = ("release_bot_fetches_total", (("result", "304"), ("source", "flatcar")))
    assert after[key_304] > before.get(key_304, 0)
    assert after[("release_bot_build_info", (("version", "0.1.0"),))] == 1
    assert after[("release_bot_source_last_success_timestamp_seconds", (("source", "flatcar"),))] > 1.7e9

    # new releases: the feed gains exactly one entry per announcement (as many as mails in the mbox)
    serve(source, SNAPSHOTS[1])
    wait_for(
        "the announcements", lambda: bot.feed().entries and _events(bot.metrics()) == len(bot.feed().entries)
    )
    wait_for(
        "the mails",
        lambda: (
            (tmp_path / "out.mbox").exists()
            and bot.metrics()[("release_bot_outbox_queued", (("output", "mbox"),))] == 0
        ),
    )
    first = bot.feed()
    ids = [e.id for e in first.entries]
    assert len(ids) == len(set(ids)) == _events(bot.metrics())
    box = mailbox.mbox(tmp_path / "out.mbox", create=False)
    subjects = sorted(str(m["Subject"]) for m in box)
    box.close()
    assert sorted(e.title for e in first.entries) == subjects  # the title is the mail's subject
    assert bot.metrics()[("release_bot_deliveries_total", (("output", "mbox"),))] == len(subjects)
    stable = bot.get("/api/v1/releases/stable").json()
    assert [r["version"] for r in stable["releases"]] == [stable_head(SNAPSHOTS[1])]
    kinds = {e.tags[0].term for e in first.entries}
    only_promotions = bot.feed("?kind=promotion").entries
    assert {e.id for e in only_promotions} == {e.id for e in first.entries if e.tags[0].term == "promotion"}
    assert kinds >= {"release"}

    # a restart: the same entries, ids and dates
    assert bot.stop() == 0
    bot.start()
    again = bot.feed()
    assert [(e.id, e.updated, e.published, e.title) for e in again.entries] == [
        (e.id, e.updated, e.published, e.title) for e in first.entries
    ]
    assert again.feed.updated == first.feed.updated

    # the source server stops: degraded (503) once it has failed for longer than two intervals; back: 200
    port = source.port
    source.stop()

    def failing() -> httpx.Response | None:
        response = bot.get("/readyz")
        reasons = response.json()["reasons"]
        degraded = response.status_code == 503 and reasons[0].startswith("source flatcar: failing")
        return response if degraded else None

    down = wait_for("/readyz 503: source flatcar failing", failing, timeout=60)
    assert down.json()["status"] == "degraded"
    assert down.json()["sources"][0]["state"] == "degraded"
    failures = bot.metrics()
    assert any(
        name == "release_bot_fetches_total" and dict(labels)["result"] not in ("200", "304")
        for (name, labels) in failures
    )
    source.start(port)
    serve(source, SNAPSHOTS[2])
    wait_for("/readyz 200", lambda: bot.get("/readyz").status_code == 200, timeout=30)

    # the next snapshot: exactly the new announcements are added; the earlier entries are unchanged
    wait_for("the new announcements", lambda: len(bot.feed().entries) > len(first.entries))
    wait_for(
        "every event in the feed",
        lambda: _events(bot.metrics()) + len(first.entries) == len(bot.feed().entries),
    )
    later = bot.feed()
    old = {e.id: (e.updated, e.title) for e in first.entries}
    assert {e.id: (e.updated, e.title) for e in later.entries if e.id in old} == old
    assert len({e.id for e in later.entries}) == len(later.entries)
    assert bot.stop() == 0
    assert "Traceback" not in bot.log()
