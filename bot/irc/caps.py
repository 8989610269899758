"""Capability negotiation, pure: ``CAP LS 302`` (multi-line, with values), ``CAP REQ`` for sasl alone (so
a refusal cannot take other caps with it) and for account-tag, extended-join, account-notify and
chghost when offered, ACK/NAK, and ``CAP END`` once SASL is over and every REQ is answered. A server
without CAP (421 CAP) or one that registers us before CAP END ends the negotiation; with SASL
configured, that counts as a SASL failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.irc.protocol import Action, Send, SessionConfig
from bot.irc.sasl import Sasl

#: Capabilities requested when offered (besides sasl, which is requested on its own).
#: echo-message + labeled-response (with message-tags and batch) confirm a delivery by its own echo.
WANTED_CAPS: tuple[str, ...] = (
    "account-tag",
    "extended-join",
    "account-notify",
    "chghost",
    "message-tags",
    "batch",
    "echo-message",
    "labeled-response",
)


@dataclass
class CapNegotiation:
    config: SessionConfig
    sasl: Sasl = field(init=False)
    offered: dict[str, str | None] = field(default_factory=dict)
    enabled: set[str] = field(default_factory=set)
    pending: int = 0  # REQs not answered yet
    done: bool = False  # CAP END sent, or no CAP at all

    def __post_init__(self) -> None:
        self.sasl = Sasl(self.config)

    def on_cap(self, args: Sequence[str], now: float) -> list[Action]:
        """``CAP <nick> <args…>``: `args` after the nick."""
        if not args:
            return []
        sub = args[0].upper()
        if sub == "LS":
            more = len(args) >= 3 and args[1] == "*"
            for token in (args[-1] if len(args) >= 2 else "").split():
                name, _, value = token.partition("=")
                self.offered[name] = value or None
            if more or self.done:
                return []
            return self._request()
        if sub not in ("ACK", "NAK"):
            return []
        names = (args[-1] if len(args) >= 2 else "").split()
        self.pending = max(0, self.pending - 1)
        out: list[Action] = []
        if sub == "ACK":
            for name in names:
                if name.startswith("-"):
                    self.enabled.discard(name[1:])
                else:
                    self.enabled.add(name)
            if "sasl" in names and self.sasl.phase == "requested":
                out.extend(self.sasl.acked(now))
        elif "sasl" in names and self.sasl.phase == "requested":
            out.extend(self.sasl.fail("the server refused the sasl capability (CAP NAK)"))
        return self._then_end(out)

    def on_authenticate(self, param: str) -> list[Action]:
        return self._then_end(self.sasl.on_authenticate(param))

    def on_sasl_numeric(self, name: str, args: Sequence[str]) -> list[Action]:
        if self.sasl.phase != "authenticating":
            return []
        return self._then_end(self.sasl.on_numeric(name, args))

    def on_unknown_cap(self) -> None:
        """421 CAP: a server without CAP. 001 will follow; `on_welcome` reports the SASL failure."""
        self.done = True

    def on_welcome(self) -> list[Action]:
        """The server registered us: negotiation is over, whatever its state."""
        out: list[Action] = []
        if self.config.sasl and not self.sasl.settled:
            out = self.sasl.fail("the server registered the connection without SASL (no CAP support)")
        if not self.sasl.fatal:
            self.done = True
        return out

    def tick(self, now: float) -> list[Action]:
        failed = self.sasl.timed_out(now)
        return self._then_end(failed) if failed else []

    def deadline(self) -> float | None:
        return self.sasl.deadline if self.sasl.phase == "authenticating" else None

    def _request(self) -> list[Action]:
        out: list[Action] = []
        if self.config.sasl:
            reason = self.sasl.refusal(self.offered)
            if reason is not None:
                out.extend(self.sasl.fail(reason))
                if self.sasl.fatal:
                    return out
            else:
                self.sasl.phase = "requested"
                self.pending += 1
                out.append(Send("CAP REQ :sasl"))
        wanted = [c for c in WANTED_CAPS if c in self.offered]
        if wanted:
            self.pending += 1
            out.append(Send("CAP REQ :" + " ".join(wanted)))
        return self._then_end(out)

    def _then_end(self, out: list[Action]) -> list[Action]:
        """`out`, then CAP END if everything is answered (never after a fatal SASL failure)."""
        if self.sasl.fatal or self.done or self.pending > 0 or self.sasl.busy:
            return out
        self.done = True
        return [*out, Send("CAP END")]
