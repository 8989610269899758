"""Tests of the IRC testbed itself (tests/ircnet.py): real InspIRCd + Atheme and ngIRCd servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import ircnet
from tests.ircnet import IrcListener, IrcServer, open_listeners, try_sasl

pytestmark = pytest.mark.integration


def _is(command: str, *params: str) -> Callable[[str], bool]:
    """Predicate: the line's command is `command` and its first params are `params`."""

    def predicate(line: str) -> bool:
        msg = ircnet._parse(line)
        return msg.command == command and msg.params[: len(params)] == list(params)

    return predicate


# InspIRCd + Atheme ---------------------------------------------------------------------------------


def test_inspircd_register_join_and_exchange(irc_net: IrcServer) -> None:
    with contextlib.ExitStack() as stack:
        alice, bob = (
            stack.enter_context(x) for x in open_listeners(irc_net, ["alice", "bob"], channels=["#t"])
        )
        assert alice.wait_for(_is("001"), 0).startswith(":irc.test 001 alice ")
        # both have seen 366 for #t, so both are in it: whoever joined second got both in NAMES
        names = [ircnet._parse(line).params[-1].split() for _, line in alice.lines + bob.lines]
        assert any({"alice", "bob"} <= {n.lstrip("@+") for n in listed} for listed in names)
        alice.privmsg("#t", "hello from alice")
        bob.privmsg("alice", "direct to alice")
        bob.send_raw("NOTICE #t :a notice")
        bob.wait_for(lambda line: line.endswith("PRIVMSG #t :hello from alice"))
        alice.wait_for(lambda line: line.endswith(":a notice"))
        direct = alice.wait_for(lambda line: "direct to alice" in line)
        assert direct.startswith(":bob!")

        received = bob.privmsgs("#t")
        assert [(nick, target, text) for _, nick, target, text in received] == [
            ("alice", "#t", "hello from alice")
        ]
        assert [m[1:] for m in alice.privmsgs("alice")] == [("bob", "alice", "direct to alice")]
        assert [m[1:] for m in alice.privmsgs("#T")] == [("bob", "#t", "a notice")]  # case-insensitive
        times = [t for t, _ in bob.lines]
        assert times == sorted(times) and all(isinstance(t, float) for t in times)


def test_sasl_plain_right_and_wrong_password(irc_net: IrcServer) -> None:
    assert irc_net.accounts == {"testbot": "testpass", "otherbot": "otherpass"}
    assert try_sasl(irc_net, "testbot", "testpass") == ("903", "testbot")
    assert try_sasl(irc_net, "otherbot", "otherpass") == ("903", "otherbot")
    assert try_sasl(irc_net, "testbot", "wrong") == ("904", None)
    assert try_sasl(irc_net, "nosuchaccount", "x") == ("904", None)
    # the same over TLS
    assert try_sasl(irc_net, "testbot", "testpass", tls=True) == ("903", "testbot")


def test_sasl_failure_raises_unless_not_required(irc_net: IrcServer) -> None:
    with pytest.raises(AssertionError, match="SASL failed: 904"):
        IrcListener(irc_net, "badpass", sasl=("testbot", "nope"), register=False)
    with IrcListener(irc_net, "badpass", sasl=("testbot", "nope"), sasl_required=False, register=False) as c:
        assert (c.sasl_result, c.account) == ("904", None)


def test_sasl_external_over_tls_with_client_cert(irc_net: IrcServer) -> None:
    assert irc_net.client_cert is not None and irc_net.client_key is not None
    assert try_sasl(irc_net, external=True) == ("903", "testbot")

    # full registration logged in via EXTERNAL: the server confirms with 900 and WHOIS shows it
    with IrcListener(irc_net, "extbot", sasl_external=True) as bot:
        assert bot.account == "testbot"
        assert bot.wait_for(_is("900", "extbot"), 0)
        bot.send_raw("WHOIS extbot")
        bot.wait_for(_is("330", "extbot", "extbot", "testbot"))

    # send_raw-level: EXTERNAL over TLS *without* a client certificate fails
    with IrcListener(irc_net, "", tls=True, register=False) as raw:
        raw.send_raw("CAP REQ :sasl")
        raw.wait_for(_is("CAP", "*", "ACK"))
        raw.send_raw("AUTHENTICATE EXTERNAL")
        raw.wait_for(_is("AUTHENTICATE", "+"))
        raw.send_raw("AUTHENTICATE +")
        raw.wait_for(lambda line: ircnet._parse(line).command in {"904", "908"})


