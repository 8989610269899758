"""Property-based fuzz (hypothesis) of the parsers that read untrusted input: the Flatcar JSON parser,
the feed parser, the IRC line parser (through the IRC session) and the channel command parser.

The property: no exception other than the documented parse errors (ParseError for a document; the
IRC session and the command parser raise nothing at all), and no raw control character in a reply.
`HYPOTHESIS_PROFILE=thorough` runs many more examples.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import StateView, answer
from bot.errors import ParseError
from bot.irc.protocol import SessionConfig
from bot.irc.session import IrcSession
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json
from tests.helpers import history_snapshot

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None)
# `make test-fast` (the lane used while working): fewer examples; `make test` and CI run "ci"
settings.register_profile(
    "fast", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

URL = "https://example.invalid/x"

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
date_texts = st.sampled_from(
    ["2025-03-20 12:00:00 +0000", "2025-03-20T12:00:00+0000", "next tuesday", "", "9999"]
)
versions = st.from_regex(r"\A\d{1,4}\.\d{1,3}\.\d{1,3}\Z") | st.text(max_size=12)
records = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.sampled_from(["stable", "beta", "lts", "alpha"]) | json_values,
        "release_date": date_texts | json_values,
        "major_software": json_values | st.text(alphabet="[]{}'\",: ab1", max_size=60),
        "architectures": json_values | st.just("['amd64', 'arm64']"),
        "release_notes": st.text(max_size=200) | json_values,
    },
)
documents = st.dictionaries(versions | st.sampled_from(["current", "current-2024"]), records | json_values)


def parse_json(body: bytes) -> None:
    try:
        doc = parse_releases_json(
            body, source="fuzz", project="P", url=URL, doc_name="releases-lts-2024.json"
        )
    except ParseError as exc:
        assert "\n" not in str(exc)
        return
    for release in doc.releases:
        assert release.version and release.channel


@given(documents)
def test_flatcar_json_structures(data: object) -> None:
    parse_json(json.dumps(data).encode())


@given(st.binary(max_size=300))
def test_flatcar_json_bytes(body: bytes) -> None:
    parse_json(body)


FEED_PARTS = [
    '<?xml version="1.0"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    "</feed>",
    "<entry>",
    "</entry>",
    "<title>4230.2.1 &amp; more</title>",
    "<id>urn:x</id>",
    "<link href='https://example.invalid/r'/>",
    "<link rel='self' href='/rel'/>",
    "<published>2025-03-20T12:00:00Z</published>",
    "<updated>not a date</updated>",
    "<content type='html'>&lt;p&gt;notes&lt;/p&gt;</content>",
    "<rss version='2.0'><channel>",
    "</channel></rss>",
    "<item><title>v1</title><guid isPermaLink='true'>https://example.invalid/1</guid></item>",
    "<!DOCTYPE feed [<!ENTITY e 'x'>]>",
    "&e;",
    "<![CDATA[ raw ]]>",
    "\x1b\x00\u202e",
]


@given(
    st.lists(st.sampled_from(FEED_PARTS) | st.text(max_size=20), max_size=25),
    st.sampled_from([None, r"\d+\.\d+"]),
)
def test_feed_parser(parts: list[str], pattern: str | None) -> None:
    body = "".join(parts).encode("utf-8", "surrogatepass")
    try:
        result = parse_feed(body, source="fuzz", project="P", stream="main", url=URL, version_pattern=pattern)
    except ParseError as exc:
        assert "\n" not in str(exc) or "body starts with" in str(exc)
        return
    for release in result.document.releases:
        assert release.version


IRC_PARTS = [
    ":irc.test ",
    ":nick!user@host ",
    "@time=2025-01-01T00:00:00Z;msgid=x ",
    "PRIVMSG #chan :",
    "PRIVMSG rbot :",
    "NOTICE * :",
    "001 rbot :Welcome",
    "005 rbot CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=ascii :are supported",
    "433 * rbot :Nickname in use",
    "CAP * LS :sasl multi-prefix",
    "CAP * ACK :sasl",
    "AUTHENTICATE +",
    "903 rbot :SASL ok",
    "904 rbot :SASL failed",
    "JOIN #chan",
    "KICK #chan rbot :bye",
    "PING :x",
    "ERROR :Closing link",
    "\x01VERSION\x01",
    "!release stable",
    " ",
    ":",
    "\x00\x1b\u202e",
]
session_config = SessionConfig(nick="rbot", username="rb", realname="release bot")


@given(st.lists(st.lists(st.sampled_from(IRC_PARTS) | st.text(max_size=15), max_size=6), max_size=12))
def test_irc_session_accepts_any_line(lines: list[list[str]]) -> None:
    session = IrcSession(session_config)
    session.start(0.0)
    for n, parts in enumerate(lines):
        line = "".join(parts).replace("\r", "").replace("\n", "")
        actions = session.receive(line, float(n))
        assert isinstance(actions, list)


STATE = StateView.of(r for d in history_snapshot("2025-03-20-3e9fd11f").documents for r in d.releases)


@given(
    st.lists(
        st.sampled_from(
            [
                "!",
                "release",
                "changes",
                "deprecations",
                "roadmap",
                "help",
                "stable",
                "lts",
                "lts-2024",
                "4230.2.1",
                "4081",
                " ",
                "\x03",
                "\x1b",
                "\u202e",
                "*",
                "..",
                "-1",
                "99999999999999999999",
            ]
        )
        | st.text(max_size=10),
        max_size=8,
    )
)
def test_command_parser(words: list[str]) -> None:
    replies = answer("".join(words), STATE)
    for reply in replies or []:
        assert reply.isprintable(), repr(reply)
