"""The mbox sink under faults: stale locks, locks held by others, killed writers, torn writes, other
writers, long files, hostile bodies (issue 9, items 1 and 9)."""

from __future__ import annotations

import asyncio
import mailbox
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import MboxOutput
from bot.errors import DeliveryError
from bot.sinks.mbox import MboxSink
from bot.store import OutboxItem

HOSTILE = "ok \x1b[31mred\x07 bell\x00 nul \u202eevil\u202c \x0304,05colour\x0f \x9b end"


def sink(path: Path) -> MboxSink:
    config = MboxOutput(name="mbox", path=path, sender="bot <bot@localhost>", to="list@localhost")
    return MboxSink(config)


def item(n: int, body: str = "Release notes\n\n  | a | b |\nFrom the team\n") -> OutboxItem:
    return OutboxItem(
        id=n,
        event_id=n,
        event_key=f"release:x/stable/{n}",
        sink="mbox",
        message_id=f"<release.x.{n}.mbox@release-bot.invalid>",
        payload={"subject": f"x {n} released", "body": body, "date": None},
        attempts=0,
        created_at=datetime(2025, 3, 20, 12, 0, n % 60, tzinfo=UTC),
    )


def deliver(s: MboxSink, *items: OutboxItem) -> None:
    async def go() -> None:
        for i in items:
            await s.deliver(i)

    asyncio.run(go())


def ids(path: Path) -> list[str]:
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def test_a_stale_dot_lock_does_not_stop_the_mbox(tmp_path: Path) -> None:
    path = tmp_path / "announcements.mbox"
    deliver(sink(path), item(1))
    (tmp_path / "announcements.mbox.lock").touch()  # left by a kill inside the old box.lock()/unlock()
    deliver(sink(path), item(2))
    assert ids(path) == [item(1).message_id, item(2).message_id]


def hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process that takes the fcntl lock on `path` and keeps it until killed."""
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.integration
def test_a_lock_held_elsewhere_is_a_transient_error_and_a_killed_holder_leaves_no_stale_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.mbox"
    holder = hold_lock(path)
    try:
        s = sink(path)
        s.lock_wait = 0.3
        with pytest.raises(DeliveryError) as info:
            deliver(s, item(1))
        assert "locked by another process" in str(info.value) and not info.value.permanent
    finally:
        holder.send_signal(signal.SIGKILL)  # the holder dies while holding the lock
        holder.wait()
    started = time.monotonic()
    deliver(s, item(1))
    assert time.monotonic() - started < 1.0
    assert ids(path) == [item(1).message_id]


def test_a_message_is_not_written_twice_and_other_writers_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.mbox"
    s = sink(path)
    deliver(s, item(1), item(1))
    # another program appends (Python's mailbox, with its own blank-line convention)
    box = mailbox.mbox(path)
    box.lock()
    other = mailbox.mboxMessage()
    other["Message-ID"] = item(2).message_id
    other.set_payload("written elsewhere\n")
    box.add(other)
    box.flush()
    box.unlock()
    box.close()
    deliver(s, item(2), item(3))  # 2 is already there: this sink sees the other writer's append
    assert ids(path) == [item(1).message_id, item(2).message_id, item(3).message_id]
    box = mailbox.mbox(path, create=False)
    assert [str(m.get_payload()) for m in box][2].endswith("From the team\n")  # ">From " quoting undone
    box.close()


@pytest.mark.parametrize("keep", [40, 200, -3])
def test_a_torn_last_write_is_replaced_by_the_whole_message(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "a.mbox"
    s = sink(path)
    deliver(s, item(1))
    whole = s.build(item(2))
    with open(path, "ab") as fh:
        fh.write(whole[:keep])  # a crash in the middle of the append (before or after the Message-ID)
    deliver(sink(path), item(2))
    data = path.read_bytes()
    assert data.endswith(whole) and data.count(b"Message-ID: " + item(2).message_id.encode()) == 1
    assert ids(path) == [item(1).message_id, item(2).message_id]


def test_append_is_constant_time(tmp_path: Path) -> None:
    """10,000 messages used to take over 600 s (every append re-read the whole file)."""
    path = tmp_path / "a.mbox"
    s = sink(path)
    s.lock_wait = 1.0

    def batch(start: int, count: int) -> float:
        began = time.perf_counter()
        for n in range(start, start + count):
            s._write(item(n))
        return time.perf_counter() - began

    first = batch(0, 300)
    batch(300, 2400)
    last = batch(2700, 300)
    assert len(ids(path)) == 3000
    assert last < first * 3 + 0.5, (first, last)


def test_control_characters_never_reach_the_mbox(tmp_path: Path) -> None:
    path = tmp_path / "a.mbox"
    s = sink(path)
    deliver(s, item(1, body=HOSTILE + "\n  indented | table |\n"))
    data = path.read_bytes().decode()
    assert not any(ch in data for ch in "\x1b\x07\x00\u202e\u202c\x03\x0f\x9b")
    assert "ok [31mred bell nul evil colour  end" in data and "\n  indented | table |\n" in data


def test_an_unwritable_mbox_is_a_delivery_error(tmp_path: Path) -> None:
    path = tmp_path / "a.mbox"
    path.mkdir()
    with pytest.raises(DeliveryError) as info:
        deliver(sink(path), item(1))
    assert "cannot write" in str(info.value)


def test_new_mbox_is_not_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "a.mbox"
    old = os.umask(0o022)
    try:
        deliver(sink(path), item(1))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o007 == 0
