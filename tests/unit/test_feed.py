"""bot.sources.feed: Atom/RSS → Document, on real Flatcar feeds and small hand-written GitHub-style ones."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bot.errors import ConfigError, ParseError
from bot.model import Document
from bot.sources.feed import FeedParseResult, entry_identity, entry_link, parse_feed, parse_feed_async

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
FLATCAR_URL = "https://www.flatcar.org/releases-feed/releases-{}.xml"
GITHUB_ATOM_URL = "https://github.com/example/widget/releases.atom"
VERSION_RE = r"v?(\d+\.\d+\.\d+)"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def flatcar(name: str, stream: str, **kwargs: Any) -> FeedParseResult:
    return parse_feed(
        read(name),
        source=f"flatcar-feed-{stream}",
        project="flatcar",
        stream=stream,
        url=FLATCAR_URL.format(stream),
        **kwargs,
    )


def inline(body: bytes, **kwargs: Any) -> FeedParseResult:
    args: dict[str, Any] = {
        "source": "inline",
        "project": "demo",
        "stream": "main",
        "url": "https://example.org/f",
    }
    args.update(kwargs)
    return parse_feed(body, **args)


def atom(*entries: str, title: str = "<title>demo</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>urn:demo</id>{title}<updated>2024-01-01T00:00:00Z</updated>"
        + "".join(f"<entry>{e}</entry>" for e in entries)
        + "</feed>\n"
    ).encode()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- real Flatcar feeds -------------------------------------------------------------------------------


def test_stable_feed_versions_dates_and_fields() -> None:
    result = flatcar("releases-feed-stable-trimmed.xml", "stable", doc_name="releases-stable.xml")
    assert result.warnings == ()
    doc = result.document
    assert isinstance(doc, Document)
    assert doc.name == "releases-stable.xml"
    assert [r.version for r in doc.releases] == ["4593.2.5", "4593.2.4", "4593.2.3"]
    first = doc.releases[0]
    # from <published>2026-08-13T15:48:35+00:00</published>,
    # not from <updated>2026-08-13T16:00:51.857778+00:00</updated>
    assert first.published == utc(2026, 8, 13, 15, 48, 35)
    assert first.published.tzinfo is not None
    assert [r.published for r in doc.releases[1:]] == [
        utc(2026, 7, 9, 13, 2, 32),
        utc(2026, 6, 16, 11, 28, 17),
    ]
    assert first.title == "4593.2.5"
    assert first.link == "https://www.flatcar.org/releases/#release-4593.2.5"
    assert (first.source, first.project, first.stream, first.channel) == (
        "flatcar-feed-stable",
        "flatcar",
        "stable",
        "stable",
    )
    assert first.key == ("flatcar-feed-stable", "stable", "4593.2.5")
    assert first.packages == {}
    assert first.architectures == ()
    assert first.notes_format == "html"
    assert first.notes.startswith("<p><em>Changes since <strong>Stable 4593.2.4</strong></em></p>")
    assert "CVE-2026-68480" in first.notes


def test_notes_are_not_sanitised() -> None:
    body = atom(
        "<id>urn:x</id><title>1.0.0</title><updated>2024-01-01T00:00:00Z</updated>"
        '<content type="html">&lt;p onclick="x()"&gt;hi'
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</content>"
    )
    (release,) = inline(body).document.releases
    assert release.notes == '<p onclick="x()">hi<script>alert(1)</script></p>'
    assert release.notes_format == "html"


def test_old_kinvolk_lts_2021_feed() -> None:
    result = flatcar("releases-feed-lts-2021-trimmed.xml", "lts-2021")
    assert result.warnings == ()
    releases = result.document.releases
    assert [r.version for r in releases] == ["2605.32.1", "2605.31.1", "2605.30.1"]
    assert [r.published for r in releases] == [
        utc(2022, 10, 17, 15, 9, 11),
        utc(2022, 9, 1, 12, 57, 10),
        utc(2022, 8, 4, 12, 3, 25),
    ]
    # The entries' only <link> is rel="self"; it is the release page, not the GitHub id.
    assert releases[0].link == "https://www.flatcar-linux.org/releases/#release-2605.32.1"
    # <content> without a type is text (markdown with escaped <br> tags, unescaped by the parser).
    assert releases[0].notes_format == "text"
    assert releases[0].notes.startswith("_Changes since **LTS 2605.31.1**_<br><br>")


def _raw_updated(body: bytes) -> dict[str, str]:
    """version → the raw <updated> text of its entry."""
    text = body.decode()
    return dict(
        re.findall(r"<entry>\s*<id>[^<]*</id>\s*<title>([^<]*)</title>\s*<updated>([^<]*)</updated>", text)
    )


def test_beta_history_rerendered_feed_keeps_versions_and_dates() -> None:
    old_name = "history-2025-02-18-releases-beta-trimmed.xml"
    new_name = "history-2025-03-20-releases-beta-trimmed.xml"
    old = flatcar(old_name, "beta")
    new = flatcar(new_name, "beta")
    assert [r.version for r in old.document.releases] == ["4186.1.1", "4186.1.0", "4152.1.0"]
    assert [r.version for r in new.document.releases] == ["4230.1.0", "4186.1.1", "4186.1.0"]
    assert new.document.releases[0].published == utc(2025, 3, 20, 14, 5, 38)

    shared = ["4186.1.1", "4186.1.0"]
    # The data really was re-rendered: <updated> of the same entries differs between the snapshots ...
    old_updated, new_updated = _raw_updated(read(old_name)), _raw_updated(read(new_name))
    for version in shared:
        assert old_updated[version] != new_updated[version]
    assert old_updated["4186.1.1"].startswith("2025-02-18T15:45:46")
    assert new_updated["4186.1.1"].startswith("2025-03-20T14:40:17")

    # ... but the parsed releases are identical, because published comes from <published>.
    old_by_version = {r.version: r for r in old.document.releases}
    new_by_version = {r.version: r for r in new.document.releases}
    for version in shared:
        assert old_by_version[version] == new_by_version[version]
    assert old_by_version["4186.1.1"].published == utc(2025, 2, 18, 15, 12, 26)
    assert old_by_version["4186.1.0"].published == utc(2025, 1, 30, 16, 23, 38)
    assert "4230.1.0" not in old_by_version


# --- GitHub-style feeds (hand-written) --------------------------------------------------------------


def github_atom(**kwargs: Any) -> FeedParseResult:
    return parse_feed(
        read("github-releases.atom"),
        source="widget-releases",
        project="widget",
        stream="releases",
        url=GITHUB_ATOM_URL,
        **kwargs,
    )


def test_github_atom_with_version_pattern() -> None:
    result = github_atom(version_pattern=VERSION_RE)
    releases = result.document.releases
    # "Nightly build" (tag nightly) matches nowhere and is skipped;
    # "Spring bug-fix release" matches in its link.
    assert [r.version for r in releases] == ["1.2.3", "1.2.2", "1.2.1"]
    assert result.warnings == (f"1 entry did not match version_pattern '{VERSION_RE}'; skipped",)
    first = releases[0]
    assert first.title == "v1.2.3: Some title"
    assert first.link == "https://github.com/example/widget/releases/tag/v1.2.3"
    # GitHub's feed has no <published>: <updated> is the fallback.
    assert first.published == utc(2024, 5, 2, 9, 30, 0)
    assert first.notes_format == "html"
    assert first.notes.startswith("<h2>What&#39;s Changed</h2>")
    # Relative links inside the notes are left alone (no rewriting here).
    assert 'href="/example/widget/compare/v1.2.2...v1.2.3"' in first.notes
    assert releases[1].title == "Spring bug-fix release"


def test_github_atom_without_pattern_uses_titles() -> None:
    result = github_atom()
    assert result.warnings == ()
    assert [r.version for r in result.document.releases] == [
        "v1.2.3: Some title",
        "Nightly build",
        "Spring bug-fix release",
        "1.2.1",
    ]


def test_version_pattern_group_whole_match_and_id_fallback() -> None:
    body = atom(
        # title and link do not match, the id does
        "<id>tag:example.org,2024:release-7.8.9</id><title>Latest</title>"
        '<link href="https://example.org/latest"/><updated>2024-01-01T00:00:00Z</updated>',
        "<id>urn:b</id><title>Release 2.5 (stable)</title><updated>2024-01-01T00:00:00Z</updated>",
    )
    grouped = inline(body, version_pattern=r"(\d+\.\d+(?:\.\d+)?)")
    assert [r.version for r in grouped.document.releases] == ["7.8.9", "2.5"]
    whole = inline(body, version_pattern=r"\d+\.\d+")
    assert [r.version for r in whole.document.releases] == ["7.8", "2.5"]
    none = inline(body, version_pattern=r"^v\d+$")
    assert none.document.releases == ()
    assert none.warnings == ("2 entries did not match version_pattern '^v\\d+$'; skipped",)


def test_invalid_version_pattern_is_config_error() -> None:
    with pytest.raises(ConfigError, match="version_pattern"):
        github_atom(version_pattern="v(")


def test_github_style_rss() -> None:
    result = parse_feed(
        read("github-releases-rss.xml"),
        source="gadget-rss",
        project="gadget",
        stream="releases",
        url="https://example.org/gadget/releases.rss",
    )
    assert result.warnings == ()
    releases = result.document.releases
    assert [r.version for r in releases] == ["v2.0.0", "v1.9.1", "v1.9.0"]
    # pubDate "Mon, 10 Jun 2024 14:30:00 +0200" → UTC
    assert releases[0].published == utc(2024, 6, 10, 12, 30, 0)
    assert releases[1].published == utc(2024, 5, 3, 9, 0, 0)
    assert releases[2].published is None
    assert releases[0].link == "https://github.com/example/gadget/releases/tag/v2.0.0"
    # no <link>, but the guid is a permalink
    assert releases[2].link == "https://github.com/example/gadget/releases/tag/v1.9.0"
    # RSS <description> is HTML
    assert releases[0].notes_format == "html"
    assert releases[0].notes == "<p>Major release. <strong>Breaking:</strong> drops Python 3.10.</p>"

    patterned = parse_feed(
        read("github-releases-rss.xml"),
        source="gadget-rss",
        project="gadget",
        stream="releases",
        url="https://example.org/gadget/releases.rss",
        version_pattern=VERSION_RE,
    )
    assert [r.version for r in patterned.document.releases] == ["2.0.0", "1.9.1", "1.9.0"]


# --- not a feed ---------------------------------------------------------------------------------------


def test_html_error_page_is_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(
            b"<html><body>502 Bad Gateway</body></html>",
            source="flatcar-feed-stable",
            project="flatcar",
            stream="stable",
            url=FLATCAR_URL.format("stable"),
        )
    message = str(info.value)
    assert "flatcar-feed-stable" in message
    assert FLATCAR_URL.format("stable") in message
    assert "not an Atom/RSS feed" in message
    assert "HTML" in message
    assert info.value.source == "flatcar-feed-stable"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"\x00\xff\xfegarbage",
        b"not xml at all",
        b'{"releases": []}',
        b"<!DOCTYPE html><html><head><title>Oops</title></head><body>down</body></html>",
        b"<html><head><title>Oops</title></head><body><p>unclosed<br></body></html>",
        b"<?xml version='1.0'?><note><to>x</to></note>",
    ],
)
def test_garbage_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match=r"source 'inline' \(https://example.org/f\): not an Atom/RSS feed"):
        inline(body)


def test_body_that_looks_like_a_path_or_url_is_not_opened(tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(read("releases-feed-stable-trimmed.xml"))
    for body in (str(feed_file).encode(), b"https://www.flatcar.org/releases-feed/releases-stable.xml"):
        with pytest.raises(ParseError):
            inline(body)


def test_valid_feeds_without_entries_are_empty_documents() -> None:
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    for body in (atom(), atom(title=""), rss):
        result = inline(body, doc_name="empty")
        assert result.document == Document(name="empty", releases=())
        assert result.warnings == ()


def test_truncated_header_only() -> None:
    stable = read("releases-feed-stable-trimmed.xml")
    header = stable[: stable.index(b"  <entry>")]
    result = inline(header)  # title and version are known; no entry at all
    assert result.document.releases == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("feed is not well-formed (")
    with pytest.raises(ParseError):
        inline(stable[: stable.index(b"<title>")])  # bozo, no title, no entries


# --- malformed feed with entries ----------------------------------------------------------------------


def test_bozo_feed_with_entries() -> None:
    result = flatcar("bozo-truncated-lts-2021.xml", "lts-2021")
    releases = result.document.releases
    # The half-read third entry (2605.30.1, no </entry>) is dropped rather than announced without notes.
    assert [r.version for r in releases] == ["2605.32.1", "2605.31.1"]
    assert releases[1].published == utc(2022, 9, 1, 12, 57, 10)
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith("feed is not well-formed (")
    assert "2 entries read, 1 incomplete entry at the end dropped" in warning
    # the complete entries parse exactly as in the intact feed
    intact = flatcar("releases-feed-lts-2021-trimmed.xml", "lts-2021").document.releases
    assert releases == intact[:2]


# --- identity, links, duplicates ----------------------------------------------------------------------


def _entries(body: bytes) -> list[Any]:
    return list(feedparser.parse(io.BytesIO(body)).entries)


def test_entry_identity_fallback_order() -> None:
    by_id, by_link, by_hash = _entries(
        atom(
            '<id>urn:one</id><link href="https://example.org/one"/><title>t</title>',
            '<link href="https://example.org/two"/><title>t</title>',
            "<title>three</title><published>2024-02-03T04:05:06Z</published>",
        )
    )
    assert entry_identity(by_id) == "urn:one"
    assert entry_identity(by_link) == "https://example.org/two"
    ident = entry_identity(by_hash)
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", ident)
    # stable, and depends on the title and the date
    assert entry_identity(by_hash) == ident
    assert entry_identity({"title": "three", "published": "2024-02-03T04:05:06Z"}) == ident
    assert entry_identity({"title": "three", "published": "2024-02-03T04:05:07Z"}) != ident
    assert entry_identity({"title": "four", "published": "2024-02-03T04:05:06Z"}) != ident
    # plain mappings work too; blank values do not count
    assert entry_identity({"id": "  ", "links": [{"rel": "alternate", "href": "https://x/"}]}) == "https://x/"
    assert entry_identity({"id": "g"}) == "g"


def test_entry_without_title_gets_identity_as_version() -> None:
    body = atom(
        '<id>urn:one</id><title></title><updated>2024-01-01T00:00:00Z</updated><link href="https://e.org/1"/>',
        '<title>  </title><link href="https://example.org/two"/>',
        "<published>2024-02-03T04:05:06Z</published>",
    )
    releases = inline(body).document.releases
    assert [r.version for r in releases[:2]] == ["urn:one", "https://example.org/two"]
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", releases[2].version)
    assert releases[2].link is None
    assert releases[2].title == ""


def test_links_prefer_alternate_and_resolve_relative() -> None:
    (entry,) = _entries(
        atom('<id>urn:a</id><link rel="self" href="https://s/"/><link rel="alternate" href="https://a/"/>')
    )
    assert entry_link(entry) == "https://a/"
    (release,) = inline(
        atom('<id>urn:a</id><title>1.0</title><link href="/releases/1.0"/>'), url="https://example.org/f.xml"
    ).document.releases
    assert release.link == "https://example.org/releases/1.0"
    # an Atom id that is not a URL never becomes the link
    (release,) = inline(atom("<id>tag:example.org,2024:1</id><title>1.0</title>")).document.releases
    assert release.link is None


def test_duplicate_versions_keep_first() -> None:
    body = atom(
        '<id>urn:a</id><title>1.0.0</title><link href="https://example.org/first"/>',
        '<id>urn:b</id><title>1.0.0</title><link href="https://example.org/second"/>',
        '<id>urn:c</id><title>0.9.0</title><link href="https://example.org/third"/>',
    )
    result = inline(body)
    assert [r.version for r in result.document.releases] == ["1.0.0", "0.9.0"]
    assert result.document.releases[0].link == "https://example.org/first"
    assert len(result.warnings) == 1
    assert "duplicate" in result.warnings[0]
    assert "1.0.0" in result.warnings[0]


# --- async wrapper ------------------------------------------------------------------------------------


def test_parse_feed_async() -> None:
    kwargs: dict[str, Any] = {
        "source": "flatcar-feed-stable",
        "project": "flatcar",
        "stream": "stable",
        "url": FLATCAR_URL.format("stable"),
        "doc_name": "releases-stable.xml",
    }
    body = read("releases-feed-stable-trimmed.xml")
    result = asyncio.run(parse_feed_async(body, **kwargs))
    assert result == parse_feed(body, **kwargs)
    assert result.document.releases[0].version == "4593.2.5"

    async def failing() -> None:
        await parse_feed_async(b"<html><body>502 Bad Gateway</body></html>", **kwargs)

    with pytest.raises(ParseError):
        asyncio.run(failing())
