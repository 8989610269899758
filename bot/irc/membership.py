"""Which configured channels we are in, pure: JOIN (with keys) once the session says it may, the JOIN
echo, PART, KICK with a rejoin after `rejoin_delay` (unless `rejoin_on_kick` is off), and a refused
JOIN (471/473/474/475/477/403/405/476) retried with exponential backoff. A JOIN echo for a channel that
is not configured is answered with PART."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.backoff import backoff
from bot.irc.flood import Priority
from bot.irc.lines import FORBIDDEN, format_line
from bot.irc.names import Casemap
from bot.irc.protocol import (
    DEBUG,
    INFO,
    WARNING,
    Action,
    ChannelJoin,
    Joined,
    Left,
    Log,
    Send,
    SendPossible,
    SessionConfig,
)

#: Mode letters whose removal may let us speak again (moderated, ban, quiet), and those whose grant on
#: us does (voice, op, halfop, …).
_UNBLOCKING_REMOVED = frozenset("mbqM")
_UNBLOCKING_GIVEN = frozenset("vhoaqy")
#: Channel modes that take an argument whichever the sign (for walking a MODE line).
_ARG_MODES = frozenset("beIqvhoaykfL")

#: A JOIN with no answer is sent again after this many seconds.
ANSWER_DUE = 60.0


@dataclass
class ChannelState:
    join: ChannelJoin
    joined: bool = False
    join_sent_at: float | None = None
    retry_at: float | None = None
    failures: int = 0


class Membership:
    def __init__(self, config: SessionConfig, casemap: Casemap) -> None:
        self.config = config
        self.casemap = casemap
        self.channels = {casemap.lower(c.name): ChannelState(c) for c in config.channels}

    def get(self, channel: str) -> ChannelState | None:
        return self.channels.get(self.casemap.lower(channel))

    def is_joined(self, channel: str) -> bool:
        state = self.get(channel)
        return bool(state and state.joined)

    @property
    def joined(self) -> list[str]:
        return [c.join.name for c in self.channels.values() if c.joined]

    def joins_due(self, now: float) -> list[Action]:
        """JOIN for each channel we are not in, not waiting to retry and not waiting for an answer."""
        out: list[Action] = []
        for chan in self.channels.values():
            if chan.joined:
                continue
            if chan.retry_at is not None and now < chan.retry_at:
                continue
            waiting = chan.join_sent_at is not None and chan.retry_at is None
            if waiting and now - (chan.join_sent_at or 0.0) < ANSWER_DUE:
                continue  # an answer is still due
            chan.join_sent_at = now
            chan.retry_at = None
            params = [chan.join.name] + ([chan.join.key] if chan.join.key else [])
            out.append(Send(format_line("JOIN", *params), Priority.CONTROL))
        return out

    def on_own_join(self, channel: str) -> list[Action]:
        state = self.get(channel)
        if state is None:
            if not channel or any(ch in channel for ch in (*FORBIDDEN, " ")):
                return [Log(WARNING, f"ignored a JOIN echo for a malformed channel {channel!r}")]
            return [
                Log(INFO, f"joined {channel}, which is not configured; leaving it"),
                Send(format_line("PART", channel), Priority.CONTROL),
            ]
        state.joined = True
        state.join_sent_at = None
        state.retry_at = None
        state.failures = 0
        return [Joined(state.join.name)]

    def left(self, channel: str, reason: str, now: float, *, rejoin: bool = True) -> list[Action]:
        state = self.get(channel)
        if state is None or not state.joined:
            return []
        state.joined = False
        state.join_sent_at = None
        state.retry_at = now + self.config.rejoin_delay if rejoin else float("inf")
        return [Left(state.join.name, reason)]

    def on_kick(self, channel: str, by: str, why: str, now: float) -> list[Action]:
        """We were kicked from `channel` by `by`."""
        rejoin = self.config.rejoin_on_kick
        what = f"kicked by {by}" + (f" ({why})" if why else "")
        what += (
            f"; rejoining in {self.config.rejoin_delay:g} s"
            if rejoin
            else "; not rejoining (rejoin_on_kick = false)"
        )
        return self.left(channel, what, now, rejoin=rejoin)

    def on_join_error(self, name: str, args: Sequence[str], now: float) -> list[Action]:
        """A refused JOIN: `args` after our nick (channel, then the server's text)."""
        state = self.get(args[0] if args else "")
        if state is None or state.joined:
            return []
        state.failures += 1
        retry, cap = self.config.join_retry, self.config.join_retry_max
        delay = backoff(state.failures, initial=retry, cap=cap, jitter=0)
        state.retry_at = now + delay
        reason = args[-1] if len(args) > 1 else name
        text = f"cannot join {state.join.name}: {reason} ({name}); retrying in {delay:g} s"
        if state.failures > 1:  # one WARNING per stretch: the short capped retries go to debug
            return [Log(DEBUG, text)]
        return [Log(WARNING, text + f" (then every {cap:g} s at most, or at once on INVITE)")]

    def on_invite(self, channel: str, by: str, now: float) -> list[Action]:
        """INVITE to a configured channel we are not in: join at once (a ban or +i may be lifted)."""
        state = self.get(channel)
        if state is None:
            return [Log(INFO, f"ignored an INVITE by {by} to {channel!r}, which is not configured")]
        if state.joined:
            return []
        state.retry_at = None
        params = [state.join.name] + ([state.join.key] if state.join.key else [])
        state.join_sent_at = now
        return [
            Log(INFO, f"invited to {state.join.name} by {by}; joining"),
            Send(format_line("JOIN", *params), Priority.CONTROL),
        ]

    def on_mode(self, channel: str, modes: Sequence[str], me: str) -> list[Action]:
        """A channel MODE: -m/-b/-q, or +v/+o on us, may let held lines go out now."""
        state = self.get(channel)
        if state is None or not state.joined or not modes:
            return []
        sign, args, reasons = "+", list(modes[1:]), []
        for letter in modes[0]:
            if letter in "+-":
                sign = letter
                continue
            arg = args.pop(0) if letter in _ARG_MODES and args and (sign == "+" or letter != "k") else ""
            if sign == "-" and letter in _UNBLOCKING_REMOVED:
                reasons.append(f"-{letter}" + (f" {arg}" if arg else ""))
            elif sign == "+" and letter in _UNBLOCKING_GIVEN and self.casemap.lower(arg) == me:
                reasons.append(f"+{letter} {arg}")
        if not reasons:
            return []
        return [SendPossible(state.join.name, ", ".join(reasons))]

    def deadlines(self) -> list[float]:
        return [c.retry_at for c in self.channels.values() if c.retry_at is not None]
