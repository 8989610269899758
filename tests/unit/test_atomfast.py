"""The fast Atom reading (bot/sources/atomfast.py) gives exactly what feedparser gives: `parse_feed`
with it and without it returns equal results on every test feed and on the edge cases below, and
the cases it must not read itself go to feedparser."""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.sources.feed as feed_module
from bot.errors import ParseError
from bot.sources.atomfast import parse_atom
from bot.sources.feed import parse_feed

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
URL = "https://example.org/releases/feed.atom"


def both(
    body: bytes, monkeypatch: pytest.MonkeyPatch, version_pattern: str | None = None
) -> tuple[object, object]:
    """parse_feed's result (or its ParseError text) with the fast path and with feedparser alone (the
    document and the warnings: only the fast path remembers the entries it read)."""

    def one(fast: bool) -> tuple[object, ...] | str:
        monkeypatch.setattr(feed_module, "FAST_ATOM", fast)
        try:
            result = parse_feed(
                body, source="s", project="p", stream="main", url=URL, version_pattern=version_pattern
            )
        except ParseError as exc:
            return f"ParseError: {exc}"
        return result.document, result.warnings

    return one(True), one(False)


@pytest.mark.parametrize("path", sorted(p for p in FEEDS.iterdir() if p.suffix in (".xml", ".atom")), ids=str)
def test_every_test_feed_reads_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = both(path.read_bytes(), monkeypatch)
    assert fast == slow
    pattern = both(path.read_bytes(), monkeypatch, version_pattern=r"(\d+\.\d+\.\d+)")
    assert pattern[0] == pattern[1]


def test_the_real_atom_feeds_take_the_fast_path() -> None:
    for name in (
        "github-releases.atom",
        "releases-feed-stable-trimmed.xml",
        "releases-feed-lts-2021-trimmed.xml",
    ):
        assert parse_atom((FEEDS / name).read_bytes()) is not None, name
    for name in ("github-releases-rss.xml", "bozo-truncated-lts-2021.xml"):  # RSS; not well-formed
        assert parse_atom((FEEDS / name).read_bytes()) is None, name


HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'


def atom(*entries: str, head: str = HEAD) -> bytes:
    return (head + "".join(f"<entry>{e}</entry>" for e in entries) + "</feed>").encode("utf-8")


# (name, body, read by the fast path?)
CASES: list[tuple[str, bytes, bool]] = [
    (
        "plain",
        atom(
            '<title>1.2.3</title><id>urn:1</id><link rel="alternate" href="https://x.example/1"/>'
            "<published>2025-01-02T03:04:05Z</published><updated>2025-02-01T00:00:00+02:00</updated>"
            '<content type="html">&lt;p&gt;notes &amp;amp; more&lt;/p&gt;</content>'
        ),
        True,
    ),
    (
        "whitespace, CDATA, text content, summary only",
        atom(
            "<title>\n  v2  \n</title><id> urn:2 </id><summary>  plain <![CDATA[<b>raw</b>]]> </summary>",
            '<title type="html">&lt;b&gt;v3&lt;/b&gt;</title>'
            '<summary type="html">&lt;i&gt;x&lt;/i&gt;</summary>',
        ),
        True,
    ),
    (
        "links: relative, url attribute, self only, rel with an odd type, link after the id",
        atom(
            '<title>a</title><link href="/rel/a"/><id>https://x.example/a</id>',
            '<title>b</title><link rel="self" url="https://x.example/b"/>',
            "<title>c</title><id>https://x.example/c</id>"
            '<link rel="alternate" type="application/pdf" href="c.pdf"/>',
            '<title>d</title><id>https://x.example/d</id><link rel="alternate" href="https://x.example/d2"/>',
            '<title>e</title><link rel="alternate" uri="https:///x.example/e"/><id>e</id>',
        ),
        True,
    ),
    (
        "no title, no id: identity from link or hash; dates only updated; a bad date",
        atom(
            '<link href="https://x.example/n"/><updated>2024-01-01T00:00:00Z</updated>',
            "<updated>yesterday</updated><content>text only</content>",
            "<published>Tue, 10 Jun 2003 04:00:00 GMT</published>",
        ),
        True,
    ),
    (
        "mojibake repaired and cp1252 mapped as feedparser does; other content types",
        atom(
            "<title>caf\u00c3\u00a9 1.0</title><id>urn:m</id><content>\u0080 euro \u0099</content>",
            '<title>md</title><id>urn:md</id><content type="text/markdown">**b**</content>',
            '<title>x</title><id>urn:x</id><content type="TEXT">T</content><summary type="HTML">S</summary>',
        ),
        True,
    ),
    (
        "GitHub's extras: author, media:thumbnail, category, rights",
        atom(
            "<title>v9</title><id>urn:9</id><author><name>n</name><uri>https://a.example</uri></author>"
            '<media:thumbnail xmlns:media="http://search.yahoo.com/mrss/" url="https://a.example/t.png"/>'
            '<category term="c"/><rights>r</rights>'
        ),
        True,
    ),
    (
        "duplicate versions and more entries",
        atom(*[f"<title>1.0.{i % 3}</title><id>urn:{i}</id>" for i in range(7)]),
        True,
    ),
    (
        "RSS",
        b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>1</title></item></channel></rss>',
        False,
    ),
    (
        "Atom 0.3",
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title>1</title></entry></feed>',
        False,
    ),
    ("empty feed", atom(), False),
    ("truncated", atom("<title>1</title><id>urn:1</id>", "<title>2</title>")[:-20], False),
    (
        "xml:base",
        atom(
            '<title>1</title><link href="a"/>', head=HEAD.replace("<title>", '<title xml:base="https://b/">')
        ),
        False,
    ),
    ("base on an entry element", atom('<title>1</title><link base="https://b/" href="a"/>'), False),
    (
        "DOCTYPE",
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY e "x">]>' + atom("<title>&e;</title>")[39:],
        False,
    ),
    (
        "latin-1",
        atom("<title>caf\u00e9</title>").decode().replace("utf-8", "iso-8859-1").encode("latin-1"),
        False,
    ),
    (
        "xhtml content",
        atom(
            '<title>1</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>'
        ),
        False,
    ),
    (
        "base64 content",
        atom('<title>1</title><content type="application/octet-stream">eA==</content>'),
        False,
    ),
    ("out-of-line content", atom('<title>1</title><content src="https://x.example/c"/>'), False),
    ("markup inside a title", atom("<title>1 <b>bold</b></title>"), False),
    ("repeated title", atom("<title>1</title><title>2</title>"), False),
    ("two summaries", atom("<title>1</title><summary>a</summary><summary>b</summary>"), False),
    ("link without href", atom("<title>1</title><link>https://x.example/l</link>"), False),
    (
        "unknown element",
        atom('<title>1</title><dc:title xmlns:dc="http://purl.org/dc/elements/1.1/">2</dc:title>'),
        False,
    ),
    ("source element", atom("<title>1</title><source><title>other</title></source>"), False),
    ("attributes on the id", atom('<title>1</title><id isPermaLink="false">x</id>'), False),
    ("not a feed", b"<!doctype html><html><body>no</body></html>", False),
]


