"""INVITE, mode changes that let held lines go, bot tags, CTCP answers, short join retries (pure)."""

from __future__ import annotations

from bot.irc.ctcp import CtcpResponder, ctcp_queries
from bot.irc.echo import OwnLines
from bot.irc.protocol import (
    DEBUG,
    WARNING,
    ChannelJoin,
    CtcpQuery,
    Incoming,
    Log,
    OwnMessage,
    SendPossible,
    SendRefused,
)
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, joined_session, register, sent


def test_invite_to_a_configured_channel_joins_at_once():
    session = IrcSession(config(channels=(ChannelJoin("#c", "key"),)))
    register(session, now=0.0)
    feed(session, f"{S} 474 rbot #c :Cannot join channel (+b)", now=1.0)
    assert "JOIN #c key" in sent(feed(session, ":op!o@h INVITE rbot #c", now=1.2))
    assert feed(session, ":rbot!rb@h JOIN #c", now=1.3)[-1].channel == "#c"
    assert session.is_joined("#c")


def test_invite_elsewhere_or_for_someone_else_joins_nothing():
    session = joined_session()
    assert sent(feed(session, ":op!o@h INVITE rbot #elsewhere")) == []
    assert sent(feed(session, ":op!o@h INVITE alice #c")) == []
    assert sent(feed(session, ":op!o@h INVITE rbot #c")) == []  # already in


def test_a_refused_join_is_retried_within_seconds_and_logged_once():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    register(session, now=0.0)
    first = feed(session, f"{S} 474 rbot #c :Cannot join channel (+b)", now=1.0)
    assert isinstance(first[0], Log) and first[0].level == WARNING
    assert "JOIN #c" in sent(session.tick(2.0))  # 1 s later
    for now in (3.0, 6.0, 11.0, 16.0):
        out = feed(session, f"{S} 474 rbot #c :Cannot join channel (+b)", now=now)
        assert isinstance(out[0], Log) and out[0].level == DEBUG
        assert "JOIN #c" in sent(session.tick(now + 4.0))  # capped at 4 s: back within 5 s of -b


def test_mode_changes_that_let_us_speak_again():
    session = joined_session()
    assert feed(session, ":op!o@h MODE #c -m") == [SendPossible("#c", "-m")]
    assert feed(session, ":op!o@h MODE #c -b *!*@h") == [SendPossible("#c", "-b *!*@h")]
    assert feed(session, ":op!o@h MODE #c +v RBot") == [SendPossible("#c", "+v RBot")]
    assert feed(session, ":op!o@h MODE #c +kv-m key rbot") == [SendPossible("#c", "+v rbot, -m")]
    assert feed(session, ":op!o@h MODE #c +v alice") == []
    assert feed(session, ":op!o@h MODE #c +m") == []
    assert feed(session, ":op!o@h MODE #other -m") == []
    assert feed(session, ":rbot MODE rbot +B") == []


def test_a_message_from_a_bot_is_marked():
    session = joined_session()
    (msg,) = feed(session, "@bot :other!o@h PRIVMSG #c :!release")
    assert isinstance(msg, Incoming) and msg.from_bot
    (msg,) = feed(session, "@inspircd.org/bot :other!o@h PRIVMSG #c :!release")
    assert isinstance(msg, Incoming) and msg.from_bot
    (msg,) = feed(session, ":alice!a@h PRIVMSG #c :!release")
    assert isinstance(msg, Incoming) and not msg.from_bot


def test_ctcp_queries_are_parsed_and_action_is_not_one():
    assert ctcp_queries("\x01VERSION\x01") == [("VERSION", "")]
    assert ctcp_queries("\x01ping 123 456\x01") == [("PING", "123 456")]
    assert ctcp_queries("\x01ACTION waves\x01") == []
    assert ctcp_queries("plain text") == []
    session = joined_session()
    out = feed(session, ":alice!a@h PRIVMSG rbot :\x01TIME\x01")
    assert out == [CtcpQuery("alice", "alice!a@h", "TIME", "")]


def test_ctcp_answers_and_their_rate_limit():
    ctcp = CtcpResponder("release-bot 1.2", per_user=2, burst=3, interval=10.0)
    wall = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert ctcp.answer("alice", "VERSION", "", now=0.0, wall=wall) == (
        "NOTICE alice :\x01VERSION release-bot 1.2\x01"
    )
    assert (
        ctcp.answer("alice", "PING", "42\r\nQUIT", now=0.0, wall=wall) == "NOTICE alice :\x01PING 42QUIT\x01"
    )
    assert ctcp.answer("alice", "TIME", "", now=0.0, wall=wall) is None  # alice: 2 per 10 s
    assert ctcp.answer("bob", "TIME", "", now=0.0, wall=wall) == (
        "NOTICE bob :\x01TIME Tue Nov 14 22:13:20 2023 UTC\x01"
    )
    assert ctcp.answer("carol", "VERSION", "", now=0.0, wall=wall) is None  # 3 in all per 10 s
    assert ctcp.answer("dave", "FINGER", "", now=50.0, wall=wall) is None  # not answered
    assert ctcp.answer("dave", "CLIENTINFO", "", now=50.0, wall=wall) == (
        "NOTICE dave :\x01CLIENTINFO VERSION PING TIME CLIENTINFO\x01"
    )
    assert ctcp.answer("bad nick", "VERSION", "", now=60.0, wall=wall) is None


def test_echo_and_labeled_refusal_are_reported_with_their_label():
    session = joined_session()
    out = feed(session, "@label=rb-7;msgid=x :rbot!rb@h PRIVMSG #c :hello")
    assert out == [OwnMessage("#c", "hello", "rb-7")]
    out = feed(session, "@label=rb-8 :rbot!rb@h NOTICE #c :note")
    assert out == [OwnMessage("#c", "note", "rb-8")]
    out = feed(session, f"@label=rb-9 {S} 404 rbot #c :Cannot send to channel (+m)")
    assert out == [SendRefused("#c", "cannotsendtochan: Cannot send to channel (+m)", "rb-9")]
    assert feed(session, ":alice!a@h NOTICE #c :not ours") == []


def test_echo_caps_are_requested_when_offered():
    session = IrcSession(config())
    session.start(0.0)
    out = feed(session, f"{S} CAP * LS :echo-message labeled-response message-tags batch sasl")
    assert sent(out) == ["CAP REQ :message-tags batch echo-message labeled-response"]


def test_own_lines_found_in_replayed_history():
    lines = OwnLines()
    lines.add("#C", "[Flatcar] stable 1.2.3 released")
    assert lines.holds_all("#c", ["PRIVMSG #c :[Flatcar] stable 1.2.3 released"])
    assert not lines.holds_all("#c", ["PRIVMSG #c :[Flatcar] stable 1.2.4 released"])
    assert not lines.holds_all("#other", ["PRIVMSG #other :[Flatcar] stable 1.2.3 released"])
    assert not lines.holds_all("#c", [])
