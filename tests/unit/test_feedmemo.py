"""A changed Atom feed read only for its new entries (bot/sources/atomsplit.py, bot/sources/feedmemo.py):
the cut into entries refuses what could fool it, and a reading with the memo of the last one gives
the same warnings and the same memo as a reading of the whole body, and every release of the whole
reading except those of entries remembered byte for byte (whose versions are recorded already)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sources.atomsplit import EntryMemo, cut_atom
from bot.sources.feed import FeedParseResult, parse_feed
from tests.unit.test_atomfast import CASES, FEEDS, URL, atom

ATOM_FEEDS = [
    "github-releases.atom",
    "releases-feed-stable-trimmed.xml",
    "releases-feed-lts-2021-trimmed.xml",
]


def parse(
    body: bytes, remembered: bytes | None = None, version_pattern: str | None = None
) -> FeedParseResult:
    return parse_feed(
        body,
        source="s",
        project="p",
        stream="main",
        url=URL,
        remembered=remembered,
        version_pattern=version_pattern,
    )


def without(body: bytes, *indexes: int) -> bytes:
    """The body with some of its entries cut out (as the feed was before they were published)."""
    cut = cut_atom(body)
    assert cut is not None
    out, at = [], 0
    for i, (start, end) in enumerate(cut.entries):
        if i in indexes:
            out.append(body[at:start])
            at = end
    return b"".join(out) + body[at:]


def check(old: bytes, new: bytes, version_pattern: str | None = None) -> FeedParseResult:
    """`new` read with the memo of `old` against `new` read whole: what must hold for any pair."""
    first = parse(old, version_pattern=version_pattern)
    whole = parse(new, version_pattern=version_pattern)
    part = parse(new, first.entries, version_pattern)
    assert part.warnings == whole.warnings
    assert part.entries == whole.entries  # the same memo for the next reading
    assert all(r in whole.document.releases for r in part.document.releases)
    order = [r for r in whole.document.releases if r in part.document.releases]
    assert list(part.document.releases) == order
    left_out = {r.version for r in whole.document.releases} - {r.version for r in part.document.releases}
    assert left_out <= {r.version for r in first.document.releases}  # only versions read before
    return part


@pytest.mark.parametrize("name", ATOM_FEEDS)
@pytest.mark.parametrize("pattern", [None, r"(\d+\.\d+\.\d+)"])
def test_a_new_entry_is_the_only_one_read(name: str, pattern: str | None) -> None:
    body = (FEEDS / name).read_bytes()
    whole = parse(body, version_pattern=pattern)
    part = check(without(body, 0), body, pattern)
    assert part.document.releases == whole.document.releases[:1]  # the newest: the one not read before
    again = check(body, body, pattern)  # a re-rendered feed: nothing read again, nothing new
    assert again.document.releases == ()
    assert again.warnings == whole.warnings


@pytest.mark.parametrize("name", ATOM_FEEDS)
def test_an_edited_entry_is_read_again(name: str) -> None:
    body = (FEEDS / name).read_bytes()
    cut = cut_atom(body)
    assert cut is not None
    start, end = cut.entries[1]
    edited = (
        body[:start] + body[start:end].replace(b"</entry>", b"<summary>edited</summary></entry>") + body[end:]
    )
    part = check(body, edited)
    assert [r.version for r in part.document.releases] == [parse(edited).document.releases[1].version]


def test_another_context_reads_every_entry() -> None:
    body = (FEEDS / "github-releases.atom").read_bytes()
    memo = parse(body).entries
    count = len(parse(body).document.releases)
    assert len(parse(body, memo, version_pattern=r"(\d+)").document.releases) > 0  # another pattern
    other = parse_feed(body, source="s", project="p", stream="other", url=URL, remembered=memo)
    assert len(other.document.releases) == count  # another stream
    elsewhere = parse_feed(body, source="s", project="p", stream="main", url=URL + "x", remembered=memo)
    assert len(elsewhere.document.releases) == count  # another URL (links are joined to it)


def test_warnings_count_remembered_entries_too() -> None:
    old = atom("<title>v1</title><id>urn:1</id>", "<title>x</title><id>urn:2</id>")
    new = atom(
        "<title>v2</title><id>urn:3</id>",
        "<title>v1</title><id>urn:4</id>",
        *[
            "<title>v1</title><id>urn:1</id>",
            "<title>x</title><id>urn:2</id>",
        ],
    )
    part = check(old, new, version_pattern=r"v(\d+)")
    # the new entry of v1 comes first: it is read (its version is known), the remembered one is the
    # duplicate, as in a reading of the whole body
    assert [r.version for r in part.document.releases] == ["2", "1"]
    assert any("did not match" in w for w in part.warnings)
    assert any("duplicate versions" in w for w in part.warnings)


@pytest.mark.parametrize(
    ("name", "body"), [(c[0], c[1]) for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]]
)
def test_edge_cases_read_with_their_own_memo_give_the_same(name: str, body: bytes) -> None:
    check(body, body)
    check(body, body, version_pattern=r"(\d+)")


REFUSED = {
    "a DOCTYPE": b"<!DOCTYPE feed>" + atom("<title>1</title>"),
    "an entry tag in a comment": atom("<title>1</title><!-- <entry> -->"),
    "an entry tag in CDATA": atom("<title><![CDATA[<entry>]]></title>"),
    "an open CDATA section": atom("<title><![CDATA[1</title>"),
    "a comment between entries": atom("<title>1</title>", "<title>2</title>").replace(
        b"</entry><entry>", b"</entry><!-- c --><entry>"
    ),
    "a processing instruction inside": atom("<title>1</title><?pi x?>"),
    "a prefixed entry": atom("<title>1</title>").replace(b"</feed>", b"<a:entry xmlns:a='u'/></feed>"),
    "an empty entry": atom("<title>1</title>").replace(b"</feed>", b"<entry/></feed>"),
    "nested entries": atom("<title>1</title><entry><title>2</title></entry>"),
    "an element between entries": atom("<title>1</title>", "<title>2</title>").replace(
        b"</entry><entry>", b"</entry><x/><entry>"
    ),
    "a truncated entry": atom("<title>1</title>", "<title>2</title>")[:-20],
    "a prefixed root": atom("<title>1</title>")
    .replace(b"<feed ", b"<a:feed ")
    .replace(b"</feed>", b"</a:feed>"),
    "markup before the root": b"<x/>" + atom("<title>1</title>"),
    "no entries": atom(),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_could_fool_the_cut_is_not_cut(name: str) -> None:
    assert cut_atom(REFUSED[name]) is None


def test_the_cut_of_a_real_feed() -> None:
    body = (FEEDS / "releases-feed-stable-trimmed.xml").read_bytes()
    cut = cut_atom(body)
    assert cut is not None
    assert len(cut.entries) == len(parse(body).document.releases)
    assert all(body[s:e].startswith(b"<entry") and body[s:e].endswith(b"</entry>") for s, e in cut.entries)
    assert cut.head == body[: cut.entries[0][0]] and cut.tail == body[cut.entries[-1][1] :]


def test_the_memo_round_trips_and_garbage_is_no_memo() -> None:
    memo = EntryMemo(b"c" * 16, {b"a" * 16: "1.2.3", b"b" * 16: "", b"d" * 16: "ünï"})
    assert EntryMemo.decode(memo.encode()) == memo
    raw = memo.encode()
    for bad in (None, b"", b"x", raw[:-1], raw + b"x", b"\0" * 16 + b"\xff\xff\xff\xff"):
        assert EntryMemo.decode(bad) is None
    body = (FEEDS / "github-releases.atom").read_bytes()
    assert parse(body, b"garbage").document == parse(body).document  # a bad memo: read whole


def test_a_feed_read_by_feedparser_keeps_no_memo() -> None:
    for name in ("github-releases-rss.xml", "bozo-truncated-lts-2021.xml"):
        assert parse((FEEDS / name).read_bytes()).entries is None, name
    assert parse(Path(FEEDS / "github-releases.atom").read_bytes()).entries is not None


def test_comments_and_cdata_inside_entries_are_cut_around() -> None:
    body = atom("<title><![CDATA[1 <b>x</b>]]></title><!-- a <feed> -->", "<title>2</title>")
    cut = cut_atom(body)
    assert cut is not None and len(cut.entries) == 2
    check(atom("<title>2</title>"), body)