def test_tls_port_verifies_with_ca_file(irc_net: IrcServer) -> None:
    assert irc_net.tls_port is not None and irc_net.ca_file is not None
    context = ssl.create_default_context(cafile=str(irc_net.ca_file))
    for name in ("irc.test", "localhost", "127.0.0.1"):
        with (
            socket.create_connection((irc_net.host, irc_net.tls_port), 5) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            cert = tls.getpeercert()
            assert cert is not None and "irc.test" in str(cert["subject"])
    untrusting = ssl.create_default_context()  # system CAs only: the self-signed cert is rejected
    with (
        socket.create_connection((irc_net.host, irc_net.tls_port), 5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusting.wrap_socket(raw, server_hostname="irc.test")


def test_stop_and_start_on_the_same_ports(irc_net: IrcServer) -> None:
    ports = (irc_net.port, irc_net.tls_port, irc_net.link_port)
    with IrcListener(irc_net, "survivor", channels=["#t"]) as before:
        irc_net.stop(kill=True)
        assert not irc_net.is_running()
        with pytest.raises(AssertionError, match="connection closed"):
            before.wait_for(lambda line: False, timeout=5)
        assert before.closed_by_server
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((irc_net.host, irc_net.port), 2).close()
    assert irc_net.services_running()  # Atheme stays up and relinks

    started = time.monotonic()
    irc_net.start()
    elapsed = time.monotonic() - started
    assert (irc_net.port, irc_net.tls_port, irc_net.link_port) == ports
    assert elapsed < 10
    assert try_sasl(irc_net, "testbot", "testpass") == ("903", "testbot")
    with IrcListener(irc_net, "afterwards", sasl=("otherbot", "otherpass"), channels=["#t"]) as after:
        assert after.account == "otherbot"

    irc_net.restart()  # graceful (SIGTERM) this time
    assert try_sasl(irc_net, external=True) == ("903", "testbot")


def test_services_can_be_stopped_and_started(irc_net: IrcServer) -> None:
    irc_net.stop_services()
    assert not irc_net.services_running()
    deadline = time.monotonic() + 5
    result = try_sasl(irc_net, "testbot", "testpass", timeout=1)
    while result[0] is not None and time.monotonic() < deadline:  # the ircd notices the split
        time.sleep(0.05)
        result = try_sasl(irc_net, "testbot", "testpass", timeout=1)
    assert result == (None, None)
    irc_net.start_services()
    assert try_sasl(irc_net, "testbot", "testpass") == ("903", "testbot")


def test_irc_net_restarts_a_stopped_server(inspircd_net: IrcServer, request: pytest.FixtureRequest) -> None:
    inspircd_net.stop()
    server = request.getfixturevalue("irc_net")
    assert server is inspircd_net and server.is_running()
    assert try_sasl(server, "testbot", "testpass") == ("903", "testbot")


# ngIRCd ---------------------------------------------------------------------------------------------


def test_ngircd_register_join_and_exchange(ngircd_server: IrcServer) -> None:
    assert ngircd_server.kind == "ngircd" and ngircd_server.tls_port is None
    with (
        IrcListener(ngircd_server, "alice", channels=["#t", "#u"]) as alice,
        IrcListener(ngircd_server, "bob_with_a_long_nick", channels=["#t"]) as bob,
    ):
        alice.privmsg("#t", "hi bob")
        bob.privmsg("#t", "hi alice")
        bob.privmsg("alice", "psst")
        bob.wait_for(lambda line: line.endswith("PRIVMSG #t :hi bob"))
        alice.wait_for(lambda line: line.endswith("PRIVMSG alice :psst"))
        alice.wait_for(lambda line: line.endswith("PRIVMSG #t :hi alice"))
        assert [m[1:] for m in alice.privmsgs()] == [
            ("bob_with_a_long_nick", "#t", "hi alice"),
            ("bob_with_a_long_nick", "alice", "psst"),
        ]


def test_wait_for_timeout_shows_the_last_lines(ngircd_server: IrcServer) -> None:
    with IrcListener(ngircd_server, "waiter") as waiter:
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"(?s)no matching line within 0.2 s.*376 waiter"):
            waiter.wait_for(lambda line: "never" in line, timeout=0.2)
        assert time.monotonic() - started < 2
        mark = waiter.mark()
        waiter.send_raw("PING :later")
        assert waiter.wait_for(lambda line: "PONG" in line, since=mark).endswith(":later")


def test_ngircd_restart(ngircd_server: IrcServer) -> None:
    port = ngircd_server.port
    with IrcListener(ngircd_server, "gone") as gone:
        ngircd_server.stop(kill=True)
        with pytest.raises(AssertionError, match="connection closed"):
            gone.wait_for(lambda line: False, timeout=5)
    ngircd_server.start()
    assert ngircd_server.port == port
    with IrcListener(ngircd_server, "back", channels=["#t"]):
        pass


# both ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["irc_net", "ngircd_server"])
def test_non_utf8_bytes_are_relayed(fixture: str, request: pytest.FixtureRequest) -> None:
    server: IrcServer = request.getfixturevalue(fixture)
    sender, receiver = open_listeners(server, ["latin1s", "latin1r"], channels=["#t"])
    with sender, receiver:
        sender.send_raw(b"PRIVMSG #t :caf\xe9")
        line = receiver.wait_for(lambda line: "PRIVMSG #t :caf" in line)
        assert line.endswith("caf\N{REPLACEMENT CHARACTER}")
        assert [raw for _, raw in receiver.raw_lines if raw.endswith(b"PRIVMSG #t :caf\xe9")]
        assert receiver.privmsgs("#t")[-1][1:] == ("latin1s", "#t", "caf\N{REPLACEMENT CHARACTER}")


# skipping ------------------------------------------------------------------------------------------------


def test_missing_binary_skips_or_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ircd"
    monkeypatch.delenv(ircnet.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-ircd"):
        ircnet._require(missing)
    monkeypatch.setenv(ircnet.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"no-such-ircd.*RELEASE_BOT_REQUIRE_SERVERS=1"):
        ircnet._require(missing)


def test_irc_free_port() -> None:
    port = ircnet.irc_free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
