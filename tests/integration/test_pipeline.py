"""The whole pipeline over a real local HTTP server serving the real Flatcar history snapshots.

Source → snapshot → events → (state + outbox, one transaction) → console and mbox sinks; restarts as
new processes; a kill between "state written" and "delivered"; failing sources next to a good one.
"""

from __future__ import annotations

import asyncio
import io
import mailbox
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import MboxOutput, load_config
from bot.delivery import DeliveryResult
from bot.sinks.console import ConsoleSink
from bot.sinks.mbox import MboxSink
from bot.store import PollRecord, Store
from tests.helpers import SNAPSHOTS, free_port, narrow
from tests.httpserver import LocalHTTPServer, hang, slow_drip
from tests.replay import serve_history

REPO = Path(__file__).resolve().parents[2]
FILES = ("alpha", "beta", "stable", "lts")


def serve(server: LocalHTTPServer, snapshot: str, prefix: str = "/flatcar") -> None:
    serve_history(server, snapshot, FILES, prefix=prefix)


def write_config(
    tmp_path: Path, server: LocalHTTPServer, extra_sources: str = "", extra: str = "", timeout: str = "15s"
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        {extra}
        [http]
        timeout = "{timeout}"
        max_bytes = 2000000
        retry_initial = "1s"
        retry_max = "2s"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{server.url("/flatcar/")}"
        channels = ["alpha", "beta", "stable", "lts"]
        """)
        + textwrap.dedent(extra_sources)
        + textwrap.dedent("""
        [[outputs]]
        name = "console"
        kind = "console"

        [[outputs]]
        name = "mbox"
        kind = "mbox"
        path = "out.mbox"
        """),
        encoding="utf-8",
    )
    return path


def mbox_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def cli(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run release-bot as a new process, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def run_once(config_path: Path, console: io.StringIO | None = None) -> tuple[list[object], object]:
    async def main() -> tuple[list[object], object]:
        config = load_config(config_path)
        sinks = [
            ConsoleSink(config.outputs[0], stream=console or io.StringIO()),
            MboxSink(narrow(config.outputs[1], MboxOutput)),
        ]
        bot = Bot(config, sinks=sinks)
        try:
            polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        return list(polls), delivery

    return asyncio.run(main())


def test_history_replay_end_to_end(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, http_server)
    seen_lines: list[str] = []
    for i, snapshot in enumerate(SNAPSHOTS):
        serve(http_server, snapshot)
        console = io.StringIO()
        polls, _delivery = run_once(config, console)
        assert all(p.ok for p in polls)  # type: ignore[attr-defined]
        lines = console.getvalue().splitlines()
        if i == 0:
            assert lines == []  # baseline: nothing old announced
        seen_lines += lines
    assert len(seen_lines) == 8
    assert any("4230 promoted from alpha to beta: 4230.1.0" in line for line in seen_lines)
    assert any("LTS-2023 3510.3.7" in line for line in seen_lines)
    ids = mbox_ids(tmp_path / "out.mbox")
    assert len(ids) == 8 and len(set(ids)) == 8
    assert "<promotion.flatcar.beta.4230.1.0.mbox@release-bot.invalid>" in ids

    # Same data again: conditional GET answers 304, nothing is parsed or announced.
    http_server.clear_requests()
    console = io.StringIO()
    polls, _ = run_once(config, console)
    assert console.getvalue() == ""
    assert sum(p.unchanged for p in polls) == 4  # type: ignore[attr-defined]
    assert all(r.headers.get("If-None-Match") for r in http_server.requests)
    assert mbox_ids(tmp_path / "out.mbox") == ids


def test_restart_between_steps_in_new_processes(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, http_server)
    outputs = []
    for snapshot in (*SNAPSHOTS, SNAPSHOTS[-1]):
        serve(http_server, snapshot)
        result = cli(config, "once")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.splitlines())
    assert outputs[0] == []
    assert len(outputs[1]) == 4 and len(outputs[2]) == 4
    assert outputs[3] == []  # a fourth process sees the same data: nothing twice
    ids = mbox_ids(tmp_path / "out.mbox")
    assert len(ids) == 8 and len(set(ids)) == 8


KILL_AFTER_COMMIT = """
import asyncio, os, signal, sys
from bot.app import Bot
from bot.config import load_config

async def main():
    config = load_config(sys.argv[1])
    bot = Bot(config)
    result = await bot.poll(config.sources[0])
    print(len(result.announced), flush=True)
    if sys.argv[2] == "after-write":
        # deliver one message to the mbox but die before the outbox row is marked delivered
        sink = next(s for s in bot.sinks if s.name == "mbox")
        item = bot.store.pending("mbox", now=bot.clock())[0]
        await sink.deliver(item)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.parametrize("where", ["after-commit", "after-write"])
def test_kill_between_state_written_and_delivered(
    http_server: LocalHTTPServer, tmp_path: Path, where: str
) -> None:
    config = write_config(tmp_path, http_server)
    serve(http_server, SNAPSHOTS[1])
    assert cli(config, "once").returncode == 0  # baseline
    serve(http_server, SNAPSHOTS[2])
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_COMMIT, str(config), where],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout.strip() == "4"
    with Store(tmp_path / "state.sqlite3") as store:
        assert store.outbox_counts()["mbox"] == {"queued": 4}
    status = cli(config, "status")
    assert "output mbox (mbox): 4 queued" in status.stdout

    restarted = cli(config, "once")
    assert restarted.returncode == 0, restarted.stderr
    assert len(restarted.stdout.splitlines()) == 4  # the console gets the queued lines now
    ids = mbox_ids(tmp_path / "out.mbox")
    assert len(ids) == 4 and len(set(ids)) == 4  # delivered once, even the one written before the kill
    again = cli(config, "once")
    assert again.stdout == ""
    assert mbox_ids(tmp_path / "out.mbox") == ids


