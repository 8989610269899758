"""The IRC session as a pure state machine (h11 style): lines and clock ticks in, actions out. No sockets.

`IrcSession.start(now)` gives the first lines; `receive(line, now)` takes one decoded line from the
server; `tick(now)` lets timers fire (SASL timeout, keepalive PING, PING timeout, registration
timeout, rejoin after KICK, nick regain). Each returns a list of actions: `Send` (a line to write),
and events for the bot (`Registered`, `Joined`, `Left`, `Incoming`, `Pong`, `AuthFailed`, `Close`,
`Log`). The asyncio part (`bot.irc.client`) only moves bytes and sleeps.

What the session does:

- registration: ``CAP LS 302`` (multi-line LS, cap values), server password, NICK/USER; ``CAP REQ``
  for sasl (alone, so a refusal cannot take other caps with it) and for account-tag, extended-join,
  account-notify, chghost; ``CAP END`` once SASL is over and every REQ is answered.
- SASL PLAIN and EXTERNAL (payload base64 in 400-byte AUTHENTICATE chunks, "+" after an exact
  multiple), 900/903/904/905/906/907/908, a SASL timeout. When SASL is configured and fails, the
  session says why and closes, unless `sasl_required` is off (then it goes on, with NickServ IDENTIFY
  as a fallback if configured). A server without CAP or without SASL counts as a SASL failure.
- 433/432/437 during registration → the alternative nicks, then ``nick_1``, ``nick_2`` …; after
  registration the configured nick is regained (MONITOR when the server has it, else every
  `regain_interval`).
- ISUPPORT (through the irc package's FeatureSet): BOT mode set on ourselves (else +B if 004 lists
  it), CASEMAPPING for comparing names, MONITOR.
- our user@host, for the line budget: 001 text, our own JOIN echo, 396, CHGHOST, WHO on ourselves, 900.
- JOIN with keys after the MOTD (or after NickServ confirms), retry with backoff when a JOIN is
  refused, rejoin after KICK (configurable), PING → PONG, keepalive PING and PING timeout.
- who is who for admin checks: the IRCv3 account-tag on each message, else what extended-join and
  account-notify told us.

Parsing is the irc package's own (`irc.client.ServerConnection._process_line`: its regular
expression, `irc.message.Arguments`/`Tag`, `irc.events` names, CTCP dequoting, `irc.features`
ISUPPORT) with its event dispatch redirected into a list; see `_Parser`. A line it cannot parse is
logged and skipped, and an error in handling one event is logged (with its traceback) and skipped:
nothing raises out of `receive`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from irc.client import NickMask, ServerConnection

from bot.irc.flood import Priority
from bot.irc.split import split_message, text_budget

SaslMechanism = Literal["PLAIN", "EXTERNAL"]

#: Capabilities requested when offered (besides sasl, which is requested on its own).
WANTED_CAPS: tuple[str, ...] = ("account-tag", "extended-join", "account-notify", "chghost")
SASL_CHUNK = 400
_FORBIDDEN = ("\r", "\n", "\0")


# -------------------------------------------------------------------------------------------------
# Lines out
# -------------------------------------------------------------------------------------------------


def format_line(command: str, *params: str, trailing: bool = False) -> str:
    """One protocol line (without CRLF). Only the last parameter may be empty, contain spaces or start
    with ':' (`trailing`: always send it as a trailing parameter). CR, LF and NUL are refused anywhere
    (ValueError): nothing can smuggle in a second command."""
    parts = [command]
    for index, param in enumerate(params):
        if any(ch in param for ch in _FORBIDDEN):
            raise ValueError(f"CR, LF or NUL in an IRC parameter: {param!r}")
        last = index == len(params) - 1
        if not param or " " in param or param.startswith(":") or (last and trailing):
            if not last:
                raise ValueError(f"only the last IRC parameter may be empty or contain spaces: {param!r}")
            param = ":" + param
        parts.append(param)
    line = " ".join(parts)
    if any(ch in command for ch in (*_FORBIDDEN, " ")) or not command:
        raise ValueError(f"bad IRC command {command!r}")
    if len(line.encode("utf-8")) + 2 > 512:
        raise ValueError(f"IRC line longer than 512 bytes: {line[:60]!r}…")
    return line


# -------------------------------------------------------------------------------------------------
# Actions out of the session
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Write `line`. `priority` None: right away (registration, PONG, keepalive, QUIT), else through the
    flood-controlled queue."""

    line: str
    priority: Priority | None = None


