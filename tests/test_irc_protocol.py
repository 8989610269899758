"""The pure IRC session: lines and clock ticks in, actions out (no sockets)."""

from __future__ import annotations

import base64
import logging
import random

import pytest

from bot.irc import protocol
from bot.irc.flood import Priority
from bot.irc.protocol import (
    AuthFailed,
    ChannelJoin,
    Close,
    Incoming,
    IrcSession,
    Joined,
    Left,
    Log,
    LoggedIn,
    Pong,
    Registered,
    Send,
    SendRefused,
    SessionConfig,
    format_line,
    irc_lower,
    sasl_chunks,
)

S = ":irc.test"


def config(**kw: object) -> SessionConfig:
    base: dict[str, object] = {"nick": "rbot", "username": "rb", "realname": "release bot"}
    base.update(kw)
    return SessionConfig(**base)  # type: ignore[arg-type]


def sent(actions: list) -> list[str]:
    return [a.line for a in actions if isinstance(a, Send)]


def feed(session: IrcSession, *lines: str, now: float = 0.0) -> list:
    out: list = []
    for line in lines:
        out.extend(session.receive(line, now))
    return out


def register(session: IrcSession, now: float = 0.0) -> list:
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


# --------------------------------------------------------------------------------------------------
# Lines out
# --------------------------------------------------------------------------------------------------


def test_format_line_trailing_parameter():
    assert format_line("PRIVMSG", "#c", "hello world") == "PRIVMSG #c :hello world"
    assert format_line("PRIVMSG", "#c", ":)") == "PRIVMSG #c ::)"
    assert format_line("PRIVMSG", "#c", "") == "PRIVMSG #c :"
    assert format_line("NICK", "rbot") == "NICK rbot"


@pytest.mark.parametrize("evil", ["a\rb", "a\nQUIT", "a\0b", "x\r\nPRIVMSG #other :spam"])
def test_format_line_refuses_cr_lf_nul_anywhere(evil: str):
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        format_line("PRIVMSG", "#c", evil)
    with pytest.raises(ValueError):
        format_line("PRIVMSG", evil, "text")


def test_format_line_refuses_spaces_in_middle_params_and_long_lines():
    with pytest.raises(ValueError, match="only the last"):
        format_line("PRIVMSG", "#a b", "x")
    with pytest.raises(ValueError, match="512"):
        format_line("PRIVMSG", "#c", "x" * 600)


def test_message_lines_are_sanitised_and_split():
    session = IrcSession(config())
    register(session)
    lines = session.message_lines("#c", "one\r\nQUIT :bye\x00\x01ACTION hi\x01 " + "word " * 200)
    assert len(lines) > 1
    for line in lines:
        assert line.startswith("PRIVMSG #c :")
        for ch in "\r\n\0\x01":
            assert ch not in line
    assert lines[0].startswith("PRIVMSG #c :one QUIT :byeACTION hi word")
    assert session.message_lines("#c", "x", notice=True) == ["NOTICE #c :x"]


def test_irc_lower_casemappings():
    assert irc_lower("Foo[]\\~") == "foo{}|^"
    assert irc_lower("Foo[]\\~", "rfc1459-strict") == "foo{}|~"
    assert irc_lower("Foo[]", "ascii") == "foo[]"


# --------------------------------------------------------------------------------------------------
# Registration and CAP
# --------------------------------------------------------------------------------------------------


def test_start_sends_cap_ls_302_then_pass_nick_user():
    session = IrcSession(config(server_password="s3cret pass"))
    assert sent(session.start(0.0)) == [
        "CAP LS 302",
        "PASS :s3cret pass",
        "NICK rbot",
        "USER rb 0 * :release bot",
    ]


