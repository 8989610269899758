"""The vocabulary between the pure IRC session (`bot.irc.session`) and whoever drives it: the session's
configuration in, its actions out (frozen dataclasses, one per thing that can happen, h11 style).
Nothing here does anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.irc.flood import Priority

SaslMechanism = Literal["PLAIN", "EXTERNAL", "SCRAM-SHA-256"]

#: Levels of `Log` actions: the numbers of the logging module, which is not imported here (it loads
#: threading, and the session is pure).
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40


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
    join_retry: float = 1.0
    join_retry_max: float = 4.0
    ping_interval: float = 90.0
    ping_timeout: float = 60.0
    register_timeout: float = 60.0
    regain_interval: float = 60.0
    bot_mode: bool = True
    #: the CTCP VERSION answer
    version: str = "release-bot"


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
    #: sent by a bot: the IRCv3 `bot` message tag (or a server's own bot tag)
    from_bot: bool = False


@dataclass(frozen=True)
class CtcpQuery:
    """A CTCP request to us (VERSION, PING, TIME, …), not a message: answered by the client."""

    nick: str
    mask: str
    command: str
    arg: str


@dataclass(frozen=True)
class OwnMessage:
    """A message of ours as the server relayed it: the IRCv3 echo-message echo (`label` from
    labeled-response: the line it answers), or one the server replays from the channel's history."""

    target: str
    text: str
    label: str | None


@dataclass(frozen=True)
class SendPossible:
    """A channel mode change made sending to `channel` possible again (-m, -b, +v on us …)."""

    channel: str
    reason: str


@dataclass(frozen=True)
class Pong:
    token: str


@dataclass(frozen=True)
class SendRefused:
    """The server would not deliver a message to `target` (404 cannot send to channel, 401 no such
    nick, 442 not on channel)."""

    target: str
    reason: str
    label: str | None = None  # labeled-response: the line it answers


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
    Send
    | Registered
    | LoggedIn
    | AuthFailed
    | Joined
    | Left
    | Incoming
    | CtcpQuery
    | OwnMessage
    | SendPossible
    | Pong
    | SendRefused
    | Close
    | Log
)
