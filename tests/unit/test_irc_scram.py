"""SCRAM-SHA-256 against the test vectors of RFC 7677 (section 3) and RFC 5802 for SHA-1 (section 5)."""

from __future__ import annotations

import base64

import pytest

from bot.irc.protocol import AuthFailed, Close
from bot.irc.scram import ScramClient, ScramError
from bot.irc.session import IrcSession
from tests.ircsession import S, feed, sasl_session, sent

RFC7677_SERVER_FIRST = (
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)


def test_rfc7677_vector():
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert client.first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.final(RFC7677_SERVER_FIRST) == (
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    client.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_rfc5802_vector_with_sha1():
    client = ScramClient("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL", digest="sha1")
    assert client.first() == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = client.final("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final == "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    client.verify("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")


def test_a_wrong_server_signature_fails():
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    client.first()
    client.final(RFC7677_SERVER_FIRST)
    with pytest.raises(ScramError, match="does not know the password"):
        client.verify("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


@pytest.mark.parametrize(
    ("server_first", "why"),
    [
        ("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        ("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        ("r=abcX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999", "unacceptable"),
        ("r=abcX,s=!!,i=4096", "malformed salt"),
        ("e=unknown-user", "refused: unknown-user"),
        ("garbage", "malformed SCRAM attribute"),
    ],
)
def test_hostile_or_broken_server_first(server_first: str, why: str):
    client = ScramClient("user", "pencil", nonce="abc")
    client.first()
    with pytest.raises(ScramError, match=why):
        client.final(server_first)


def test_names_are_escaped_and_nonces_fresh():
    assert ScramClient("a=b,c", "p", nonce="n").first() == "n,,n=a=3Db=2Cc,r=n"
    assert ScramClient("u", "p").nonce != ScramClient("u", "p").nonce


# --------------------------------------------------------------------------------------------------
# In the session: AUTHENTICATE steps
# --------------------------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _scram_session(**kw: object) -> IrcSession:
    session = sasl_session(sasl="SCRAM-SHA-256", sasl_username="user", sasl_password="pencil", **kw)
    feed(session, f"{S} CAP * LS :sasl=PLAIN,SCRAM-SHA-256")
    assert sent(feed(session, f"{S} CAP rbot ACK :sasl")) == ["AUTHENTICATE SCRAM-SHA-256"]
    session.negotiation.sasl.scram = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert sent(feed(session, "AUTHENTICATE +")) == [
        "AUTHENTICATE " + _b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    ]
    out = feed(session, "AUTHENTICATE " + _b64(RFC7677_SERVER_FIRST))
    assert sent(out) == [
        "AUTHENTICATE "
        + _b64(
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
    ]
    return session


def test_scram_in_the_session():
    session = _scram_session()
    out = feed(session, "AUTHENTICATE " + _b64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
    assert sent(out) == ["AUTHENTICATE +"]
    assert sent(feed(session, f"{S} 903 rbot :SASL authentication successful")) == ["CAP END"]
    assert session.closed is None


def test_scram_with_a_server_that_does_not_know_the_password_is_fatal():
    session = _scram_session()
    out = feed(session, "AUTHENTICATE " + _b64("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    assert sent(out)[0] == "AUTHENTICATE *"
    failed = [a for a in out if isinstance(a, AuthFailed)]
    assert failed and failed[0].fatal and "does not know the password" in failed[0].reason
    assert any(isinstance(a, Close) for a in out)


def test_scram_failure_not_required_ends_cap():
    session = _scram_session(sasl_required=False)
    out = feed(session, "AUTHENTICATE " + _b64("e=other-error"))
    assert sent(out) == ["AUTHENTICATE *", "CAP END"]