def test_failing_sources_do_not_affect_the_good_one(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    http_server.set_handler("/slow.xml", slow_drip(100, 0.5))
    http_server.set_handler("/hang.xml", hang())
    http_server.set("/500.xml", b"oops", status=500)
    http_server.set("/html.xml", b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    http_server.set("/big.xml", b"<feed>" + b"x" * 3_000_000 + b"</feed>", content_type="application/xml")
    extra = "".join(
        f"""
        [[sources]]
        name = "{name}"
        kind = "feed"
        url = "{http_server.url("/" + name + ".xml")}"
        """
        for name in ("slow", "hang", "500", "html", "big")
    )
    config = write_config(tmp_path, http_server, extra_sources=extra, timeout="2s")
    serve(http_server, SNAPSHOTS[1])
    started = time.monotonic()
    first = cli(config, "once")
    assert first.returncode == 1
    assert time.monotonic() - started < 30
    errors = {line.split(":")[0]: line for line in first.stderr.splitlines() if "FAILED" in line}
    assert set(errors) == {"slow", "hang", "500", "html", "big"}
    assert "timed out after 2s" in errors["slow"] and "timed out" in errors["hang"]
    assert "HTTP 500" in errors["500"]
    assert "not an Atom/RSS feed" in errors["html"]
    assert "max_bytes" in errors["big"]
    assert "flatcar: ok" in first.stderr

    serve(http_server, SNAPSHOTS[2])
    second = cli(config, "once")
    assert second.returncode == 1
    assert len(second.stdout.splitlines()) == 4  # the good source announced despite the others
    status = cli(config, "status").stdout
    assert "source 500: 0 releases known" in status
    assert "2 failure(s) in a row" in status


def test_render_error_records_nothing_and_recovers(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    override = tmp_path / "tpl" / "irc"
    override.mkdir(parents=True)
    (override / "release.j2").write_text("{{ no_such_variable }}", encoding="utf-8")
    config = write_config(tmp_path, http_server, extra='templates = "tpl"')
    serve(http_server, SNAPSHOTS[1])
    assert cli(config, "once").returncode == 0  # baseline renders nothing
    serve(http_server, SNAPSHOTS[2])
    broken = cli(config, "once")
    assert broken.returncode == 1
    assert "irc/release.j2" in broken.stderr and "no_such_variable" in broken.stderr
    (override / "release.j2").unlink()
    fixed = cli(config, "once")
    assert fixed.returncode == 0, fixed.stderr
    assert len(fixed.stdout.splitlines()) == 4


def test_sink_outage_keeps_messages_queued_in_order(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config_path = write_config(tmp_path, http_server)
    (tmp_path / "out.mbox").mkdir()  # the mbox path is unusable: every write fails
    now = [datetime(2025, 3, 20, 15, 0, tzinfo=UTC)]

    async def cycle(snapshot: str) -> DeliveryResult:
        serve(http_server, snapshot)
        config = load_config(config_path)
        bot = Bot(config, sinks=[MboxSink(narrow(config.outputs[1], MboxOutput))], clock=lambda: now[0])
        try:
            _, delivery = await bot.once()
        finally:
            await bot.aclose()
        return delivery

    asyncio.run(cycle(SNAPSHOTS[1]))
    delivery = asyncio.run(cycle(SNAPSHOTS[2]))
    assert delivery.failed == 1 and delivery.delivered == 0
    with Store(tmp_path / "state.sqlite3") as store:
        assert store.outbox_counts()["mbox"] == {"queued": 4}
        assert "cannot write" in (store.outbox_errors()[0][3] or "")
    (tmp_path / "out.mbox").rmdir()
    delivery = asyncio.run(cycle(SNAPSHOTS[2]))
    assert delivery.delivered == 0  # the retry is not due yet
    now[0] += timedelta(minutes=5)
    delivery = asyncio.run(cycle(SNAPSHOTS[2]))
    assert delivery.delivered == 4
    ids = mbox_ids(tmp_path / "out.mbox")
    with Store(tmp_path / "state.sqlite3") as store:
        order = [m for _, m in sorted((i, e.key) for i, e in store.events())]
    assert [i.split("@")[0].strip("<") for i in ids] == [
        k.replace(":", ".").replace("/", ".") + ".mbox" for k in order
    ]


def _error_streak(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with Store(path) as store:
            status = store.source_status("flatcar")
    except Exception:  # created or migrated at this moment: ask again
        return 0
    return status.error_streak if status is not None else 0


def test_daemon_keeps_running_when_network_fails_and_stops_on_sigterm(tmp_path: Path) -> None:
    class Closed:  # a port nothing listens on any more
        port = free_port()

        def url(self, path: str) -> str:
            return f"http://127.0.0.1:{self.port}{path}"

    config = write_config(tmp_path, Closed())  # type: ignore[arg-type]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(config), "run"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # retried with backoff (1 s, 2 s, 2 s): wait for the third failure (a loaded machine starts slowly)
        deadline = time.monotonic() + 60
        streak = 0
        while streak < 3 and time.monotonic() < deadline:
            assert proc.poll() is None  # still running, retrying
            time.sleep(0.5)
            streak = _error_streak(tmp_path / "state.sqlite3")
        assert streak >= 3
        proc.send_signal(signal.SIGTERM)
        _stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    warnings = [line for line in stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, stderr  # one line per failure streak, not one per retry
    assert "connection failed" in warnings[0] and "flatcar" in warnings[0]
    with Store(tmp_path / "state.sqlite3") as store:
        status = store.source_status("flatcar")
    assert status is not None and status.error_streak >= 3  # retried with backoff (1 s, 2 s, 2 s)
    assert "release-bot stopping" in stderr


def test_counter_of_mbox_is_per_event() -> None:
    # Message-IDs are stable per event and sink: the same event rendered twice gives the same id.
    from bot.messages import message_id, sample_events

    ids = Counter(message_id(e, "mbox") for e in sample_events() + sample_events())
    assert set(ids.values()) == {2}
    assert os.sep not in "".join(ids)


def test_message_ids_keep_distinct_versions_apart() -> None:
    import dataclasses

    from bot.messages import message_id, sample_events

    event = sample_events()[0]
    ids = {
        message_id(dataclasses.replace(event, release=dataclasses.replace(event.release, version=v)), "mail")
        for v in ("1.0 beta", "1.0/beta", "1.0_beta", "", "..", "1.0beta")
    }
    assert len(ids) == 6
    for mid in ids:
        local = mid.strip("<>").split("@")[0]
        assert ".." not in local and not local.startswith(".") and " " not in local
    assert message_id(event, "mbox") == "<release.sample.stable.4230.2.0.mbox@release-bot.invalid>"


def test_one_process_delivers_from_a_state_file(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    """A `once` next to a running daemon must not send the daemon's queued messages a second time."""
    config_path = write_config(tmp_path, http_server)
    serve(http_server, SNAPSHOTS[1])
    assert cli(config_path, "once").returncode == 0
    serve(http_server, SNAPSHOTS[2])

    async def main() -> tuple[int, str, str]:
        config = load_config(config_path)
        console = io.StringIO()
        holder = Bot(
            config,
            sinks=[
                ConsoleSink(config.outputs[0], stream=console),
                MboxSink(narrow(config.outputs[1], MboxOutput)),
            ],
        )
        await holder.poll(config.sources[0])  # 4 events queued for console and mbox
        assert holder._claim_delivery()  # as a daemon does at its first delivery pass
        other = cli(config_path, "once")  # a second process: polls, but leaves delivery to the holder
        assert "another release-bot process" in other.stderr and f"pid {os.getpid()}" in other.stderr
        assert not (tmp_path / "out.mbox").exists()
        held = await holder.deliver()
        await holder.aclose()
        after = cli(config_path, "once")  # the lock is free again; nothing is left to send
        return held.delivered, other.stdout, after.stdout

    delivered, other_stdout, after_stdout = asyncio.run(main())
    assert delivered == 8 and other_stdout == "" and after_stdout == ""
    ids = mbox_ids(tmp_path / "out.mbox")
    assert len(ids) == 4 and len(set(ids)) == 4


def test_retry_requeues_permanently_failed_messages(tmp_path: Path) -> None:
    from bot.messages import sample_events
    from bot.store import OutboxMessage

    now = datetime(2025, 3, 20, tzinfo=UTC)
    config = tmp_path / "c.toml"
    config.write_text(
        '[[sources]]\nname = "f"\nkind = "flatcar"\n[[outputs]]\nname = "list"\nkind = "mbox"\n'
        'path = "m.mbox"\n[bot]\nstate = "s.sqlite3"\n'
    )
    with Store(tmp_path / "s.sqlite3") as store:
        store.commit_poll(
            PollRecord(
                "f",
                now=now,
                documents=[],
                new_releases=[],
                events=[(e, [OutboxMessage("list", f"<{i}@x>", {})]) for i, e in enumerate(sample_events())],
            )
        )
        for item in store.pending("list", now=now):
            store.mark_attempt_failed(item.id, error="550 denied", permanent=True, retry_at=None)
    assert cli(config, "retry", "nosuch").returncode == 2
    result = cli(config, "retry", "list")
    assert result.returncode == 0 and result.stdout.startswith("3 failed message(s) queued again")
    with Store(tmp_path / "s.sqlite3") as store:
        assert [i.message_id for i in store.pending("list", now=now)] == ["<0@x>", "<1@x>", "<2@x>"]


def test_state_view_is_cached_until_a_poll_records_something(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path, http_server)

    async def main() -> None:
        config = load_config(config_path)
        bot = Bot(config, sinks=[])
        try:
            serve(http_server, SNAPSHOTS[1])
            await bot.poll(config.sources[0])
            first = bot.state_view()
            assert bot.state_view() is first  # no database read per question
            serve(http_server, SNAPSHOTS[2])
            await bot.poll(config.sources[0])
            fresh = bot.state_view()
            assert fresh is not first
            assert "4152.2.2" in {r.version for r in fresh.releases} - {r.version for r in first.releases}
        finally:
            await bot.aclose()

    asyncio.run(main())
