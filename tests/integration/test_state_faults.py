"""Issue 9, item 12: the state file under umask 022, a full disk, locked-database streaks, APScheduler
coalescing an overrunning job quietly, and a second `run` on the same state saying it is a standby."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.daemon import StateStreak, make_scheduler
from bot.delivery import DeliveryLock
from bot.errors import StoreError
from bot.store import Store
from bot.store.files import describe_error
from tests.helpers import history_bytes
from tests.httpserver import LocalHTTPServer

REPO = Path(__file__).resolve().parents[2]


def test_the_state_file_is_created_0600_under_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with Store(tmp_path / "state" / "bot.sqlite3") as store:
            store.record_failure("s", now=datetime.now(UTC), error="x")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state").iterdir()}
    finally:
        os.umask(old)
    assert modes["bot.sqlite3"] == 0o600  # was 0644: world-readable
    assert all(mode == 0o600 for name, mode in modes.items() if name.startswith("bot.sqlite3")), modes


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, filled up (root only; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.integration
def test_a_full_disk_is_said_as_such(full_disk: Path) -> None:
    with pytest.raises(StoreError) as info:
        Store(full_disk / "bot.sqlite3")
    assert "the disk is full" in str(
        info.value
    )  # was: "not a usable release-bot state database: disk I/O error"
    assert "not a usable" not in str(info.value)


def test_a_full_disk_error_from_sqlite_is_named() -> None:
    exc = sqlite3.OperationalError("database or disk is full")
    assert "the disk is full" in describe_error("/var/lib/release-bot/state.sqlite3", exc)
    locked = sqlite3.OperationalError("database is locked")
    assert "locked by another process" in describe_error("state.sqlite3", locked)


def test_a_state_error_streak_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    streak = StateStreak("source flatcar")
    with caplog.at_level(logging.INFO, logger="release-bot"):
        for _ in range(13):  # 13 attempts in 60 s in the measure
            streak.failed("state.sqlite3", sqlite3.OperationalError("database is locked"))
        streak.ok()
    lines = [r for r in caplog.records if r.name == "release-bot"]
    assert len(lines) == 2, [r.getMessage() for r in lines]
    assert "locked by another process" in lines[0].getMessage() and lines[0].exc_info is None
    assert "works again after 13 failed attempt(s)" in lines[1].getMessage()


def _overrun(scheduler: object, caplog: pytest.LogCaptureFixture) -> list[str]:
    async def main() -> None:
        async def slow() -> None:
            await asyncio.sleep(0.35)

        scheduler.add_job(slow, "interval", seconds=0.1, max_instances=1, coalesce=True)  # type: ignore[attr-defined]
        scheduler.start()  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)
        scheduler.shutdown(wait=False)  # type: ignore[attr-defined]

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    return [r.getMessage() for r in caplog.records if "maximum number of running instances" in r.getMessage()]


def test_an_overrunning_job_is_coalesced_quietly(caplog: pytest.LogCaptureFixture) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    assert _overrun(AsyncIOScheduler(), caplog)  # the control: APScheduler warns each time
    assert _overrun(make_scheduler(), caplog) == []


@pytest.mark.integration
def test_a_second_run_says_it_is_a_standby_at_start(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    http_server.set(
        "/flatcar/releases-stable.json",
        history_bytes("2025-03-20-3e9fd11f", "stable"),
        content_type="application/json",
    )
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{http_server.url("/flatcar/")}"
        channels = ["stable"]
        [[outputs]]
        name = "console"
        kind = "console"
        """),
        encoding="utf-8",
    )
    first = DeliveryLock(str(tmp_path / "state.sqlite3"))  # the first `run`, holding the lock
    assert first.claim()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(config), "run"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(4)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        first.release()
    lines = err.splitlines()
    standby = next(i for i, line in enumerate(lines) if "standby" in line)
    running = next(i for i, line in enumerate(lines) if "running:" in line)
    assert standby < running  # said at start, before the daemon runs
    assert f"pid {os.getpid()}" in lines[standby]


@pytest.mark.integration
def test_a_disk_filling_up_between_polls_is_one_line_not_a_traceback(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        config = mount / "config.toml"
        config.write_text(
            textwrap.dedent(f"""\
            [bot]
            state = "state.sqlite3"
            [[sources]]
            name = "flatcar"
            kind = "flatcar"
            base_url = "{http_server.url("/flatcar/")}"
            [[outputs]]
            name = "console"
            kind = "console"
            """),
            encoding="utf-8",
        )
        for name in ("alpha", "beta", "stable", "lts"):
            http_server.set(
                f"/flatcar/releases-{name}.json",
                history_bytes("2025-02-18-56835e81", name),
                content_type="application/json",
            )
        command = [sys.executable, "-m", "bot", "-c", str(config), "once"]
        first = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
        assert first.returncode == 0, first.stderr
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        for name in ("alpha", "beta", "stable", "lts"):
            http_server.set(
                f"/flatcar/releases-{name}.json",
                history_bytes("2025-03-20-3e9fd11f", name),
                content_type="application/json",
            )
        second = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert second.returncode != 0
    assert "the disk is full" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
