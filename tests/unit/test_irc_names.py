"""Names: case-folding by CASEMAPPING, masks, channel names."""

from __future__ import annotations

from bot.irc.names import Casemap, Mask, irc_lower, is_channel


def test_irc_lower_casemappings():
    assert irc_lower("Foo[]\\~") == "foo{}|^"
    assert irc_lower("Foo[]\\~", "rfc1459-strict") == "foo{}|~"
    assert irc_lower("Foo[]", "ascii") == "foo[]"


def test_irc_lower_utf8_casemapping():
    assert irc_lower("Ärger[]", "rfc7613") == "ärger[]"


def test_masks():
    assert Mask.parse("nick!user@host") == Mask("nick", "user", "host")
    assert Mask.parse("irc.server.net") == Mask("irc.server.net", None, None)
    assert Mask.parse(None) == Mask("", None, None)
    assert Mask.parse("n!@h") == Mask("n", None, "h")


def test_channels_and_casemap():
    assert is_channel("#c") and is_channel("&local") and not is_channel("rbot") and not is_channel("")
    casemap = Casemap()
    assert casemap.same("Rbot[1]", "rbot{1}") and not casemap.same("", "") and not casemap.same(None, "x")
    casemap.mapping = "ascii"
    assert not casemap.same("Rbot[1]", "rbot{1}") and casemap.same("RBOT", "rbot")
