"""Keepalive, pure: any line from the server means it is alive; after `interval` seconds of silence a
PING goes out, and if nothing at all arrives within `timeout` after it, the connection is dead."""

from __future__ import annotations

from dataclasses import dataclass

from bot.irc.lines import format_line
from bot.irc.protocol import Action, Close, Send


@dataclass
class Keepalive:
    interval: float
    timeout: float
    last_rx: float = 0.0
    ping_sent_at: float | None = None
    count: int = 0

    def heard(self, now: float) -> None:
        self.last_rx = now
        self.ping_sent_at = None

    def tick(self, now: float) -> list[Action]:
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at >= self.timeout:
                return [Close(f"no data from the server for {now - self.last_rx:.0f} s (ping timeout)")]
            return []
        if now - self.last_rx >= self.interval:
            self.count += 1
            self.ping_sent_at = now
            return [Send(format_line("PING", f"keepalive-{self.count}"))]
        return []

    def deadline(self) -> float:
        if self.ping_sent_at is not None:
            return self.ping_sent_at + self.timeout
        return self.last_rx + self.interval
