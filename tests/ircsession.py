"""Helpers for the tests of the pure IRC session (tests/unit/test_irc_session.py, test_irc_caps.py …): a
config, the lines an action list sends, lines fed in, and sessions registered, joined or doing SASL."""

from __future__ import annotations

from typing import Any

from bot.irc.protocol import ChannelJoin, Send, SessionConfig
from bot.irc.session import IrcSession

S = ":irc.test"


def config(**kw: object) -> SessionConfig:
    base: dict[str, object] = {"nick": "rbot", "username": "rb", "realname": "release bot"}
    base.update(kw)
    return SessionConfig(**base)  # type: ignore[arg-type]


def sent(actions: list[Any]) -> list[str]:
    return [a.line for a in actions if isinstance(a, Send)]


def feed(session: IrcSession, *lines: str, now: float = 0.0) -> list[Any]:
    out: list[Any] = []
    for line in lines:
        out.extend(session.receive(line, now))
    return out


def register(session: IrcSession, now: float = 0.0) -> list[Any]:
    """LS without caps, 001 and end of MOTD: a registered session."""
    out = session.start(now)
    out += feed(session, f"{S} CAP * LS :multi-prefix", now=now)
    out += feed(
        session,
        f"{S} 001 {session.nick} :Welcome to the TestNet IRC Network {session.nick}!rb@10.0.0.1",
        f"{S} 005 {session.nick} CASEMAPPING=rfc1459 NICKLEN=16 BOT=B :are supported by this server",
        f"{S} 376 {session.nick} :End of message of the day.",
        now=now,
    )
    return out


def sasl_session(**kw: object) -> IrcSession:
    base: dict[str, object] = {"sasl": "PLAIN", "sasl_username": "acct", "sasl_password": "pw"}
    base.update(kw)
    session = IrcSession(config(**base))
    session.start(0.0)
    return session


def joined_session(**kw: object) -> IrcSession:
    session = IrcSession(config(channels=(ChannelJoin("#c", "key"),), **kw))
    register(session)
    feed(session, ":rbot!rb@h JOIN #c")
    return session
