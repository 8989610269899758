"""Names: case-folding by CASEMAPPING, masks, channel names."""

from __future__ import annotations

from bot.irc.names import irc_lower


def test_irc_lower_casemappings():
    assert irc_lower("Foo[]\\~") == "foo{}|^"
    assert irc_lower("Foo[]\\~", "rfc1459-strict") == "foo{}|~"
    assert irc_lower("Foo[]", "ascii") == "foo[]"
