"""sd_notify over a real unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sdnotify import Notifier, watchdog_interval, watchdog_loop

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX/SOCK_DGRAM socket like the one systemd listens on, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def _messages(sock: socket.socket) -> list[dict[str, str]]:
    """Every datagram waiting on `sock`, parsed into its KEY=VALUE fields."""
    out: list[dict[str, str]] = []
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(4096)
            out.append(dict(line.split("=", 1) for line in data.decode().split("\n")))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5)
    return out


def test_ready_status_watchdog_stopping_are_datagrams(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("config and state open")
    assert sock.recv(4096) == b"READY=1\nSTATUS=config and state open"
    assert notifier.status("last poll 12:00:00Z, 3 queued")
    assert sock.recv(4096) == b"STATUS=last poll 12:00:00Z, 3 queued"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_a_newline_in_a_value_cannot_forge_another_field(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    notifier.status("feed title\nREADY=1")
    assert sock.recv(4096) == b"STATUS=feed title READY=1"
    notifier.close()


def test_abstract_namespace_socket() -> None:
    name = f"release-bot-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"
        notifier.close()
    finally:
        sock.close()


def test_outside_systemd_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_a_vanished_socket_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.ready()
    assert not notifier.watchdog()
    warnings = [r for r in caplog.records if "sd_notify" in r.getMessage()]
    assert len(warnings) == 1 and str(tmp_path / "gone") in warnings[0].getMessage()
    notifier.close()


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=4242) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}) is None


def test_watchdog_loop_pings_with_status_until_cancelled(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    polls = iter(["last poll 12:00Z, 0 queued", None, "last poll 12:01Z, 2 queued"])

    def status() -> str | None:
        return next(polls, None)

    async def main() -> None:
        task = asyncio.create_task(watchdog_loop(notifier, 0.01, status))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    messages = _messages(sock)
    assert len(messages) >= 4
    assert all(m["WATCHDOG"] == "1" for m in messages)
    assert messages[0]["STATUS"] == "last poll 12:00Z, 0 queued"
    assert "STATUS" not in messages[1]
    assert messages[2]["STATUS"] == "last poll 12:01Z, 2 queued"
    notifier.close()


def test_a_failing_status_function_does_not_stop_the_watchdog(
    systemd_socket: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture
) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})

    def status() -> str:
        raise RuntimeError("store closed")

    async def main() -> None:
        task = asyncio.create_task(watchdog_loop(notifier, 0.01, status))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    messages = _messages(sock)
    assert len(messages) >= 2 and all(m == {"WATCHDOG": "1"} for m in messages)
    assert "store closed" in caplog.text
    notifier.close()


@pytest.mark.integration
def test_another_process_notifies_through_the_environment(systemd_socket: tuple[socket.socket, str]) -> None:
    """As under systemd: the variable is inherited by a separate process, which reads os.environ."""
    sock, address = systemd_socket
    code = (
        "from bot.sdnotify import Notifier, watchdog_interval; n = Notifier.from_env(); "
        "n.ready('up'); n.notify(STATUS=f'watchdog every {watchdog_interval()}s'); n.stopping()"
    )
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"}
    env.pop("WATCHDOG_PID", None)
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True, timeout=60)
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"
    assert sock.recv(4096) == b"STATUS=watchdog every 2.0s"
    assert sock.recv(4096) == b"STOPPING=1"
