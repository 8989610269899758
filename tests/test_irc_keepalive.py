"""Keepalive: PING after silence, ping timeout; registration timeout is the session's."""

from __future__ import annotations

from bot.irc.protocol import Close
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
