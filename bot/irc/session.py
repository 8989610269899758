"""The IRC session as a pure state machine (h11 style): lines and clock ticks in, actions out. It
imports no socket, ssl, threading or asyncio; `bot.irc.client` moves the bytes.

`IrcSession.start(now)` gives the first lines; `receive(line, now)` takes one decoded line from the
server; `tick(now)` lets timers fire. Each returns a list of `bot.irc.protocol` actions: `Send` (a
line to write) and events for the bot (`Registered`, `Joined`, `Left`, `Incoming`, `Pong`,
`AuthFailed`, `Close`, `Log`).

A line is parsed by `bot.irc.parse` and handed to the one handler `DISPATCH` names for its command or
numeric; the handler delegates to the part that owns the state: `caps` (CAP, `sasl`), `nick`,
`membership` (channels, INVITE, MODE), `accounts`, `keepalive`. What stays here is registration (001,
end of MOTD, NickServ IDENTIFY, bot mode, WHO on ourselves), ISUPPORT, our user@host (for the line
budget), PING/PONG and ERROR. Nothing raises out of `receive`: a bad line or a handler's error is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.irc import traffic
from bot.irc.accounts import Accounts
from bot.irc.caps import CapNegotiation
from bot.irc.flood import Priority
from bot.irc.keepalive import Keepalive
from bot.irc.lines import FORBIDDEN, format_line, quit_line, split_message, text_budget
from bot.irc.membership import Membership
from bot.irc.names import Casemap, Mask
from bot.irc.nick import Nicks
from bot.irc.parse import Message, ParseError, parse_isupport, parse_line
from bot.irc.protocol import (
    ERROR,
    WARNING,
    Action,
    Close,
    Log,
    LoggedIn,
    Pong,
    Registered,
    Send,
    SessionConfig,
)

#: If no end of MOTD arrives within this many seconds after 001, join anyway.
MOTD_WAIT = 10.0


@dataclass
class IrcSession:
    """One connection's worth of IRC state. Make a new one for each connection."""

    config: SessionConfig
    user: str | None = None
    host: str | None = None
    account: str | None = None
    registered: bool = False
    closed: str | None = None
    isupport: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.casemap = Casemap()
        self.negotiation = CapNegotiation(self.config)
        self.nicks = Nicks(self.config, self.casemap)
        self.membership = Membership(self.config, self.casemap)
        self.accounts = Accounts(self.casemap)
        self.keepalive = Keepalive(self.config.ping_interval, self.config.ping_timeout)
        self._started = 0.0
        self._usermodes = ""  # from 004, for the bot mode when ISUPPORT has no BOT
        self._motd_done = False
        self._join_after: float | None = None
        self._identify_until: float | None = None
        self._bot_mode_sent = False
        self._who_sent = False

    # -- what the connection and the bot read ---------------------------------------------------

    @property
    def nick(self) -> str:
        return self.nicks.nick

    @property
    def caps(self) -> set[str]:
        """The capabilities the server ACKed."""
        return self.negotiation.enabled

    @property
    def casemapping(self) -> str:
        return self.casemap.mapping

    @property
    def is_closed(self) -> bool:
        return self.closed is not None

    def lower(self, name: str) -> str:
        return self.casemap.lower(name)

    def is_joined(self, channel: str) -> bool:
        return self.membership.is_joined(channel)

    @property
    def joined(self) -> list[str]:
        return self.membership.joined

    def account_of(self, nick: str) -> str | None:
        return self.accounts.of(nick)

    def text_budget(self, target: str, *, notice: bool = False) -> int:
        """Bytes of text that fit in one message to `target` as the server relays it."""
        nick = max((self.nick, self.config.nick), key=lambda n: len(n.encode("utf-8")))
        command = "NOTICE" if notice else "PRIVMSG"
        return text_budget(nick=nick, user=self.user, host=self.host, command=command, target=target)

    def message_lines(self, target: str, text: str, *, notice: bool = False) -> list[str]:
        """PRIVMSG/NOTICE lines for `text`: sanitised, split at word boundaries within the budget."""
        command = "NOTICE" if notice else "PRIVMSG"
        pieces = split_message(text, self.text_budget(target, notice=notice))
        return [format_line(command, target, piece, trailing=True) for piece in pieces]

    def ping_line(self, token: str) -> str:
        return format_line("PING", token)

    @staticmethod
    def quit_line(message: str) -> str:
        return quit_line(message)

    # -- inputs ----------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        self._started = now
        self.keepalive.heard(now)
        out: list[Action] = [Send("CAP LS 302")]
        if self.config.server_password:
            out.append(Send(format_line("PASS", self.config.server_password)))
        out.append(Send(format_line("NICK", self.nick)))
        out.append(Send(format_line("USER", self.config.username, "0", "*", self.config.realname)))
        return out

    def receive(self, line: str, now: float) -> list[Action]:
        """One line from the server (already decoded, without CRLF)."""
        self.keepalive.heard(now)
        if self.closed is not None or not line.strip():
            return []
        try:
            message = parse_line(line)
        except ParseError as exc:
            return [Log(WARNING, f"ignored a line the parser cannot read ({exc}): {line[:200]!r}")]
        handler = DISPATCH.get(message.command)
        if handler is None:
            return []
        try:
            return self._track(handler(self, message, now))
        except Exception as exc:  # noqa: BLE001 — reported as a Log action with its traceback
            text = f"error handling {message.command!r} from the line {line[:200]!r} (ignored): {exc!r}"
            return [Log(ERROR, text, exc)]

    def tick(self, now: float) -> list[Action]:
        """Fire what is due. Call it about once a second (or at `next_deadline`)."""
        if self.closed is not None:
            return []
        if not self.registered and now - self._started >= self.config.register_timeout:
            reason = f"registration did not complete within {self.config.register_timeout:g} s"
            return self._track([Close(reason)])
        out = self._track(self.negotiation.tick(now))
        if self.closed is None:
            out += self._track(self.keepalive.tick(now))
        if self.closed is None and self.registered:
            out += self._identify_done(now)
            out += self._maybe_join(now)
            out += self.nicks.tick(now, registered=True)
        return out

    def next_deadline(self) -> float | None:
        """The earliest time `tick` has something to do (for a caller that sleeps until then)."""
        times = [self.keepalive.deadline(), *self.membership.deadlines()]
        if not self.registered:
            times.append(self._started + self.config.register_timeout)
        for value in (
            self.negotiation.deadline(),
            self._join_after,
            self._identify_until,
            self.nicks.regain_at,
        ):
            if value is not None:
                times.append(value)
        return min(times)

    # -- helpers ---------------------------------------------------------------------------------

    def _track(self, actions: list[Action]) -> list[Action]:
        """Note a Close among `actions`: the session is over."""
        for action in actions:
            if isinstance(action, Close) and self.closed is None:
                self.closed = action.reason
        return actions

    def _learn_mask(self, mask: str | None) -> None:
        if not mask or "!" not in mask or "@" not in mask:
            return
        parts = Mask.parse(mask)
        if self.nicks.is_me(parts.nick) and parts.user and parts.host:
            self.user, self.host = parts.user, parts.host

    def _identify_done(self, now: float) -> list[Action]:
        if self._identify_until is not None and now >= self._identify_until:
            self._identify_until = None
            return [Log(WARNING, "no confirmation from NickServ; joining anyway")]
        return []

    def _maybe_join(self, now: float) -> list[Action]:
        if not self.registered or self._identify_until is not None:
            return []
        if not self._motd_done and (self._join_after is None or now < self._join_after):
            return []
        return self.membership.joins_due(now)

    # -- handlers: one per command or numeric, all named in DISPATCH --------------------------------

    def _on_ping(self, msg: Message, now: float) -> list[Action]:
        # a token we could not echo (CR or NUL in it) must not cost the PONG: PING timeouts kill us
        token = "".join(ch for ch in msg.param(0) if ch not in FORBIDDEN)
        return [Send(format_line("PONG", token or "ping"))]

    def _on_pong(self, msg: Message, now: float) -> list[Action]:
        return [Pong(msg.param(-1))]

    def _on_error(self, msg: Message, now: float) -> list[Action]:
        reason = " ".join(msg.params).strip() or "no reason given"
        return [Close(f"the server closed the link: {reason}")]

    def _on_cap(self, msg: Message, now: float) -> list[Action]:
        return self.negotiation.on_cap(msg.params[1:], now)

    def _on_authenticate(self, msg: Message, now: float) -> list[Action]:
        return self.negotiation.on_authenticate(msg.param(0))

    def _on_sasl(self, msg: Message, now: float) -> list[Action]:
        return self.negotiation.on_sasl_numeric(msg.name, msg.params[1:])

    def _on_welcome(self, msg: Message, now: float) -> list[Action]:
        self.registered = True
        self.nicks.on_welcome(msg.param(0), now)
        words = (msg.params[-1] if len(msg.params) >= 2 else "").split()
        if words:
            self._learn_mask(words[-1])
        out = self.negotiation.on_welcome()
        if self.negotiation.sasl.fatal:
            return out
        self._join_after = now + MOTD_WAIT
        if self.config.nickserv_password and self.account is None:
            account = self.config.sasl_username or self.config.nick
            line = format_line(
                "PRIVMSG", self.config.nickserv_nick, f"IDENTIFY {account} {self.config.nickserv_password}"
            )
            out.append(Send(line, Priority.CONTROL))
            self._identify_until = now + self.config.nickserv_wait
        return [Registered(self.nick), *out]

    def _on_myinfo(self, msg: Message, now: float) -> list[Action]:
        if len(msg.params) >= 4:
            self._usermodes = msg.params[3]
        return []

    def _on_isupport(self, msg: Message, now: float) -> list[Action]:
        parse_isupport(msg.params[1:-1], self.isupport)
        self.casemap.mapping = self.isupport.get("CASEMAPPING") or "rfc1459"
        return []

    def _on_motd_end(self, msg: Message, now: float) -> list[Action]:
        if not self.registered or self._motd_done:
            return []
        self._motd_done = True
        out: list[Action] = []
        if self.config.bot_mode and not self._bot_mode_sent:
            letter = self.isupport.get("BOT", "")
            if len(letter) != 1:
                letter = "B" if "B" in self._usermodes else ""
            if letter:
                self._bot_mode_sent = True
                out.append(Send(format_line("MODE", self.nick, "+" + letter), Priority.CONTROL))
        out += self.nicks.after_motd(monitor="MONITOR" in self.isupport)
        if not self._who_sent and self.host is None and not self.membership.channels:
            self._who_sent = True
            out.append(Send(format_line("WHO", self.nick), Priority.CONTROL))
        return out + self._maybe_join(now)

    def _on_unknown_command(self, msg: Message, now: float) -> list[Action]:
        if msg.param(1).upper() == "CAP" and not self.negotiation.done:
            self.negotiation.on_unknown_cap()
        return []

    def _on_password_mismatch(self, msg: Message, now: float) -> list[Action]:
        return [Log(ERROR, "the server refused our server password (464)")]

    def _on_join(self, msg: Message, now: float) -> list[Action]:
        nick = msg.mask.nick
        if len(msg.params) >= 2 and "extended-join" in self.caps:
            self.accounts.learn(nick, msg.params[1])
        if not self.nicks.is_me(nick):
            return []
        self._learn_mask(msg.source)
        return self.membership.on_own_join(msg.param(0))

    def _on_part(self, msg: Message, now: float) -> list[Action]:
        if not self.nicks.is_me(msg.mask.nick):
            return []
        return self.membership.left(msg.param(0), "parted", now)

    def _on_kick(self, msg: Message, now: float) -> list[Action]:
        if not self.nicks.is_me(msg.param(1)):
            return []
        return self.membership.on_kick(msg.param(0), msg.mask.nick or "?", msg.param(2), now)

    def _on_join_error(self, msg: Message, now: float) -> list[Action]:
        return self.membership.on_join_error(msg.name, msg.params[1:], now)

    def _on_nick_error(self, msg: Message, now: float) -> list[Action]:
        return self.nicks.on_error(msg.name, msg.param(1), registered=self.registered)

    def _on_nick(self, msg: Message, now: float) -> list[Action]:
        old, new = msg.mask.nick, msg.param(0)
        if not old or not new:
            return []
        self.accounts.renamed(old, new)
        return self.nicks.on_nick(old, new, now, registered=self.registered)

    def _on_quit(self, msg: Message, now: float) -> list[Action]:
        self.accounts.forget(msg.mask.nick)
        return self.nicks.on_gone([msg.mask.nick], now, registered=self.registered)

    def _on_monitor_offline(self, msg: Message, now: float) -> list[Action]:
        targets = msg.params[-1] if len(msg.params) >= 2 else ""
        names = [Mask.parse(n).nick for n in targets.split(",")]
        return self.nicks.on_gone(names, now, registered=self.registered)

    def _on_account(self, msg: Message, now: float) -> list[Action]:
        self.accounts.learn(msg.mask.nick, msg.param(0) or "*")
        return []

    def _on_chghost(self, msg: Message, now: float) -> list[Action]:
        if self.nicks.is_me(msg.mask.nick) and msg.param(0) and len(msg.params) >= 2:
            self.user, self.host = msg.params[0], msg.params[1]
        return []

    def _on_host_hidden(self, msg: Message, now: float) -> list[Action]:
        if len(msg.params) >= 2:
            shown = msg.params[1]
            if "@" in shown:
                self.user, _, self.host = shown.rpartition("@")
            else:
                self.host = shown
        return []

    def _on_who_reply(self, msg: Message, now: float) -> list[Action]:
        args = msg.params[1:]  # channel user host server nick flags :hops realname
        if len(args) >= 5 and self.nicks.is_me(args[4]):
            self.user, self.host = args[1], args[2]
        return []

    def _on_logged_in(self, msg: Message, now: float) -> list[Action]:  # 900 <nick> <mask> <account> :text
        args = msg.params[1:]
        if args:
            self._learn_mask(args[0])
        self.account = args[1] if len(args) >= 2 else self.account
        self._identify_until = None
        return [LoggedIn(self.account or "?")]

    def _on_logged_out(self, msg: Message, now: float) -> list[Action]:
        self.account = None
        return []


