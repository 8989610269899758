"""`release-bot run` as systemd runs it: sd_notify over a real unix datagram socket, and SIGTERM/SIGINT
at the worst moments — an IRC server that accepts and never answers, a fetch that never gets a
response — stop it within a second, exit 0, without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback TCP port whose connections are accepted (by the kernel) and never answered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    try:
        yield sock, path
    finally:
        sock.close()


def write_config(tmp_path: Path, port: int, irc_port: int | None = None) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state/release-bot.sqlite3"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "http://127.0.0.1:{port}/"
        [[outputs]]
        name = "console"
        kind = "console"
        [[outputs]]
        name = "net"
        kind = "irc"
        host = "127.0.0.1"
        port = {irc_port or port}
        tls = false
        [[outputs.channels]]
        name = "#flatcar"
        """)
    )
    return config


def fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def start(config: Path, notify: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(config), "run"],
        env={**os.environ, "NOTIFY_SOCKET": notify, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )


def stop_and_collect(
    proc: subprocess.Popen[str], sig: signal.Signals, sock: socket.socket
) -> tuple[float, str, list[dict[str, str]]]:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - started
    _, err = proc.communicate()
    sock.settimeout(0.2)
    messages = []
    try:
        while True:
            messages.append(fields(sock.recv(4096)))
    except TimeoutError:
        pass
    return took, err, messages


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_during_unreachable_irc_connect_and_hanging_fetch(
    tmp_path: Path, blackhole: int, notify_socket: tuple[socket.socket, str], sig: signal.Signals
) -> None:
    sock, notify = notify_socket
    proc = start(write_config(tmp_path, blackhole), notify)
    ready = fields(sock.recv(4096))  # READY=1 once config and state are open
    assert ready["READY"] == "1" and "source" in ready["STATUS"]
    time.sleep(0.7)  # the IRC connect is waiting for a server that never speaks; so is the fetch
    took, err, messages = stop_and_collect(proc, sig, sock)
    assert proc.returncode == 0, err
    assert took < 1.0, f"stopping took {took:.2f} s"
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert "release-bot stopping" in err
    assert any(m.get("STOPPING") == "1" for m in messages), messages


def test_status_and_watchdog_pings_from_the_loop(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    """With WatchdogSec (WATCHDOG_USEC) the loop pings every half period, with a STATUS= line that
    names the last poll and the queue depth."""
    sock, notify = notify_socket
    config = write_config(tmp_path, 1)  # port 1: the fetch and the IRC connect are refused at once
    proc = start(config, notify, WATCHDOG_USEC="400000")
    try:
        seen: list[dict[str, str]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen.append(fields(sock.recv(4096)))
            if any("last poll" in m.get("STATUS", "") for m in seen if m.get("WATCHDOG") == "1"):
                break
    finally:
        _, err, messages = stop_and_collect(proc, signal.SIGTERM, sock)
    assert seen[0].get("READY") == "1"
    pings = [m for m in seen if m.get("WATCHDOG") == "1"]
    assert pings, seen
    status = pings[-1]["STATUS"]
    assert "last poll" in status and "failing: flatcar" in status and "0 queued" in status
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert messages[-1].get("STOPPING") == "1"


def test_first_poll_does_not_wait_for_irc(
    tmp_path: Path, blackhole: int, notify_socket: tuple[socket.socket, str]
) -> None:
    """The IRC server never answers (connect_timeout is 30 s); the first poll runs at once anyway."""
    sock, notify = notify_socket
    proc = start(write_config(tmp_path, 1, irc_port=blackhole), notify)
    try:
        assert fields(sock.recv(4096))["READY"] == "1"
        sock.settimeout(5)
        status = fields(sock.recv(4096))["STATUS"]  # sent after each poll
    finally:
        took, err, _ = stop_and_collect(proc, signal.SIGTERM, sock)
    assert status.startswith("last poll") and "failing: flatcar" in status
    assert "source flatcar: connection failed" in err
    assert proc.returncode == 0 and took < 1.0 and "Traceback" not in err, err
