"""What the IRC client tells its owner, and the connection's figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.irc.protocol import Incoming


class ClientListener(Protocol):
    """What the client tells its owner (the IRC sink). Called on the event loop; must not block."""

    def on_registered(self, nick: str) -> None: ...
    def on_joined(self, channel: str) -> None: ...
    def on_left(self, channel: str, reason: str) -> None: ...
    def on_incoming(self, message: Incoming) -> None: ...
    def on_auth_failed(self, reason: str, fatal: bool) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...

    # optional: def on_send_refused(self, target: str, reason: str) -> None
    # optional: def on_send_possible(self, channel: str, reason: str) -> None


@dataclass
class Stats:
    connects: int = 0
    connected_since: float | None = None
    last_error: str | None = None
    failure_streak: int = 0
