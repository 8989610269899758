"""Lines in: bytes into lines, a line into a typed Message, CTCP text, ISUPPORT tokens."""

from __future__ import annotations

import random

import pytest

from bot.irc.parse import (
    NUMERIC_NAMES,
    LineBuffer,
    Message,
    ParseError,
    ctcp_texts,
    parse_isupport,
    parse_line,
    parse_tags,
)


def test_full_line_with_tags_source_params_and_trailing():
    msg = parse_line("@account=alice;time=2025-01-01T00:00:00Z;flag :alice!a@host PRIVMSG #c :hello there")
    assert msg == Message(
        command="PRIVMSG",
        params=("#c", "hello there"),
        source="alice!a@host",
        tags={"account": "alice", "time": "2025-01-01T00:00:00Z", "flag": None},
    )
    assert msg.mask == ("alice", "a", "host")


@pytest.mark.parametrize(
    ("line", "command", "params", "source"),
    [
        ("PING :irc.test", "PING", ("irc.test",), None),
        ("PING irc.test", "PING", ("irc.test",), None),
        ("PING :", "PING", ("",), None),
        ("PING", "PING", (), None),
        ("ping x", "PING", ("x",), None),
        (":irc.test 001 rbot :Welcome to IRC", "001", ("rbot", "Welcome to IRC"), "irc.test"),
        (":irc.test CAP * LS * :a b=c", "CAP", ("*", "LS", "*", "a b=c"), "irc.test"),
        (":s 005 rb A=1 B :are supported", "005", ("rb", "A=1", "B", "are supported"), "s"),
        (":x!y@z PRIVMSG #c ::)", "PRIVMSG", ("#c", ":)"), "x!y@z"),
        (":x!y@z PRIVMSG #c :a :b", "PRIVMSG", ("#c", "a :b"), "x!y@z"),
        (":x!y@z   KICK   #c   rb  :why  not ", "KICK", ("#c", "rb", "why  not "), "x!y@z"),
        (":x!y@z JOIN #c * :real name", "JOIN", ("#c", "*", "real name"), "x!y@z"),
        (":x!y@z JOIN :#c", "JOIN", ("#c",), "x!y@z"),
        (":x!y@z QUIT", "QUIT", (), "x!y@z"),
        ("Olé en latin-1", "OLÉ", ("en", "latin-1"), None),
    ],
)
def test_lines(line: str, command: str, params: tuple[str, ...], source: str | None):
    msg = parse_line(line)
    assert (msg.command, msg.params, msg.source) == (command, params, source)


@pytest.mark.parametrize("line", ["", "   ", ":only.a.prefix", ":prefix  ", "@a=b", "@a=b :src", ":x :y"])
def test_no_command_is_a_parse_error(line: str):
    with pytest.raises(ParseError, match="no command"):
        parse_line(line)


def test_tag_values_are_unescaped():
    tags = parse_tags(r"a=x\sy\:z\\w\nv;b=;c;=skip;d=\q")
    assert tags == {"a": "x y;z\\w\nv", "b": None, "c": None, "d": "q"}


def test_param_and_name():
    msg = parse_line(":s 433 * rbot :in use")
    assert msg.name == "nicknameinuse" and NUMERIC_NAMES["904"] == "saslfail"
    assert msg.param(1) == "rbot" and msg.param(-1) == "in use"
    assert msg.param(7) == "" and msg.param(7, "?") == "?"
    assert parse_line("FOO x").name == "foo"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("hello", ["hello"]),
        ("", [""]),
        ("\x01VERSION\x01", []),
        ("\x01ACTION waves\x01", []),
        ("hi\x01ACTION waves\x01", ["hi"]),
        ("a\x01V\x01b\x01c", ["a", "b", "\x01c"]),  # an unpaired \x01 stays text
        ("quoted\x10n\x100", ["quoted\n\0"]),  # CTCP low-level dequoting
    ],
)
def test_ctcp_texts(text: str, plain: list[str]):
    assert ctcp_texts(text) == plain


def test_isupport_tokens():
    table: dict[str, str] = {}
    parse_isupport(["CASEMAPPING=ascii", "MONITOR", "BOT=B", "NICKLEN=abc", "=x", "EXCEPTS"], table)
    assert table == {"CASEMAPPING": "ascii", "MONITOR": "", "BOT": "B", "NICKLEN": "abc", "EXCEPTS": ""}
    parse_isupport(["-EXCEPTS", "-NOPE", "monitor=100"], table)
    assert "EXCEPTS" not in table and table["MONITOR"] == "100"


def test_line_buffer_splits_lf_and_crlf_and_decodes_leniently():
    buffer = LineBuffer()
    buffer.feed(b"PING :a\r\nOl\xc3\xa9\nOl\xe9\r\npart")
    assert list(buffer) == ["PING :a", "Olé", "Olé"]
    assert len(buffer) == 4
    buffer.feed(b"ial\r")
    assert list(buffer) == [] and len(buffer) == 8
    buffer.feed(b"\n")
    assert list(buffer) == ["partial"] and len(buffer) == 0


# --------------------------------------------------------------------------------------------------
# The same reading as the irc package's parser (which bot/ used before), where the input is ordinary
# --------------------------------------------------------------------------------------------------


def _irc_package_reading(line: str) -> tuple[str, tuple[str, ...], str | None, dict[str, str | None]]:
    client = pytest.importorskip("irc.client")
    message = pytest.importorskip("irc.message")
    events = pytest.importorskip("irc.events")
    group = client._rfc_1459_command_regexp.match(line).group
    command = events.Command.lookup(group("command"))
    tags = {t["key"]: t["value"] for t in message.Tag.from_group(group("tags")) or []}
    return (
        command.code.upper(),
        tuple(message.Arguments.from_group(group("argument"))),
        group("prefix"),
        tags,
    )


def test_reads_lines_as_the_irc_package_did():
    rng = random.Random(5)
    commands = ["PRIVMSG", "NOTICE", "JOIN", "CAP", "001", "005", "433", "900", "KICK", "ping", "Mode"]
    words = ["#c", "rbot", "*", "LS", "a=b", "x!y@z", "é", "+", "-x", "1", "ACK"]
    prefixes = ["", ":irc.test ", ":x!y@z ", "@account=a;t=1 :x!y@z ", r"@k=a\sb\:c\\d :s "]
    for _ in range(2000):
        middle = " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
        trailing = rng.choice(["", " :", " :hello world", " ::)", " :a :b", " :é è"])
        line = f"{rng.choice(prefixes)}{rng.choice(commands)}{' ' + middle if middle else ''}{trailing}"
        ours = parse_line(line)
        assert (ours.command, ours.params, ours.source, dict(ours.tags)) == _irc_package_reading(line), line


def test_ctcp_text_as_the_irc_package_did():
    ctcp = pytest.importorskip("irc.ctcp")
    rng = random.Random(9)
    atoms = ["a", " ", "\x01", "VERSION", "ACTION x", "\x10n", "\x100", "\x10\x10", "é"]
    for _ in range(2000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 8)))
        expected = [m for m in ctcp.dequote(text) if isinstance(m, str)]
        assert ctcp_texts(text) == expected, repr(text)
