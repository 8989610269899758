"""CAP negotiation through the session: LS 302 (multi-line), REQ of what is offered, ACK/NAK, END."""

from __future__ import annotations

from bot.irc.protocol import ChannelJoin, Registered
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, sent


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


def test_server_without_cap_and_no_sasl_registers_normally():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} 421 * CAP :Unknown command")
    out = feed(session, f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End")
    assert Registered("rbot") in out and "JOIN #c" in sent(out)
