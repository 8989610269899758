"""Keepalive: PING after silence, ping timeout; registration timeout is the session's."""

from __future__ import annotations

from bot.irc.keepalive import Keepalive
from bot.irc.protocol import Close, Send
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, register, sent


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


def test_keepalive_on_its_own():
    keepalive = Keepalive(interval=90.0, timeout=60.0)
    keepalive.heard(10.0)
    assert keepalive.deadline() == 100.0 and keepalive.tick(99.0) == []
    assert keepalive.tick(100.0) == [Send("PING keepalive-1")]
    assert keepalive.deadline() == 160.0 and keepalive.tick(159.0) == []
    (close,) = keepalive.tick(160.0)
    assert isinstance(close, Close) and "no data from the server for 150 s" in close.reason
    keepalive.heard(161.0)
    assert keepalive.deadline() == 251.0
