"""SASL PLAIN, SCRAM-SHA-256 (`bot.irc.scram`) and EXTERNAL, pure: the AUTHENTICATE payload in
400-byte chunks ("+" after an exact multiple), the answers 902–908, a timeout, and what a failure
means: when SASL is configured and fails, the session says why and closes, unless `sasl_required` is
off (then it goes on unauthenticated, with NickServ IDENTIFY as a fallback if configured). 900/901
(logged in/out) are the session's: NickServ says them too."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.irc.lines import format_line, quit_line
from bot.irc.protocol import Action, AuthFailed, Close, Send, SessionConfig
from bot.irc.scram import ScramClient, ScramError

SASL_CHUNK = 400

Phase = Literal["off", "waiting-ls", "requested", "authenticating", "done", "failed"]


def sasl_payload(config: SessionConfig) -> str:
    """The base64 AUTHENTICATE payload ('+' for an empty one)."""
    if config.sasl == "PLAIN":
        user = config.sasl_username or config.nick
        raw = f"\0{user}\0{config.sasl_password or ''}".encode()
        return base64.b64encode(raw).decode("ascii")
    return "+"


def sasl_chunks(payload: str) -> list[str]:
    """AUTHENTICATE arguments for a payload: 400-byte chunks, and a '+' after a final full chunk."""
    if payload == "+":
        return ["+"]
    chunks = [payload[i : i + SASL_CHUNK] for i in range(0, len(payload), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


@dataclass
class Sasl:
    """Where SASL stands on one connection: off (not configured) → waiting-ls → requested (CAP REQ
    sent) → authenticating (ACKed; deadline running) → done or failed."""

    config: SessionConfig
    phase: Phase = "off"
    deadline: float | None = None
    mechanisms: str = ""  # what the server said it offers (908), for the failure message
    scram: ScramClient | None = None
    scram_step: int = 0
    _received: str = ""  # AUTHENTICATE chunks of the server's message so far

    def __post_init__(self) -> None:
        if self.config.sasl:
            self.phase = "waiting-ls"

    @property
    def busy(self) -> bool:
        """CAP END must wait."""
        return self.phase in ("requested", "authenticating")

    @property
    def fatal(self) -> bool:
        """SASL failed and the session closes for it."""
        return self.phase == "failed" and self.config.sasl_required

    @property
    def settled(self) -> bool:
        return self.phase in ("done", "failed")

    def refusal(self, offered: dict[str, str | None]) -> str | None:
        """Why the CAP LS offer rules SASL out, or None when it can go ahead."""
        if "sasl" not in offered:
            return "the server does not offer SASL (no 'sasl' in CAP LS)"
        mechs = [m.strip().upper() for m in (offered["sasl"] or "").split(",") if m.strip()]
        if mechs and self.config.sasl not in mechs:
            return f"the server offers SASL {', '.join(mechs)}, not {self.config.sasl}"
        return None

    def acked(self, now: float) -> list[Action]:
        """The server ACKed the sasl capability: start authenticating."""
        self.phase = "authenticating"
        self.deadline = now + self.config.sasl_timeout
        return [Send(format_line("AUTHENTICATE", self.config.sasl or "PLAIN"))]

    def on_authenticate(self, param: str) -> list[Action]:
        if self.phase != "authenticating":
            return []
        if self.config.sasl == "SCRAM-SHA-256":
            return self._scram_step(param)
        if param != "+":
            return []
        return [Send(format_line("AUTHENTICATE", chunk)) for chunk in sasl_chunks(sasl_payload(self.config))]

    def _scram_step(self, param: str) -> list[Action]:
        """client-first on "+", client-final on server-first, "+" once the server's signature holds."""
        if len(param) == SASL_CHUNK:
            self._received += param  # more chunks follow
            return []
        data, self._received = self._received + ("" if param == "+" else param), ""
        if self.scram is None:
            user = self.config.sasl_username or self.config.nick
            self.scram = ScramClient(user, self.config.sasl_password or "")
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
            if self.scram_step == 0:
                reply = self.scram.first()
            elif self.scram_step == 1:
                reply = self.scram.final(text)
            elif self.scram_step == 2:
                self.scram.verify(text)
                reply = ""
            else:
                return []
        except (ScramError, ValueError) as exc:
            return [Send("AUTHENTICATE *"), *self.fail(f"SCRAM: {exc}")]
        self.scram_step += 1
        payload = base64.b64encode(reply.encode()).decode("ascii") if reply else "+"
        return [Send(format_line("AUTHENTICATE", chunk)) for chunk in sasl_chunks(payload)]

    def on_numeric(self, name: str, args: Sequence[str]) -> list[Action]:
        """902–908 (`name` as in parse.NUMERIC_NAMES, `args` after our nick). Returns the failure's
        actions; check `settled` for success."""
        if self.phase != "authenticating":
            return []
        if name in ("saslsuccess", "saslalready"):
            self.phase = "done"
            self.deadline = None
            return []
        if name == "saslmechs":
            self.mechanisms = args[0] if args else ""
            return []
        text = args[-1] if args else name
        if self.mechanisms:
            text += f" (the server offers {self.mechanisms})"
        return self.fail(f"{name} — {text}")

    def timed_out(self, now: float) -> list[Action]:
        """Abort and fail when the deadline passed."""
        if self.phase != "authenticating" or self.deadline is None or now < self.deadline:
            return []
        reason = f"no answer to SASL {self.config.sasl} within {self.config.sasl_timeout:g} s"
        return [Send("AUTHENTICATE *"), *self.fail(reason)]

    def fail(self, reason: str) -> list[Action]:
        self.phase = "failed"
        self.deadline = None
        config = self.config
        full = f"SASL {config.sasl} as {config.sasl_username or config.nick!r} failed: {reason}"
        if config.sasl_required:
            return [
                AuthFailed(full + "; not continuing unauthenticated (sasl_required = true)", fatal=True),
                Send(quit_line("SASL authentication failed")),
                Close(full),
            ]
        return [AuthFailed(full + "; continuing unauthenticated (sasl_required = false)", False)]