@dataclass(frozen=True)
class Registered:
    nick: str


@dataclass(frozen=True)
class LoggedIn:
    account: str


@dataclass(frozen=True)
class AuthFailed:
    reason: str
    fatal: bool


@dataclass(frozen=True)
class Joined:
    channel: str


@dataclass(frozen=True)
class Left:
    channel: str
    reason: str


@dataclass(frozen=True)
class Incoming:
    """A PRIVMSG to a channel we are in or to us. `account` from account-tag / extended-join /
    account-notify, None when not logged in or unknown."""

    mask: str
    nick: str
    target: str
    text: str
    private: bool
    account: str | None


@dataclass(frozen=True)
class Pong:
    token: str


@dataclass(frozen=True)
class SendRefused:
    """The server would not deliver a message to `target` (404 cannot send to channel, 401 no such
    nick, 442 not on channel)."""

    target: str
    reason: str


@dataclass(frozen=True)
class Close:
    """The session is over (ping timeout, SASL failure, ERROR from the server): close the connection."""

    reason: str


@dataclass(frozen=True)
class Log:
    level: int
    message: str
    error: BaseException | None = None  # logged with its traceback


Action = (
    Send | Registered | LoggedIn | AuthFailed | Joined | Left | Incoming | Pong | SendRefused | Close | Log
)


# -------------------------------------------------------------------------------------------------
# Configuration of a session
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelJoin:
    name: str
    key: str | None = None


@dataclass(frozen=True)
class SessionConfig:
    nick: str
    username: str
    realname: str
    channels: tuple[ChannelJoin, ...] = ()
    alt_nicks: tuple[str, ...] = ()
    server_password: str | None = None
    sasl: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    sasl_required: bool = True
    sasl_timeout: float = 15.0
    nickserv_password: str | None = None
    nickserv_nick: str = "NickServ"
    nickserv_wait: float = 10.0
    rejoin_on_kick: bool = True
    rejoin_delay: float = 10.0
    join_retry: float = 60.0
    join_retry_max: float = 900.0
    ping_interval: float = 90.0
    ping_timeout: float = 60.0
    register_timeout: float = 60.0
    regain_interval: float = 60.0
    bot_mode: bool = True


# -------------------------------------------------------------------------------------------------
# Parsing: the irc package's parser, with its dispatch collected into a list
# -------------------------------------------------------------------------------------------------


class _Parser(ServerConnection):  # type: ignore[misc]  # irc is untyped
    """irc.client.ServerConnection used only for `_process_line` (parse one line into irc.client.Event
    objects: "welcome", "pubmsg", "ctcp", "nicknameinuse" …; it also loads ISUPPORT into
    `self.features`). Never connected: `_handle_event` collects instead of dispatching to a reactor."""

    def __init__(self) -> None:
        super().__init__(None)
        self.real_nickname = ""
        self.real_server_name = ""
        self._collected: list[Any] = []

    def _handle_event(self, event: Any) -> None:
        if event.type != "all_raw_messages":
            self._collected.append(event)

    def parse(self, line: str) -> list[Any]:
        self._collected = []
        self._process_line(line)
        return self._collected


def _tags(event: Any) -> dict[str, str | None]:
    return {t["key"]: t["value"] for t in (event.tags or []) if isinstance(t, dict) and "key" in t}


def irc_lower(text: str, casemapping: str = "rfc1459") -> str:
    """Case-fold a nick or channel name the way the server does."""
    if casemapping == "ascii":
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    if casemapping in ("rfc7613", "utf8", "precis"):
        return text.casefold()
    table = {"[": "{", "]": "}", "\\": "|"}
    if casemapping != "rfc1459-strict":
        table["~"] = "^"
    out = []
    for ch in text:
        if "A" <= ch <= "Z":
            out.append(chr(ord(ch) + 32))
        else:
            out.append(table.get(ch, ch))
    return "".join(out)


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


# -------------------------------------------------------------------------------------------------
# The session
# -------------------------------------------------------------------------------------------------


@dataclass
class _ChannelState:
    join: ChannelJoin
    joined: bool = False
    join_sent_at: float | None = None
    retry_at: float | None = None
    failures: int = 0


