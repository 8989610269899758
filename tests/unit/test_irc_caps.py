"""CAP negotiation through the session: LS 302 (multi-line), REQ of what is offered, ACK/NAK, END."""

from __future__ import annotations

from bot.irc.caps import CapNegotiation
from bot.irc.protocol import ChannelJoin, Registered, Send
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


# --------------------------------------------------------------------------------------------------
# CapNegotiation on its own
# --------------------------------------------------------------------------------------------------


def test_negotiation_requests_sasl_alone_then_the_rest_and_ends_after_sasl():
    neg = CapNegotiation(config(sasl="EXTERNAL"))
    out = neg.on_cap(["LS", "sasl=EXTERNAL chghost away-notify"], 0.0)
    assert out == [Send("CAP REQ :sasl"), Send("CAP REQ :chghost")] and neg.pending == 2
    assert neg.on_cap(["ACK", "chghost"], 0.0) == []
    assert neg.on_cap(["ACK", "sasl"], 1.0) == [Send("AUTHENTICATE EXTERNAL")]
    assert neg.deadline() == 16.0
    assert neg.on_sasl_numeric("saslsuccess", ["SASL authentication successful"]) == [Send("CAP END")]
    assert neg.done and neg.enabled == {"chghost", "sasl"} and neg.deadline() is None


def test_negotiation_ticks_send_nothing_before_the_server_answers():
    neg = CapNegotiation(config(sasl="PLAIN", sasl_password="pw"))
    assert neg.tick(1000.0) == []  # no LS yet: no CAP END, no timeout
    assert not neg.done


def test_negotiation_cap_del_by_ack_minus_and_unknown_subcommands():
    neg = CapNegotiation(config())
    neg.on_cap(["LS", "account-tag"], 0.0)
    neg.on_cap(["ACK", "account-tag"], 0.0)
    assert neg.on_cap(["ACK", "-account-tag"], 0.0) == [] and neg.enabled == set()
    assert neg.on_cap(["NEW", "sasl"], 0.0) == [] and neg.on_cap([], 0.0) == []


def test_negotiation_a_server_without_cap():
    neg = CapNegotiation(config())
    neg.on_unknown_cap()
    assert neg.done and neg.on_welcome() == []
    assert neg.on_cap(["LS", "account-tag"], 0.0) == []  # too late: registered without CAP
