"""Our nick, pure. During registration 433/432/436/437 move to the alternative nicks, then ``nick_1``,
``nick_2`` …; once registered under another nick, the configured one is regained through one path
(`Nicks.regain`), whatever triggered it: the `regain_interval` timer, its holder quitting or changing
nick, or MONITOR saying it went offline (when the server has MONITOR)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.irc.flood import Priority
from bot.irc.lines import format_line
from bot.irc.names import Casemap
from bot.irc.protocol import INFO, WARNING, Action, Log, Send, SessionConfig


@dataclass
class Nicks:
    config: SessionConfig
    casemap: Casemap
    nick: str = ""
    attempt: int = 0  # index into [nick, *alt_nicks], then the numbered ones
    regain_at: float | None = None
    monitoring: bool = False

    def __post_init__(self) -> None:
        self.nick = self.nick or self.config.nick

    @property
    def wanted(self) -> str:
        return self.config.nick

    @property
    def has_wanted(self) -> bool:
        return self.casemap.same(self.nick, self.config.nick)

    def is_me(self, nick: str | None) -> bool:
        return self.casemap.same(nick, self.nick)

    def next_candidate(self) -> str:
        candidates = [self.config.nick, *self.config.alt_nicks]
        self.attempt += 1
        if self.attempt < len(candidates):
            return candidates[self.attempt]
        return f"{self.config.nick[:12]}_{self.attempt - len(candidates) + 1}"

    def on_error(self, name: str, wanted: str, *, registered: bool) -> list[Action]:
        """433/432/436/437 for `wanted`. After registration it is a failed regain: the timer retries."""
        if registered or (wanted and not self.casemap.same(wanted, self.nick)):
            return []
        self.nick = self.next_candidate()
        return [
            Log(WARNING, f"nick {wanted!r} is not available ({name}); trying {self.nick!r}"),
            Send(format_line("NICK", self.nick)),
        ]

    def on_welcome(self, nick: str, now: float) -> None:
        if nick:
            self.nick = nick
        if not self.has_wanted:
            self.regain_at = now + self.config.regain_interval

    def after_motd(self, *, monitor: bool) -> list[Action]:
        if self.has_wanted or not monitor or self.monitoring:
            return []
        self.monitoring = True
        return [Send(format_line("MONITOR", "+", self.config.nick), Priority.CONTROL)]

    def regain(self, now: float, *, registered: bool) -> list[Action]:
        """The one regain path: ask for the configured nick (and try again after `regain_interval`)."""
        if not registered or self.has_wanted:
            return []
        self.regain_at = now + self.config.regain_interval
        return [Send(format_line("NICK", self.config.nick), Priority.CONTROL)]

    def on_nick(self, old: str, new: str, now: float, *, registered: bool) -> list[Action]:
        """Someone's NICK change: ours (echoed), or the holder of our nick moving away."""
        if self.is_me(old):
            self.nick = new
            if not self.has_wanted:
                return []
            self.regain_at = None
            out: list[Action] = [Log(INFO, f"regained the nick {new}")]
            if self.monitoring:
                self.monitoring = False
                out.append(Send(format_line("MONITOR", "-", self.config.nick), Priority.CONTROL))
            return out
        return self.on_gone([old], now, registered=registered)

    def on_gone(self, nicks: Iterable[str], now: float, *, registered: bool) -> list[Action]:
        """These nicks are free now (QUIT, NICK away, MONITOR offline)."""
        if any(self.casemap.same(n, self.config.nick) for n in nicks):
            return self.regain(now, registered=registered)
        return []

    def tick(self, now: float, *, registered: bool) -> list[Action]:
        if self.regain_at is not None and now >= self.regain_at:
            return self.regain(now, registered=registered)
        return []