Handler = Callable[[IrcSession, Message, float], list[Action]]


def _each(codes: str, handler: Handler) -> dict[str, Handler]:
    return dict.fromkeys(codes.split(), handler)


#: The one dispatch table: command or numeric → handler. Anything else is ignored.
DISPATCH: Mapping[str, Handler] = {
    "PING": IrcSession._on_ping,
    "PONG": IrcSession._on_pong,
    "ERROR": IrcSession._on_error,
    "CAP": IrcSession._on_cap,
    "AUTHENTICATE": IrcSession._on_authenticate,
    "001": IrcSession._on_welcome,
    "004": IrcSession._on_myinfo,
    "005": IrcSession._on_isupport,
    "376": IrcSession._on_motd_end,  # end of MOTD
    "422": IrcSession._on_motd_end,  # no MOTD
    "421": IrcSession._on_unknown_command,
    "464": IrcSession._on_password_mismatch,
    "JOIN": IrcSession._on_join,
    "PART": IrcSession._on_part,
    "KICK": IrcSession._on_kick,
    **_each("471 473 474 475 477 403 405 476", IrcSession._on_join_error),
    **_each("432 433 436 437", IrcSession._on_nick_error),
    "NICK": IrcSession._on_nick,
    "QUIT": IrcSession._on_quit,
    "731": IrcSession._on_monitor_offline,
    "ACCOUNT": IrcSession._on_account,
    "CHGHOST": IrcSession._on_chghost,
    "396": IrcSession._on_host_hidden,
    "352": IrcSession._on_who_reply,
    **_each("404 401 442", traffic.on_cannot_send),
    "900": IrcSession._on_logged_in,
    "901": IrcSession._on_logged_out,
    **_each("902 903 904 905 906 907 908", IrcSession._on_sasl),
    "PRIVMSG": traffic.on_privmsg,
    "NOTICE": traffic.on_own,
    "INVITE": traffic.on_invite,
    "MODE": traffic.on_mode,
}