def test_multiline_cap_ls_then_req_of_what_is_offered_then_end():
    session = IrcSession(config())
    session.start(0.0)
    assert feed(session, f"{S} CAP * LS * :multi-prefix account-tag away-notify") == []
    out = feed(session, f"{S} CAP * LS :extended-join sasl=PLAIN,EXTERNAL server-time")
    assert sent(out) == ["CAP REQ :account-tag extended-join"]
    out = feed(session, f"{S} CAP * ACK :account-tag extended-join")
    assert sent(out) == ["CAP END"]
    assert session.caps == {"account-tag", "extended-join"}


def test_no_caps_wanted_ends_at_once():
    session = IrcSession(config())
    session.start(0.0)
    assert sent(feed(session, f"{S} CAP * LS :multi-prefix")) == ["CAP END"]


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


def test_join_waits_for_motd_or_fallback_timer():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} CAP * LS :x")
    out = feed(session, f"{S} 001 rbot :Welcome", now=1.0)
    assert "JOIN #c" not in sent(out)
    assert "JOIN #c" not in sent(session.tick(5.0))
    assert "JOIN #c" in sent(session.tick(11.5))  # no end of MOTD within 10 s: join anyway


def test_server_without_cap_and_no_sasl_registers_normally():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} 421 * CAP :Unknown command")
    out = feed(session, f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End")
    assert Registered("rbot") in out and "JOIN #c" in sent(out)


# --------------------------------------------------------------------------------------------------
# SASL
# --------------------------------------------------------------------------------------------------


def sasl_session(**kw: object) -> IrcSession:
    base: dict[str, object] = {"sasl": "PLAIN", "sasl_username": "acct", "sasl_password": "pw"}
    base.update(kw)
    session = IrcSession(config(**base))
    session.start(0.0)
    return session


def test_sasl_plain_steps():
    session = sasl_session()
    out = feed(session, f"{S} CAP * LS :account-tag sasl=PLAIN,EXTERNAL")
    assert sent(out) == ["CAP REQ :sasl", "CAP REQ :account-tag"]
    out = feed(session, f"{S} CAP rbot ACK :account-tag")
    assert sent(out) == []  # SASL still to do: no CAP END yet
    out = feed(session, f"{S} CAP rbot ACK :sasl", now=1.0)
    assert sent(out) == ["AUTHENTICATE PLAIN"]
    out = feed(session, "AUTHENTICATE +")
    payload = base64.b64encode(b"\0acct\0pw").decode()
    assert sent(out) == [f"AUTHENTICATE {payload}"]
    out = feed(session, f"{S} 900 rbot rbot!rb@host acct :You are now logged in as acct")
    assert out == [LoggedIn("acct")] and session.account == "acct"
    out = feed(session, f"{S} 903 rbot :SASL authentication successful")
    assert sent(out) == ["CAP END"]
    assert session.closed is None


def test_sasl_external_sends_empty_payload():
    session = sasl_session(sasl="EXTERNAL", sasl_password=None)
    feed(session, f"{S} CAP * LS :sasl")
    assert sent(feed(session, f"{S} CAP rbot ACK :sasl")) == ["AUTHENTICATE EXTERNAL"]
    assert sent(feed(session, "AUTHENTICATE +")) == ["AUTHENTICATE +"]
    assert sent(feed(session, f"{S} 903 rbot :SASL authentication successful")) == ["CAP END"]


def test_sasl_payload_in_400_byte_chunks():
    assert sasl_chunks("A" * 10) == ["A" * 10]
    assert sasl_chunks("A" * 400) == ["A" * 400, "+"]
    assert sasl_chunks("A" * 401) == ["A" * 400, "A"]
    assert sasl_chunks("A" * 800) == ["A" * 400, "A" * 400, "+"]
    session = sasl_session(sasl_password="p" * 600)
    feed(session, f"{S} CAP * LS :sasl", f"{S} CAP rbot ACK :sasl")
    lines = sent(feed(session, "AUTHENTICATE +"))
    assert len(lines) == 3 and all(len(line) <= len("AUTHENTICATE ") + 400 for line in lines)
    joined = "".join(line.split(" ", 1)[1] for line in lines if line != "AUTHENTICATE +")
    assert base64.b64decode(joined) == b"\0acct\0" + b"p" * 600


def test_sasl_wrong_password_is_fatal_when_required():
    session = sasl_session()
    feed(session, f"{S} CAP * LS :sasl", f"{S} CAP rbot ACK :sasl", "AUTHENTICATE +")
    out = feed(session, f"{S} 904 rbot :SASL authentication failed")
    failures = [a for a in out if isinstance(a, AuthFailed)]
    assert len(failures) == 1 and failures[0].fatal
    assert "SASL PLAIN as 'acct' failed: saslfail — SASL authentication failed" in failures[0].reason
    assert "not continuing unauthenticated" in failures[0].reason
    assert any(isinstance(a, Close) for a in out)
    assert sent(out)[0].startswith("QUIT")
    assert "CAP END" not in sent(out)
    assert session.receive(f"{S} 001 rbot :Welcome", 1.0) == []  # closed: nothing more happens


def test_sasl_failure_not_required_continues_unauthenticated_with_nickserv():
    session = sasl_session(sasl_required=False, nickserv_password="nspw", channels=(ChannelJoin("#c"),))
    feed(session, f"{S} CAP * LS :sasl", f"{S} CAP rbot ACK :sasl", "AUTHENTICATE +")
    out = feed(session, f"{S} 908 rbot EXTERNAL :are available SASL mechanisms")
    out += feed(session, f"{S} 904 rbot :SASL authentication failed")
    (failure,) = [a for a in out if isinstance(a, AuthFailed)]
    assert not failure.fatal and "(the server offers EXTERNAL)" in failure.reason
    assert sent(out) == ["CAP END"]
    out = feed(session, f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End", now=2.0)
    assert "PRIVMSG NickServ :IDENTIFY acct nspw" in sent(out)
    assert "JOIN #c" not in sent(out)  # joins wait for NickServ …
    out = feed(session, f"{S} 900 rbot rbot!rb@h acct :You are now logged in as acct", now=3.0)
    assert "JOIN #c" in sent(session.tick(3.5))  # … and go once it confirms


def test_nickserv_identify_without_confirmation_joins_after_a_while():
    session = IrcSession(config(nickserv_password="pw", channels=(ChannelJoin("#c"),)))
    out = register(session, now=0.0)
    assert "PRIVMSG NickServ :IDENTIFY rbot pw" in sent(out)
    assert "JOIN #c" not in sent(out)
    out = session.tick(11.0)
    assert any(isinstance(a, Log) and "NickServ" in a.message for a in out)
    assert "JOIN #c" in sent(out)


def test_sasl_timeout():
    session = sasl_session(sasl_timeout=15.0)
    feed(session, f"{S} CAP * LS :sasl", f"{S} CAP rbot ACK :sasl", now=1.0)
    assert session.tick(10.0) == []
    out = session.tick(16.5)
    assert sent(out)[0] == "AUTHENTICATE *"
    (failure,) = [a for a in out if isinstance(a, AuthFailed)]
    assert "no answer to SASL PLAIN within 15 s" in failure.reason and failure.fatal


def test_sasl_timeout_not_required_ends_cap():
    session = sasl_session(sasl_required=False)
    feed(session, f"{S} CAP * LS :sasl", f"{S} CAP rbot ACK :sasl", now=1.0)
    assert sent(session.tick(17.0)) == ["AUTHENTICATE *", "CAP END"]


@pytest.mark.parametrize(
    ("ls", "reason"),
    [
        (":multi-prefix", "does not offer SASL"),
        (":sasl=EXTERNAL", "offers SASL EXTERNAL, not PLAIN"),
    ],
)
def test_sasl_not_offered(ls: str, reason: str):
    session = sasl_session()
    out = feed(session, f"{S} CAP * LS {ls}")
    (failure,) = [a for a in out if isinstance(a, AuthFailed)]
    assert reason in failure.reason
    assert any(isinstance(a, Close) for a in out)


def test_sasl_cap_nak():
    session = sasl_session(sasl_required=False)
    feed(session, f"{S} CAP * LS :sasl account-tag")
    out = feed(session, f"{S} CAP rbot NAK :sasl")
    assert [a.fatal for a in out if isinstance(a, AuthFailed)] == [False]
    assert "CAP END" not in sent(out)  # the account-tag REQ is still unanswered
    assert sent(feed(session, f"{S} CAP rbot ACK :account-tag")) == ["CAP END"]


def test_server_without_cap_while_sasl_required():
    session = sasl_session()
    feed(session, f"{S} 421 * CAP :Unknown command")
    out = feed(session, f"{S} 001 rbot :Welcome")
    (failure,) = [a for a in out if isinstance(a, AuthFailed)]
    assert "without SASL" in failure.reason and failure.fatal
    assert any(isinstance(a, Close) for a in out)


# --------------------------------------------------------------------------------------------------
# Nicks
# --------------------------------------------------------------------------------------------------


def test_nick_in_use_tries_alternatives_then_numbers():
    session = IrcSession(config(alt_nicks=("rbot_", "rbot2")))
    session.start(0.0)
    assert sent(feed(session, f"{S} 433 * rbot :Nickname is already in use")) == ["NICK rbot_"]
    assert sent(feed(session, f"{S} 433 * rbot_ :Nickname is already in use")) == ["NICK rbot2"]
    assert sent(feed(session, f"{S} 432 * rbot2 :Erroneous Nickname")) == ["NICK rbot_1"]
    assert sent(feed(session, f"{S} 437 * rbot_1 :Nick/channel is temporarily unavailable")) == [
        "NICK rbot_2"
    ]
    assert session.nick == "rbot_2"
    feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot_2 :Welcome")
    assert session.nick == "rbot_2"


def test_nick_regained_periodically_and_when_the_holder_leaves():
    session = IrcSession(config(regain_interval=60.0))
    session.start(0.0)
    feed(session, f"{S} 433 * rbot :Nickname is already in use")
    feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot_1 :Welcome", f"{S} 376 rbot_1 :End", now=1.0)
    assert "NICK rbot" not in sent(session.tick(30.0))
    assert "NICK rbot" in sent(session.tick(61.5))
    assert sent(feed(session, f"{S} 433 rbot_1 rbot :Nickname is already in use")) == []  # still taken
    assert sent(feed(session, ":rbot!x@y QUIT :bye")) == ["NICK rbot"]
    out = feed(session, ":rbot_1!rb@h NICK :rbot")
    assert session.nick == "rbot"
    assert any(isinstance(a, Log) and "regained" in a.message for a in out)
    assert "NICK rbot" not in sent(session.tick(200.0))


def test_nick_regain_with_monitor():
    session = IrcSession(config())
    session.start(0.0)
    feed(session, f"{S} 433 * rbot :in use", f"{S} CAP * LS :x", f"{S} 001 rbot_1 :Welcome")
    feed(session, f"{S} 005 rbot_1 MONITOR=100 :are supported")
    assert "MONITOR + rbot" in sent(feed(session, f"{S} 376 rbot_1 :End"))
    assert sent(feed(session, f"{S} 731 rbot_1 :rbot")) == ["NICK rbot"]
    out = feed(session, ":rbot_1!rb@h NICK rbot")
    assert "MONITOR - rbot" in sent(out)


# --------------------------------------------------------------------------------------------------
# PING, keepalive, timeouts
# --------------------------------------------------------------------------------------------------


def test_ping_pong():
    session = IrcSession(config())
    register(session)
    assert sent(feed(session, "PING :irc.test")) == ["PONG irc.test"]
    assert sent(feed(session, "PING :two words")) == ["PONG :two words"]
    assert feed(session, f"{S} PONG irc.test :rb-7") == [Pong("rb-7")]


def test_keepalive_ping_and_ping_timeout():
    session = IrcSession(config(ping_interval=90.0, ping_timeout=60.0))
    register(session, now=0.0)
    assert session.tick(80.0) == []
    out = session.tick(91.0)
    assert sent(out) == ["PING keepalive-1"]
    assert session.tick(120.0) == []
    feed(session, f"{S} PONG irc.test :keepalive-1", now=130.0)  # any line means alive
    assert session.tick(200.0) == []
    assert sent(session.tick(221.0)) == ["PING keepalive-2"]
    out = session.tick(282.0)
    assert len(out) == 1 and isinstance(out[0], Close) and "ping timeout" in out[0].reason
    assert session.tick(400.0) == []


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


# --------------------------------------------------------------------------------------------------
# Channels: KICK, rejoin, join errors
# --------------------------------------------------------------------------------------------------


def joined_session(**kw: object) -> IrcSession:
    session = IrcSession(config(channels=(ChannelJoin("#c", "key"),), **kw))
    register(session)
    feed(session, ":rbot!rb@h JOIN #c")
    return session


def test_kick_then_rejoin_after_delay():
    session = joined_session(rejoin_delay=10.0)
    out = feed(session, ":op!o@h KICK #c rbot :behave", now=100.0)
    assert out == [Left("#c", "kicked by op (behave); rejoining in 10 s")]
    assert not session.is_joined("#c")
    assert "JOIN #c key" not in sent(session.tick(105.0))
    assert "JOIN #c key" in sent(session.tick(110.5))
    assert "JOIN #c key" not in sent(session.tick(111.5))  # waiting for the answer
    assert feed(session, ":rbot!rb@h JOIN #c") == [Joined("#c")]


def test_kick_without_rejoin():
    session = joined_session(rejoin_on_kick=False)
    (left,) = feed(session, ":op!o@h KICK #c rbot", now=1.0)
    assert isinstance(left, Left) and "not rejoining" in left.reason
    assert "JOIN" not in " ".join(sent(session.tick(10_000.0)))


def test_other_people_kicked_or_parting_do_not_matter():
    session = joined_session()
    assert feed(session, ":op!o@h KICK #c someone :bye", ":x!y@z PART #c") == []
    assert session.is_joined("#c")


def test_join_refused_retries_with_backoff():
    session = IrcSession(config(channels=(ChannelJoin("#c"),), join_retry=60.0))
    register(session, now=0.0)
    out = feed(session, f"{S} 474 rbot #c :Cannot join channel (+b)", now=1.0)
    assert isinstance(out[0], Log) and "retrying in 60 s" in out[0].message
    assert "JOIN #c" not in sent(session.tick(30.0))
    assert "JOIN #c" in sent(session.tick(61.5))
    out = feed(session, f"{S} 475 rbot #c :Cannot join channel (+k)", now=62.0)
    assert "retrying in 120 s" in out[0].message


def test_joining_an_unconfigured_channel_parts_it():
    session = joined_session()
    out = feed(session, ":rbot!rb@h JOIN #elsewhere")
    assert "PART #elsewhere" in sent(out)


# --------------------------------------------------------------------------------------------------
# Messages and accounts
# --------------------------------------------------------------------------------------------------


def test_channel_and_private_messages():
    session = joined_session()
    (msg,) = feed(session, ":alice!a@host PRIVMSG #c :!release stable")
    assert msg == Incoming("alice!a@host", "alice", "#c", "!release stable", private=False, account=None)
    (msg,) = feed(session, ":bob!b@host PRIVMSG rbot :release")
    assert msg.private and msg.target == "rbot"
    assert feed(session, ":alice!a@host NOTICE #c :!release") == []  # never answer a NOTICE
    assert feed(session, ":alice!a@host PRIVMSG #c :\x01VERSION\x01") == []  # CTCP ignored
    assert feed(session, ":rbot!rb@h PRIVMSG #c :!release") == []  # ourselves


def test_accounts_from_tag_extended_join_and_account_notify():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} CAP * LS :account-tag extended-join account-notify")
    feed(session, f"{S} CAP rbot ACK :account-tag extended-join account-notify")
    feed(session, f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End", ":rbot!rb@h JOIN #c * :bot")
    (msg,) = feed(session, "@account=alice;time=x :alice!a@h PRIVMSG #c :!status")
    assert msg.account == "alice"
    feed(session, ":carol!c@h JOIN #c carol_acct :Carol")
    (msg,) = feed(session, ":carol!c@h PRIVMSG #c :!status")
    assert msg.account == "carol_acct"
    feed(session, ":carol!c@h NICK carol2")
    (msg,) = feed(session, ":carol2!c@h PRIVMSG #c :!status")
    assert msg.account == "carol_acct"
    feed(session, ":carol2!c@h ACCOUNT *")
    (msg,) = feed(session, ":carol2!c@h PRIVMSG #c :!status")
    assert msg.account is None
    feed(session, ":dave!d@h JOIN #c * :Dave")
    (msg,) = feed(session, ":dave!d@h PRIVMSG #c :!status")
    assert msg.account is None


def test_cannot_send_is_reported():
    session = joined_session()
    (refused,) = feed(session, f"{S} 404 rbot #c :Cannot send to channel (+m)")
    assert refused == SendRefused("#c", "cannotsendtochan: Cannot send to channel (+m)")


# --------------------------------------------------------------------------------------------------
# Bad input never raises
# --------------------------------------------------------------------------------------------------


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


def test_an_error_in_one_handler_is_logged_and_the_rest_of_the_line_goes_on(
    monkeypatch: pytest.MonkeyPatch,
):
    session = joined_session()
    original = protocol._HANDLERS["pubmsg"]

    def flaky(self: IrcSession, event: object, now: float) -> list:
        if getattr(event, "arguments", [""])[0] == "boom":
            raise RuntimeError("a bug in a handler")
        return original(self, event, now)

    def ctcp(self: IrcSession, event: object, now: float) -> list:
        return [Log(logging.INFO, "ctcp seen")]

    monkeypatch.setitem(protocol._HANDLERS, "pubmsg", flaky)  # type: ignore[index]
    monkeypatch.setitem(protocol._HANDLERS, "ctcp", ctcp)  # type: ignore[index]
    # one line, several events (the text, then the CTCP ACTION): the first one's handler fails
    out = session.receive(":alice!a@h PRIVMSG #c :boom\x01ACTION waves\x01", 5.0)
    error, seen = out
    assert isinstance(error, Log) and error.level == logging.ERROR and isinstance(error.error, RuntimeError)
    assert "'pubmsg'" in error.message and "a bug in a handler" in error.message
    assert seen == Log(logging.INFO, "ctcp seen")  # the next event of the same line was handled
    (msg,) = session.receive(":alice!a@h PRIVMSG #c :!release", 5.0)
    assert isinstance(msg, Incoming) and msg.text == "!release"
    assert session.is_joined("#c") and not session.is_closed
    assert sent(session.receive("PING :still-here", 6.0)) == ["PONG still-here"]


def test_random_lines_never_raise_out_of_the_session():
    """A seeded fuzz over the commands the session handles, with hostile parameters."""
    rng = random.Random(3)
    commands = [
        "PING", "PONG", "ERROR", "CAP", "AUTHENTICATE", "001", "004", "005", "376", "422", "421", "464",
        "JOIN", "PART", "KICK", "NICK", "QUIT", "731", "ACCOUNT", "CHGHOST", "396", "352", "404", "401",
        "442", "PRIVMSG", "NOTICE", "433", "432", "437", "471", "474", "475", "477", "900", "901", "902",
        "903", "904", "905", "906", "907", "908", "MODE",
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
