"""The pure IRC session: registration, PING, ERROR, messages, the dispatch table, bad input."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from bot.irc import session as session_module
from bot.irc import traffic
from bot.irc.flood import Priority
from bot.irc.parse import Message
from bot.irc.protocol import (
    ChannelJoin,
    Close,
    CtcpQuery,
    Incoming,
    Joined,
    Log,
    OwnMessage,
    Pong,
    Registered,
    Send,
    SendRefused,
)
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, joined_session, register, sent


def test_registration_welcome_motd_bot_mode_and_join_with_keys():
    session = IrcSession(config(channels=(ChannelJoin("#pub"), ChannelJoin("#priv", "k3y"))))
    out = register(session)
    assert Registered("rbot") in out
    assert session.registered
    assert (session.user, session.host) == ("rb", "10.0.0.1")  # from the 001 text
    queued = [(a.line, a.priority) for a in out if isinstance(a, Send) and a.priority is not None]
    assert queued == [
        ("MODE rbot +B", Priority.CONTROL),
        ("JOIN #pub", Priority.CONTROL),
        ("JOIN #priv k3y", Priority.CONTROL),
    ]
    out = feed(session, ":rbot!~rb@cloak/rbot JOIN #PUB", ":rbot!~rb@cloak/rbot JOIN :#priv")
    assert out == [Joined("#pub"), Joined("#priv")]
    assert session.is_joined("#Pub") and session.joined == ["#pub", "#priv"]
    assert (session.user, session.host) == ("~rb", "cloak/rbot")  # our own JOIN echo


def test_bot_mode_from_004_when_no_isupport_bot():
    session = IrcSession(config())
    session.start(0.0)
    feed(
        session,
        f"{S} CAP * LS :multi-prefix",
        f"{S} 001 rbot :Welcome",
        f"{S} 004 rbot irc.test v1 BRiorsw bklov",
    )
    assert "MODE rbot +B" in sent(feed(session, f"{S} 422 rbot :MOTD File is missing"))


def test_no_bot_mode_when_not_offered_or_disabled():
    session = IrcSession(config())
    session.start(0.0)
    out = feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End")
    assert not any(line.startswith("MODE") for line in sent(out))
    session = IrcSession(config(bot_mode=False))
    assert not any(line.startswith("MODE") for line in sent(register(session)))


def test_who_on_ourselves_when_the_host_is_unknown_and_no_channels():
    session = IrcSession(config())
    session.start(0.0)
    out = feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot :Welcome to IRC", f"{S} 376 rbot :End")
    assert "WHO rbot" in sent(out)
    feed(session, f"{S} 352 rbot * ~rbot gateway/web/x irc.test rbot H :0 release bot")
    assert (session.user, session.host) == ("~rbot", "gateway/web/x")


def test_host_learned_from_396_and_chghost():
    session = IrcSession(config())
    register(session)
    feed(session, f"{S} 396 rbot user/rbot/bot :is now your displayed host")
    assert session.host == "user/rbot/bot"
    feed(session, f"{S} 396 rbot ident@vhost.example :is now your displayed host")
    assert (session.user, session.host) == ("ident", "vhost.example")
    feed(session, ":rbot!ident@vhost.example CHGHOST newident new.host")
    assert (session.user, session.host) == ("newident", "new.host")
    feed(session, ":other!o@h CHGHOST x y")
    assert (session.user, session.host) == ("newident", "new.host")


def test_nickserv_identify_without_confirmation_joins_after_a_while():
    session = IrcSession(config(nickserv_password="pw", channels=(ChannelJoin("#c"),)))
    out = register(session, now=0.0)
    assert "PRIVMSG NickServ :IDENTIFY rbot pw" in sent(out)
    assert "JOIN #c" not in sent(out)
    out = session.tick(11.0)
    assert any(isinstance(a, Log) and "NickServ" in a.message for a in out)
    assert "JOIN #c" in sent(out)


def test_ping_pong():
    session = IrcSession(config())
    register(session)
    assert sent(feed(session, "PING :irc.test")) == ["PONG irc.test"]
    assert sent(feed(session, "PING :two words")) == ["PONG :two words"]
    assert feed(session, f"{S} PONG irc.test :rb-7") == [Pong("rb-7")]


def test_registration_timeout():
    session = IrcSession(config(register_timeout=60.0))
    session.start(0.0)
    feed(session, f"{S} NOTICE * :*** Looking up your hostname", now=30.0)
    out = session.tick(61.0)
    assert isinstance(out[0], Close) and "registration did not complete" in out[0].reason


def test_error_from_server_closes():
    session = IrcSession(config())
    register(session)
    (close,) = feed(session, "ERROR :Closing link: (rb@h) [Killed (oper (flooding))]")
    assert isinstance(close, Close) and "Killed (oper (flooding))" in close.reason


def test_next_deadline():
    session = IrcSession(config(ping_interval=90.0))
    register(session, now=10.0)
    assert session.next_deadline() == 20.0  # the join fallback timer; nothing else sooner


def test_cannot_send_is_reported():
    session = joined_session()
    (refused,) = feed(session, f"{S} 404 rbot #c :Cannot send to channel (+m)")
    assert refused == SendRefused("#c", "cannotsendtochan: Cannot send to channel (+m)")


def test_channel_and_private_messages():
    session = joined_session()
    (msg,) = feed(session, ":alice!a@host PRIVMSG #c :!release stable")
    assert msg == Incoming("alice!a@host", "alice", "#c", "!release stable", private=False, account=None)
    (msg,) = feed(session, ":bob!b@host PRIVMSG rbot :release")
    assert msg.private and msg.target == "rbot"
    assert feed(session, ":alice!a@host NOTICE #c :!release") == []  # never answer a NOTICE
    # CTCP is not a message: a query for the client to answer (rate-limited there)
    ctcp = feed(session, ":alice!a@host PRIVMSG #c :\x01VERSION\x01")
    assert ctcp == [CtcpQuery("alice", "alice!a@host", "VERSION", "")]
    (msg,) = feed(session, ":alice!a@h PRIVMSG #c :hi\x01ACTION waves\x01")  # only the text around CTCP
    assert msg.text == "hi"
    # ourselves (an echo or replayed history): never a command, only what we said
    assert feed(session, ":rbot!rb@h PRIVMSG #c :!release") == [OwnMessage("#c", "!release", None)]


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        ":only.a.prefix",
        "PRIVMSG",
        ":x!y@z PRIVMSG #c",
        ":x!y@z QUIT",
        "@a=b;c :x 001",
        ":irc.test 005 rbot BOT= NICKLEN=abc =x -NOPE :are supported",
        ":irc.test CAP",
        ":irc.test CAP * ACK",
        "AUTHENTICATE",
        ":x!y@z KICK",
        ":x!y@z JOIN",
        ":irc.test 474",
        ":irc.test 396 rbot",
        ":irc.test 352 rbot",
        "\x00\x01\x02 garbage \xff",
        "Olé en latin-1 décodé",
        ":x!y@z PRIVMSG #c :" + "\u00e9" * 400,
    ],
)
def test_malformed_lines_never_raise(line: str):
    session = joined_session()
    out = session.receive(line, 5.0)
    assert all(not isinstance(a, Close) for a in out)
    assert session.is_joined("#c")
    # and the session still works afterwards
    assert sent(session.receive("PING :still-here", 6.0)) == ["PONG still-here"]


def test_ping_with_a_token_we_cannot_echo_still_gets_a_pong():
    session = joined_session()
    assert sent(session.receive("PING :a\x00b\rc", 5.0)) == ["PONG abc"]
    assert sent(session.receive("PING :\x00", 5.0)) == ["PONG ping"]


def test_an_error_in_a_handler_is_logged_and_the_session_goes_on(monkeypatch: pytest.MonkeyPatch):
    session = joined_session()
    original = session_module.DISPATCH["PRIVMSG"]

    def flaky(self: IrcSession, msg: Message, now: float) -> list[Any]:
        if msg.param(1) == "boom":
            raise RuntimeError("a bug in a handler")
        return original(self, msg, now)

    monkeypatch.setitem(session_module.DISPATCH, "PRIVMSG", flaky)
    (error,) = session.receive(":alice!a@h PRIVMSG #c :boom", 5.0)
    assert isinstance(error, Log) and error.level == logging.ERROR and isinstance(error.error, RuntimeError)
    assert "'PRIVMSG'" in error.message and "a bug in a handler" in error.message and "boom" in error.message
    (msg,) = session.receive(":alice!a@h PRIVMSG #c :!release", 5.0)
    assert isinstance(msg, Incoming) and msg.text == "!release"
    assert session.is_joined("#c") and not session.is_closed
    assert sent(session.receive("PING :still-here", 6.0)) == ["PONG still-here"]


def test_one_dispatch_table_names_every_handler():
    """Every handler (a session method, or a function of bot.irc.traffic) is reachable from DISPATCH,
    and nothing else dispatches."""
    handlers = {name for name in vars(IrcSession) if name.startswith("_on_")}
    handlers |= {name for name in vars(traffic) if name.startswith("on_")}
    assert {h.__name__ for h in session_module.DISPATCH.values()} == handlers
    assert all(key == key.upper() for key in session_module.DISPATCH)


def test_random_lines_never_raise_out_of_the_session():
    """A seeded fuzz over the commands the session handles, with hostile parameters."""
    rng = random.Random(3)
    commands = [
        "PING", "PONG", "ERROR", "CAP", "AUTHENTICATE", "001", "004", "005", "376", "422", "421", "464",
        "JOIN", "PART", "KICK", "NICK", "QUIT", "731", "ACCOUNT", "CHGHOST", "396", "352", "404", "401",
        "442", "PRIVMSG", "NOTICE", "433", "432", "437", "471", "474", "475", "477", "900", "901", "902",
        "903", "904", "905", "906", "907", "908", "MODE", "INVITE",
    ]  # fmt: skip
    atoms = ["", ":", "*", "#c", "rbot", "rbot!rb@h", "a b", ":a b", "\x00", "\x01", "\x01VERSION\x01",
             "\r", "LS", "ACK", "NAK", "+", "sasl", "x=y", "=", "-", "\xff", "é", "!", "@", " "]  # fmt: skip
    prefixes = ["", ":irc.test ", ":x!y@z ", ":rbot!rb@h ", ":!@ ", "@a=b;account=x :x!y@z ", "@; "]
    for _ in range(3000):
        session = IrcSession(
            config(
                channels=(ChannelJoin("#c", "k"),),
                sasl=rng.choice([None, "PLAIN"]),
                sasl_password="pw",
                sasl_required=rng.random() < 0.5,
                nickserv_password=rng.choice([None, "ns"]),
            )
        )
        session.start(0.0)
        if rng.random() < 0.5:
            feed(
                session, f"{S} CAP * LS :sasl account-tag", f"{S} 001 rbot :Hi rbot!rb@h", f"{S} 376 rbot :x"
            )
            feed(session, ":rbot!rb@h JOIN #c")
        args = " ".join(rng.choice(atoms) for _ in range(rng.randint(0, 5)))
        line = f"{rng.choice(prefixes)}{rng.choice(commands)} {args}"
        out = session.receive(line, 1.0) + session.tick(100.0)
        assert not [a for a in out if isinstance(a, Log) and a.error is not None], line
