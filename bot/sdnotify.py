"""The systemd notify protocol (sd_notify), spoken directly: datagrams to $NOTIFY_SOCKET, no dependency.

`Notifier.from_env()` is a no-op outside systemd (no NOTIFY_SOCKET). Under a `Type=notify` unit the
daemon sends READY=1 once its config and state are open, STATUS= lines, WATCHDOG=1 from its event
loop (`watchdog_loop`, so a hung loop stops the pings and systemd restarts the service) and
STOPPING=1 on shutdown. Protocol: https://www.freedesktop.org/software/systemd/man/sd_notify.html
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

__all__ = ["Notifier", "watchdog_interval", "watchdog_loop"]

log = logging.getLogger("release-bot")


def _address(value: str) -> str | bytes | None:
    """NOTIFY_SOCKET → a socket address: a path, or '@name' for the abstract namespace (Linux)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock:… and other forms are not used for services; ignore them


class Notifier:
    """Sends sd_notify messages. Disabled (every call does nothing) without a usable NOTIFY_SOCKET.

    A failed send is logged once and never raised: notification must not take the bot down."""

    def __init__(self, address: str | bytes | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        value = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
        return cls(_address(value) if value else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one message, e.g. `notify(READY=1, STATUS="polling")`. True when it was sent."""
        if self.address is None:
            return False
        lines = []
        for key, value in fields.items():
            text = str(value)
            if "\n" in text:  # one assignment per line: a newline would start a new (forged) field
                text = text.replace("\n", " ")
            lines.append(f"{key}={text}")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("sd_notify to %r failed: %s", self.address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify(READY=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        return self.notify(STOPPING=1, **({"STATUS": status} if status else {}))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(env: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """How often to send WATCHDOG=1, in seconds: half of $WATCHDOG_USEC (as sd_watchdog_enabled
    advises), or None when the watchdog is off or meant for another process ($WATCHDOG_PID)."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 1_000_000 / 2


async def watchdog_loop(
    notifier: Notifier, interval: float, status_fn: Callable[[], str | None] | None = None
) -> None:
    """Ping the watchdog every `interval` seconds from the event loop, with a STATUS= line from
    `status_fn` (e.g. last poll and queue depth) when it returns one. Runs until cancelled.

    It runs as a task on the daemon's loop: if the loop hangs, the pings stop and systemd restarts the
    service after WatchdogSec."""
    while True:
        fields: dict[str, str | int] = {"WATCHDOG": 1}
        if status_fn is not None:
            try:
                status = status_fn()
            except Exception:  # a broken status line must not stop the watchdog
                log.exception("status for sd_notify failed")
                status = None
            if status:
                fields["STATUS"] = status
        notifier.notify(**fields)
        await asyncio.sleep(interval)