@pytest.mark.parametrize(("name", "body", "fast"), CASES, ids=[c[0] for c in CASES])
def test_edge_cases_read_the_same(
    name: str, body: bytes, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (parse_atom(body) is not None) is fast
    with_fast, feedparser_only = both(body, monkeypatch)
    assert with_fast == feedparser_only
    pattern = both(body, monkeypatch, version_pattern=r"(\d+)")
    assert pattern[0] == pattern[1]


def test_the_rfc3339_shortcut_reads_dates_as_feedparser_does() -> None:
    import random

    import feedparser.datetimes

    from bot.sources.atomfast import _date_reader

    slow = feedparser.datetimes._parse_date
    fast = _date_reader(slow)
    values = [
        "2025-01-01T00:00:00Z",
        "2024-02-29T23:59:59-12:00",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: feedparser's own answer
        "9999-12-31T23:59:59-01:00",  # after 9999 in UTC: likewise
        "2025-02-30T00:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01t00:00:00z",
        "2025-01-01T00:00:00.999+05:30",
        "2025-01-01T00:00:00+0530",  # no colon: not the shortcut's form
        "2025-01-01T00:00:00+99:99",
        "\u0662025-01-01T00:00:00Z",  # a non-ASCII digit
    ]
    rng = random.Random(11)
    for _ in range(3000):
        value = (
            f"{rng.randint(1, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T"
            f"{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}"
        )
        value += rng.choice(["", f".{rng.randint(0, 999)}"])
        value += rng.choice(
            ["Z", f"+{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", f"-{rng.randint(0, 23):02d}:00"]
        )
        values.append(value)
    for value in values:
        assert fast(value) == slow(value), value


def test_the_copied_cp1252_table_and_uri_join_are_feedparsers() -> None:
    import feedparser.mixin
    import feedparser.urls

    from bot.sources.atomfast import _CP1252, _urljoin

    assert feedparser.mixin._cp1252 == _CP1252
    uris = [
        "",
        "urn:1",
        "https://x.example/a",
        "https:///x.example/e",
        "http:////x.example//b/../c?q=1#f",
        "HTTP://x.example",
        "a,b://x/y",  # `+-.` is a range in feedparser's pattern: the comma is a scheme character there
        "/rel/a",
        "c.pdf",
        "https://[::1/",  # urllib raises ValueError: feedparser answers ""
        "tag:example.org,2025:1",
    ]
    for base in ("", "https://base.example/dir/feed.atom"):
        for uri in uris:
            assert _urljoin(base, uri) == feedparser.urls._urljoin(base, uri), (base, uri)
