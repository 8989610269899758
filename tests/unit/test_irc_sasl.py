"""SASL PLAIN/EXTERNAL: steps, chunks, failures (fatal or not), timeout, servers without SASL."""

from __future__ import annotations

import base64

import pytest

from bot.irc.protocol import AuthFailed, ChannelJoin, Close, LoggedIn
from bot.irc.sasl import Sasl, sasl_chunks, sasl_payload
from tests.ircsession import S, config, feed, sasl_session, sent


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
# Sasl on its own
# --------------------------------------------------------------------------------------------------


def test_payloads():
    assert sasl_payload(config(sasl="EXTERNAL")) == "+"
    plain = config(sasl="PLAIN", sasl_password="pw")  # no sasl_username: the nick
    assert base64.b64decode(sasl_payload(plain)) == b"\0rbot\0pw"


def test_refusal_reasons():
    sasl = Sasl(config(sasl="PLAIN"))
    assert sasl.refusal({"sasl": None}) is None  # CAP LS 301 style: no mechanism list
    assert sasl.refusal({"sasl": "plain,EXTERNAL"}) is None
    assert "does not offer SASL" in (sasl.refusal({"chghost": None}) or "")
    assert "offers SASL EXTERNAL, not PLAIN" in (sasl.refusal({"sasl": "EXTERNAL"}) or "")


def test_answers_outside_authentication_are_ignored():
    sasl = Sasl(config(sasl="PLAIN"))
    assert sasl.phase == "waiting-ls"
    assert sasl.on_numeric("saslfail", ["no"]) == [] and sasl.on_authenticate("+") == []
    assert sasl.timed_out(1e9) == []
    assert Sasl(config()).phase == "off"


def test_failure_not_required_does_not_close():
    sasl = Sasl(config(sasl="PLAIN", sasl_required=False))
    sasl.acked(0.0)
    (failed,) = sasl.on_numeric("saslaborted", ["aborted"])
    assert isinstance(failed, AuthFailed) and not failed.fatal and sasl.settled and not sasl.fatal