@dataclass
class _Sasl:
    phase: Literal["off", "waiting-ls", "requested", "authenticating", "done", "failed"] = "off"
    deadline: float | None = None
    mechanisms: str = ""


@dataclass
class IrcSession:
    """One connection's worth of IRC state. Make a new one for each connection."""

    config: SessionConfig
    nick: str = ""
    user: str | None = None
    host: str | None = None
    account: str | None = None
    registered: bool = False
    caps: set[str] = field(default_factory=set)
    closed: str | None = None

    def __post_init__(self) -> None:
        self._parser = _Parser()
        self.nick = self.config.nick
        self._parser.real_nickname = self.nick
        self._nick_attempt = 0
        self._channels = {irc_lower(c.name): _ChannelState(c) for c in self.config.channels}
        self._offered: dict[str, str | None] = {}
        self._cap_done = False
        self._pending_req = 0
        self._sasl = _Sasl()
        self._started = 0.0
        self._last_rx = 0.0
        self._ping_sent_at: float | None = None
        self._ping_counter = 0
        self._motd_done = False
        self._join_after: float | None = None
        self._identify_until: float | None = None
        self._regain_at: float | None = None
        self._monitoring = False
        self._usermodes = ""
        self._bot_mode_sent = False
        self._who_sent = False
        self._accounts: dict[str, str | None] = {}

    # -- what the connection and the bot read ---------------------------------------------------

    @property
    def features(self) -> Any:
        """ISUPPORT as parsed by irc.features.FeatureSet (attributes: nicklen, bot, monitor …)."""
        return self._parser.features

    @property
    def casemapping(self) -> str:
        value = getattr(self.features, "casemapping", "rfc1459")
        return value if isinstance(value, str) else "rfc1459"

    @property
    def is_closed(self) -> bool:
        return self.closed is not None

    def lower(self, name: str) -> str:
        return irc_lower(name, self.casemapping)

    def is_joined(self, channel: str) -> bool:
        state = self._channels.get(self.lower(channel))
        return bool(state and state.joined)

    @property
    def joined(self) -> list[str]:
        return [c.join.name for c in self._channels.values() if c.joined]

    def account_of(self, nick: str) -> str | None:
        return self._accounts.get(self.lower(nick))

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
        from bot.text import sanitize, truncate_utf8

        return format_line("QUIT", truncate_utf8(sanitize(message), 300) or "bye")

    # -- inputs ----------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        self._started = self._last_rx = now
        out: list[Action] = [Send("CAP LS 302")]
        if self.config.server_password:
            out.append(Send(format_line("PASS", self.config.server_password)))
        out.append(Send(format_line("NICK", self.nick)))
        out.append(Send(format_line("USER", self.config.username, "0", "*", self.config.realname)))
        if self.config.sasl:
            self._sasl.phase = "waiting-ls"
        return out

    def receive(self, line: str, now: float) -> list[Action]:
        """One line from the server (already decoded, without CRLF)."""
        self._last_rx = now
        self._ping_sent_at = None
        if self.closed is not None or not line.strip():
            return []
        try:
            events = self._parser.parse(line)
        except Exception as exc:  # noqa: BLE001 — any parser failure: skip the line, keep the connection
            return [Log(logging.WARNING, f"ignored a line the parser cannot read ({exc!r}): {line[:200]!r}")]
        out: list[Action] = []
        for event in events:
            # Every handler guarded: a bug or an unforeseen shape of one event is logged and skipped;
            # the other events of the line, the session and the connection go on.
            try:
                actions = self._event(event, now)
            except Exception as exc:  # noqa: BLE001 — reported as a Log action with its traceback
                actions = [
                    Log(
                        logging.ERROR,
                        f"error handling {event.type!r} from the line {line[:200]!r} (ignored): {exc!r}",
                        exc,
                    )
                ]
            out.extend(actions)
        return out

    def tick(self, now: float) -> list[Action]:
        """Fire what is due. Call it about once a second (or at `next_deadline`)."""
        if self.closed is not None:
            return []
        out: list[Action] = []
        if not self.registered and now - self._started >= self.config.register_timeout:
            return self._close(f"registration did not complete within {self.config.register_timeout:g} s")
        deadline = self._sasl.deadline
        if self._sasl.phase == "authenticating" and deadline is not None and now >= deadline:
            out.append(Send("AUTHENTICATE *"))
            out.extend(
                self._sasl_failed_then_end(
                    f"no answer to SASL {self.config.sasl} within {self.config.sasl_timeout:g} s"
                )
            )
            if self.is_closed:
                return out
        if self._ping_sent_at is not None:
            if now - self._ping_sent_at >= self.config.ping_timeout:
                return [
                    *out,
                    *self._close(f"no data from the server for {now - self._last_rx:.0f} s (ping timeout)"),
                ]
        elif now - self._last_rx >= self.config.ping_interval:
            self._ping_counter += 1
            self._ping_sent_at = now
            out.append(Send(self.ping_line(f"keepalive-{self._ping_counter}")))
        if self.registered:
            out.extend(self._maybe_identify_done(now))
            out.extend(self._maybe_join(now))
            if self._regain_at is not None and now >= self._regain_at and self.nick != self.config.nick:
                self._regain_at = now + self.config.regain_interval
                out.append(Send(format_line("NICK", self.config.nick), Priority.CONTROL))
        return out

    def next_deadline(self) -> float | None:
        """The earliest time `tick` has something to do (for a caller that sleeps until then)."""
        times: list[float] = []
        if not self.registered:
            times.append(self._started + self.config.register_timeout)
        if self._sasl.deadline is not None and self._sasl.phase == "authenticating":
            times.append(self._sasl.deadline)
        if self._ping_sent_at is not None:
            times.append(self._ping_sent_at + self.config.ping_timeout)
        else:
            times.append(self._last_rx + self.config.ping_interval)
        for value in (self._join_after, self._identify_until, self._regain_at):
            if value is not None:
                times.append(value)
        for chan in self._channels.values():
            if chan.retry_at is not None:
                times.append(chan.retry_at)
        return min(times) if times else None

    # -- helpers ---------------------------------------------------------------------------------

    def _close(self, reason: str) -> list[Action]:
        self.closed = reason
        return [Close(reason)]

    def _is_me(self, nick: str | None) -> bool:
        return bool(nick) and self.lower(nick or "") == self.lower(self.nick)

    def _learn_mask(self, mask: str | None) -> None:
        if not mask or "!" not in mask or "@" not in mask:
            return
        nm = NickMask(mask)
        if self._is_me(nm.nick) and nm.user and nm.host:
            self.user, self.host = nm.user, nm.host

    # -- CAP and SASL ----------------------------------------------------------------------------

    def _cap(self, event: Any, now: float) -> list[Action]:
        args = list(event.arguments)
        if not args:
            return []
        sub = args[0].upper()
        if sub == "LS":
            more = len(args) >= 3 and args[1] == "*"
            for token in (args[-1] if len(args) >= 2 else "").split():
                name, _, value = token.partition("=")
                self._offered[name] = value or None
            if more or self._cap_done:
                return []
            return self._request_caps(now)
        if sub in ("ACK", "NAK"):
            names = (args[-1] if len(args) >= 2 else "").split()
            self._pending_req = max(0, self._pending_req - 1)
            out: list[Action] = []
            if sub == "ACK":
                for name in names:
                    if name.startswith("-"):
                        self.caps.discard(name[1:])
                    else:
                        self.caps.add(name)
                if "sasl" in names and self._sasl.phase == "requested":
                    self._sasl.phase = "authenticating"
                    self._sasl.deadline = now + self.config.sasl_timeout
                    out.append(Send(format_line("AUTHENTICATE", self.config.sasl or "PLAIN")))
            elif "sasl" in names and self._sasl.phase == "requested":
                out.extend(self._sasl_failed("the server refused the sasl capability (CAP NAK)"))
            if not self.is_closed:
                out.extend(self._maybe_cap_end())
            return out
        return []

    def _request_caps(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.config.sasl:
            offered = self._offered
            if "sasl" not in offered:
                out.extend(self._sasl_failed("the server does not offer SASL (no 'sasl' in CAP LS)"))
                if self.is_closed:
                    return out
            else:
                mechs = [m.strip().upper() for m in (offered["sasl"] or "").split(",") if m.strip()]
                if mechs and self.config.sasl not in mechs:
                    out.extend(
                        self._sasl_failed(
                            f"the server offers SASL {', '.join(mechs)}, not {self.config.sasl}"
                        )
                    )
                    if self.is_closed:
                        return out
                else:
                    self._sasl.phase = "requested"
                    self._pending_req += 1
                    out.append(Send("CAP REQ :sasl"))
        wanted = [c for c in WANTED_CAPS if c in self._offered]
        if wanted:
            self._pending_req += 1
            out.append(Send("CAP REQ :" + " ".join(wanted)))
        out.extend(self._maybe_cap_end())
        return out

    def _maybe_cap_end(self) -> list[Action]:
        if self._cap_done or self._pending_req > 0:
            return []
        if self._sasl.phase in ("requested", "authenticating"):
            return []
        self._cap_done = True
        return [Send("CAP END")]

    def _authenticate(self, event: Any) -> list[Action]:
        if self._sasl.phase != "authenticating" or event.target != "+":
            return []
        return [Send(format_line("AUTHENTICATE", chunk)) for chunk in sasl_chunks(sasl_payload(self.config))]

    def _sasl_failed(self, reason: str) -> list[Action]:
        self._sasl.phase = "failed"
        self._sasl.deadline = None
        full = (
            f"SASL {self.config.sasl} as {self.config.sasl_username or self.config.nick!r} failed: {reason}"
        )
        if self.config.sasl_required:
            return [
                AuthFailed(full + "; not continuing unauthenticated (sasl_required = true)", fatal=True),
                Send(self.quit_line("SASL authentication failed")),
                *self._close(full),
            ]
        return [AuthFailed(full + "; continuing unauthenticated (sasl_required = false)", False)]

    def _sasl_failed_then_end(self, reason: str) -> list[Action]:
        out = self._sasl_failed(reason)
        return out if self.is_closed else [*out, *self._maybe_cap_end()]

    def _sasl_numeric(self, event: Any) -> list[Action]:
        kind = event.type
        args = list(event.arguments)
        if kind == "loggedin":  # 900 <nick> <mask> <account> :text
            if args:
                self._learn_mask(args[0])
            self.account = args[1] if len(args) >= 2 else self.account
            if self._identify_until is not None:
                self._identify_until = None
            return [LoggedIn(self.account or "?")]
        if kind == "loggedout":
            self.account = None
            return []
        if self._sasl.phase != "authenticating":
            return []
        if kind in ("saslsuccess", "saslalready"):
            self._sasl.phase = "done"
            self._sasl.deadline = None
            return self._maybe_cap_end()
        if kind == "saslmechs":
            self._sasl.mechanisms = args[0] if args else ""
            return []
        text = args[-1] if args else kind
        if self._sasl.mechanisms:
            text += f" (the server offers {self._sasl.mechanisms})"
        return self._sasl_failed_then_end(f"{event.type} — {text}")

    # -- registration ----------------------------------------------------------------------------

    def _next_nick(self) -> str:
        candidates = [self.config.nick, *self.config.alt_nicks]
        self._nick_attempt += 1
        if self._nick_attempt < len(candidates):
            return candidates[self._nick_attempt]
        number = self._nick_attempt - len(candidates) + 1
        return f"{self.config.nick[:12]}_{number}"

    def _welcome(self, event: Any, now: float) -> list[Action]:
        self.registered = True
        if event.target:
            self.nick = event.target
        words = (event.arguments[-1] if event.arguments else "").split()
        if words:
            self._learn_mask(words[-1])
        out: list[Action] = []
        if self.config.sasl and self._sasl.phase not in ("done", "failed"):
            # A server without CAP (or that ignored it) registered us: SASL never happened.
            out.extend(
                self._sasl_failed("the server registered the connection without SASL (no CAP support)")
            )
            if self.is_closed:
                return out
        self._cap_done = True
        self._join_after = now + 10.0  # in case no end of MOTD arrives
        if self.config.nickserv_password and self.account is None:
            account = self.config.sasl_username or self.config.nick
            out.append(
                Send(
                    format_line(
                        "PRIVMSG",
                        self.config.nickserv_nick,
                        f"IDENTIFY {account} {self.config.nickserv_password}",
                    ),
                    Priority.CONTROL,
                )
            )
            self._identify_until = now + self.config.nickserv_wait
        if self.nick != self.config.nick:
            self._regain_at = now + self.config.regain_interval
        out.insert(0, Registered(self.nick))
        return out

    def _maybe_identify_done(self, now: float) -> list[Action]:
        if self._identify_until is not None and now >= self._identify_until:
            self._identify_until = None
            return [Log(logging.WARNING, "no confirmation from NickServ; joining anyway")]
        return []

    def _after_motd(self, now: float) -> list[Action]:
        out: list[Action] = []
        self._motd_done = True
        if self.config.bot_mode and not self._bot_mode_sent:
            mode = getattr(self.features, "bot", None)
            letter = (
                mode if isinstance(mode, str) and len(mode) == 1 else ("B" if "B" in self._usermodes else "")
            )
            if letter:
                self._bot_mode_sent = True
                out.append(Send(format_line("MODE", self.nick, "+" + letter), Priority.CONTROL))
        if self.nick != self.config.nick and getattr(self.features, "monitor", None) and not self._monitoring:
            self._monitoring = True
            out.append(Send(format_line("MONITOR", "+", self.config.nick), Priority.CONTROL))
        if not self._who_sent and self.host is None and not self._channels:
            self._who_sent = True
            out.append(Send(format_line("WHO", self.nick), Priority.CONTROL))
        out.extend(self._maybe_join(now))
        return out

    def _maybe_join(self, now: float) -> list[Action]:
        if not self.registered or self._identify_until is not None:
            return []
        if not self._motd_done and (self._join_after is None or now < self._join_after):
            return []
        out: list[Action] = []
        for chan in self._channels.values():
            if chan.joined:
                continue
            if chan.retry_at is not None and now < chan.retry_at:
                continue
            if chan.join_sent_at is not None and chan.retry_at is None and now - chan.join_sent_at < 60.0:
                continue  # an answer is still due
            chan.join_sent_at = now
            chan.retry_at = None
            params = [chan.join.name] + ([chan.join.key] if chan.join.key else [])
            out.append(Send(format_line("JOIN", *params), Priority.CONTROL))
        return out

    # -- events ----------------------------------------------------------------------------------

    def _event(self, event: Any, now: float) -> list[Action]:
        kind = str(event.type)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, event, now)
        if kind in _JOIN_ERRORS:
            return self._join_error(event, now)
        if kind in ("nicknameinuse", "erroneusnickname", "unavailresource", "nickcollision"):
            return self._nick_error(event)
        if kind in _SASL_EVENTS:
            return self._sasl_numeric(event)
        return []

    def _on_ping(self, event: Any, now: float) -> list[Action]:
        token = event.target or (event.arguments[0] if event.arguments else "")
        # a token we could not echo (CR or NUL in it) must not cost the PONG: PING timeouts kill us
        token = "".join(ch for ch in token if ch not in _FORBIDDEN)
        return [Send(format_line("PONG", token or "ping"))]

    def _on_pong(self, event: Any, now: float) -> list[Action]:
        token = event.arguments[-1] if event.arguments else (event.target or "")
        return [Pong(token)]

    def _on_error(self, event: Any, now: float) -> list[Action]:
        reason = " ".join([event.target or "", *event.arguments]).strip() or "no reason given"
        return self._close(f"the server closed the link: {reason}")

    def _on_cap(self, event: Any, now: float) -> list[Action]:
        return self._cap(event, now)

    def _on_authenticate(self, event: Any, now: float) -> list[Action]:
        return self._authenticate(event)

    def _on_welcome(self, event: Any, now: float) -> list[Action]:
        return self._welcome(event, now)

    def _on_myinfo(self, event: Any, now: float) -> list[Action]:
        if len(event.arguments) >= 3:
            self._usermodes = event.arguments[2]
        return []

    def _on_motd_end(self, event: Any, now: float) -> list[Action]:
        if not self.registered or self._motd_done:
            return []
        return self._after_motd(now)

    def _on_unknowncommand(self, event: Any, now: float) -> list[Action]:
        if event.arguments and event.arguments[0].upper() == "CAP" and not self._cap_done:
            self._cap_done = True  # a server without CAP: 001 will follow; _welcome reports SASL
        return []

    def _on_passwdmismatch(self, event: Any, now: float) -> list[Action]:
        return [Log(logging.ERROR, "the server refused our server password (464)")]

    def _on_join(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        channel = event.target or ""
        if len(event.arguments) >= 1 and "extended-join" in self.caps:
            account = event.arguments[0]
            self._accounts[self.lower(source.nick)] = None if account == "*" else account
        if not self._is_me(source.nick):
            return []
        self._learn_mask(event.source)
        state = self._channels.get(self.lower(channel))
        if state is None:
            if not channel or any(ch in channel for ch in (*_FORBIDDEN, " ")):
                return [Log(logging.WARNING, f"ignored a JOIN echo for a malformed channel {channel!r}")]
            return [
                Log(logging.INFO, f"joined {channel}, which is not configured; leaving it"),
                Send(format_line("PART", channel), Priority.CONTROL),
            ]
        state.joined = True
        state.join_sent_at = None
        state.retry_at = None
        state.failures = 0
        return [Joined(state.join.name)]

    def _left(self, channel: str, reason: str, now: float, *, rejoin: bool) -> list[Action]:
        state = self._channels.get(self.lower(channel))
        if state is None or not state.joined:
            return []
        state.joined = False
        state.join_sent_at = None
        state.retry_at = now + self.config.rejoin_delay if rejoin else float("inf")
        return [Left(state.join.name, reason)]

    def _on_part(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        if not self._is_me(source.nick):
            return []
        return self._left(event.target or "", "parted", now, rejoin=True)

    def _on_kick(self, event: Any, now: float) -> list[Action]:
        args = list(event.arguments)
        if not args or not self._is_me(args[0]):
            return []
        by = NickMask(event.source or "").nick or "?"
        why = args[1] if len(args) > 1 else ""
        rejoin = self.config.rejoin_on_kick
        what = f"kicked by {by}" + (f" ({why})" if why else "")
        what += (
            f"; rejoining in {self.config.rejoin_delay:g} s"
            if rejoin
            else "; not rejoining (rejoin_on_kick = false)"
        )
        return self._left(event.target or "", what, now, rejoin=rejoin)

    def _join_error(self, event: Any, now: float) -> list[Action]:
        args = list(event.arguments)
        channel = args[0] if args else ""
        state = self._channels.get(self.lower(channel))
        if state is None or state.joined:
            return []
        state.failures += 1
        delay = min(self.config.join_retry * 2 ** (state.failures - 1), self.config.join_retry_max)
        state.retry_at = now + delay
        reason = args[-1] if len(args) > 1 else event.type
        return [
            Log(
                logging.WARNING,
                f"cannot join {state.join.name}: {reason} ({event.type}); retrying in {delay:g} s",
            )
        ]

    def _nick_error(self, event: Any, now: float | None = None) -> list[Action]:
        args = list(event.arguments)
        wanted = args[0] if args else ""
        if self.registered:
            # a regain attempt failed: try again later
            return []
        if wanted and self.lower(wanted) != self.lower(self.nick):
            return []
        new = self._next_nick()
        self.nick = new
        self._parser.real_nickname = new
        return [
            Log(logging.WARNING, f"nick {wanted!r} is not available ({event.type}); trying {new!r}"),
            Send(format_line("NICK", new)),
        ]

    def _on_nick(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        new = event.target or ""
        old_key = self.lower(source.nick or "")
        if old_key in self._accounts:
            self._accounts[self.lower(new)] = self._accounts.pop(old_key)
        if self._is_me(source.nick):
            self.nick = new
            self._parser.real_nickname = new
            if self.lower(new) == self.lower(self.config.nick):
                self._regain_at = None
                out: list[Action] = [Log(logging.INFO, f"regained the nick {new}")]
                if self._monitoring:
                    self._monitoring = False
                    out.append(Send(format_line("MONITOR", "-", self.config.nick), Priority.CONTROL))
                return out
            return []
        if (
            self.registered
            and self.nick != self.config.nick
            and self.lower(source.nick or "") == self.lower(self.config.nick)
        ):
            return [Send(format_line("NICK", self.config.nick), Priority.CONTROL)]
        return []

    def _on_quit(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        self._accounts.pop(self.lower(source.nick or ""), None)
        if (
            self.registered
            and self.nick != self.config.nick
            and self.lower(source.nick or "") == self.lower(self.config.nick)
        ):
            return [Send(format_line("NICK", self.config.nick), Priority.CONTROL)]
        return []

    def _on_monoffline(self, event: Any, now: float) -> list[Action]:
        names = [NickMask(n).nick for n in (event.arguments[-1] if event.arguments else "").split(",")]
        if self.nick != self.config.nick and any(
            self.lower(n) == self.lower(self.config.nick) for n in names
        ):
            return [Send(format_line("NICK", self.config.nick), Priority.CONTROL)]
        return []

    def _on_account(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        account = event.target or "*"
        self._accounts[self.lower(source.nick or "")] = None if account == "*" else account
        return []

    def _on_chghost(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        if self._is_me(source.nick) and event.target and event.arguments:
            self.user, self.host = event.target, event.arguments[0]
        return []

    def _on_396(self, event: Any, now: float) -> list[Action]:
        if event.arguments:
            shown = event.arguments[0]
            if "@" in shown:
                self.user, _, self.host = shown.rpartition("@")
            else:
                self.host = shown
        return []

    def _on_whoreply(self, event: Any, now: float) -> list[Action]:
        args = list(event.arguments)  # channel user host server nick flags :hops realname
        if len(args) >= 5 and self._is_me(args[4]):
            self.user, self.host = args[1], args[2]
        return []

    def _on_cannot_send(self, event: Any, now: float) -> list[Action]:
        args = list(event.arguments)
        if not args:
            return []
        return [SendRefused(args[0], f"{event.type}: {args[-1] if len(args) > 1 else ''}".strip())]

    def _on_message(self, event: Any, now: float) -> list[Action]:
        source = NickMask(event.source or "")
        if not source.nick or not event.arguments or self._is_me(source.nick):
            return []
        tags = _tags(event)
        account = tags.get("account") if "account" in tags else self.account_of(source.nick)
        private = event.type == "privmsg"
        return [
            Incoming(
                mask=str(event.source),
                nick=source.nick,
                target=event.target or "",
                text=str(event.arguments[0]),
                private=private,
                account=account or None,
            )
        ]


_JOIN_ERRORS = frozenset(
    {
        "channelisfull",
        "inviteonlychan",
        "bannedfromchan",
        "badchannelkey",
        "nochanmodes",  # 477, ERR_NEEDREGGEDNICK on modern servers
        "nosuchchannel",
        "toomanychannels",
        "badchanmask",
    }
)
_SASL_EVENTS = frozenset(
    {
        "loggedin",
        "loggedout",
        "nicklocked",
        "saslsuccess",
        "saslfail",
        "sasltoolong",
        "saslaborted",
        "saslalready",
        "saslmechs",
    }
)


_Handler = Callable[[IrcSession, Any, float], list[Action]]
_HANDLERS: Mapping[str, _Handler] = {
    "ping": IrcSession._on_ping,
    "pong": IrcSession._on_pong,
    "error": IrcSession._on_error,
    "cap": IrcSession._on_cap,
    "authenticate": IrcSession._on_authenticate,
    "welcome": IrcSession._on_welcome,
    "myinfo": IrcSession._on_myinfo,
    "endofmotd": IrcSession._on_motd_end,
    "nomotd": IrcSession._on_motd_end,
    "unknowncommand": IrcSession._on_unknowncommand,
    "passwdmismatch": IrcSession._on_passwdmismatch,
    "join": IrcSession._on_join,
    "part": IrcSession._on_part,
    "kick": IrcSession._on_kick,
    "nick": IrcSession._on_nick,
    "quit": IrcSession._on_quit,
    "731": IrcSession._on_monoffline,
    "account": IrcSession._on_account,
    "chghost": IrcSession._on_chghost,
    "396": IrcSession._on_396,
    "whoreply": IrcSession._on_whoreply,
    "cannotsendtochan": IrcSession._on_cannot_send,
    "nosuchnick": IrcSession._on_cannot_send,
    "notonchannel": IrcSession._on_cannot_send,
    "pubmsg": IrcSession._on_message,
    "privmsg": IrcSession._on_message,
}


__all__: Sequence[str] = (
    "Action",
    "AuthFailed",
    "ChannelJoin",
    "Close",
    "Incoming",
    "IrcSession",
    "Joined",
    "Left",
    "Log",
    "LoggedIn",
    "Pong",
    "Registered",
    "Send",
    "SendRefused",
    "SessionConfig",
    "format_line",
    "irc_lower",
    "sasl_chunks",
    "sasl_payload",
)
