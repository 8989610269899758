"""Hostile documents at the parsers: malformed records, deep nesting, huge fields and counts (issue 9,
items 5 and 7). Pure: no server."""

from __future__ import annotations

import json
import logging

import pytest

from bot.errors import ParseError
from bot.sources import limits
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json

URL = "https://example.invalid/releases-stable.json"


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "channel": "stable",
        "release_date": "2025-03-20 12:00:00 +0000",
        "major_software": {"kernel": ["6.6.80"]},
        "architectures": ["amd64", "arm64"],
        "release_notes": "notes",
    }
    base.update(fields)
    return base


def parse(data: object, warnings: list[str] | None = None) -> list[str]:
    body = json.dumps(data).encode() if not isinstance(data, bytes) else data
    doc = parse_releases_json(
        body, source="flatcar", project="Flatcar", url=URL, doc_name="releases-stable.json", warnings=warnings
    )
    return [r.version for r in doc.releases]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (record(release_date="next tuesday"), "unrecognised release_date 'next tuesday'"),
        ({k: v for k, v in record().items() if k != "channel"}, "no 'channel'"),
        (["not", "an", "object"], "a list, not an object"),
        (record(channel="\x1b[2Jstable\r\nINFO forged"), "is not a channel name"),
        (record(major_software="[" * 5000 + "]" * 5000), "skipped:"),
        (record(major_software={"kernel": [[["deep"]]]}), "versions are not a list of strings"),
        (record(architectures={"amd64": 1}), "architectures is not a list of names"),
        (record(release_notes=["a"]), "release_notes is a list, not text"),
        (record(release_date=12), "release_date is a int, not a date"),
        (record(major_software={f"p{i}": "1" for i in range(500)}), "more than 100"),
    ],
)
def test_a_malformed_record_is_skipped_with_a_warning_and_the_rest_is_read(bad: object, reason: str) -> None:
    warnings: list[str] = []
    versions = parse({"4230.2.0": bad, "4230.2.1": record()}, warnings)
    assert versions == ["4230.2.1"]
    assert len(warnings) == 1 and warnings[0].startswith("entry '4230.2.0' skipped: ")
    assert reason in warnings[0]
    assert all(ch.isprintable() for ch in warnings[0])


def test_unknown_keys_and_huge_version_numbers_are_skipped() -> None:
    warnings: list[str] = []
    versions = parse({"1" * 5000 + ".0.0": record(), "\x07bell": record(), "4230.2.1": record()}, warnings)
    assert versions == ["4230.2.1"]
    assert len(warnings) == 2 and all("neither a version nor a current* pointer" in w for w in warnings)
    assert all(len(w) < 200 for w in warnings)


def test_without_a_warnings_list_the_parser_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="release-bot"):
        assert parse({"4230.2.0": record(channel=None), "4230.2.1": record()}) == ["4230.2.1"]
    assert "entry '4230.2.0' skipped: channel None is not a channel name" in caplog.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "JSON nested too deeply"),
        (b"<!doctype html><html><body>Not found</body></html>", "expected JSON, got an HTML/XML page"),
        (b'{"4230.2.0": "\xff\xfe"}', "not valid JSON"),
        (b'{"x": ' + b"9" * 10_000 + b"}", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_an_unusable_document_is_one_clear_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body)
    text = str(info.value)
    assert message in text and "\n" not in text and len(text) < 400
    assert "source 'flatcar'" in text


def test_flatcar_fields_are_capped() -> None:
    doc = parse_releases_json(
        json.dumps({"4230.2.1": record(release_notes="n" * 10_000_000, architectures=["a" * 1000])}).encode(),
        source="flatcar",
        project="Flatcar",
        url=URL,
        doc_name="releases-stable.json",
    )
    (release,) = doc.releases
    assert len(release.notes) < limits.MAX_NOTES + 100 and "release notes cut" in release.notes
    assert len(release.architectures[0]) == limits.MAX_ARCHITECTURE


def atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        + "".join(entries)
        + "</feed>"
    ).encode()


def entry(title: str, ident: str, link: str = "https://example.invalid/r", content: str = "notes") -> str:
    return (
        f"<entry><title>{title}</title><id>{ident}</id><link rel='alternate' href='{link}'/>"
        f"<published>2025-03-20T12:00:00Z</published><content type='text'>{content}</content></entry>"
    )


def test_feed_fields_are_capped() -> None:
    huge = "T" * 10_000_000
    body = atom(entry(huge, "urn:1", link="https://example.invalid/" + "l" * 5000, content="c" * 1_000_000))
    result = parse_feed(body, source="f", project="P", stream="main", url="https://example.invalid/feed")
    (release,) = result.document.releases
    assert len(release.title) == limits.MAX_TITLE and release.title.endswith("…")
    assert len(release.version) == limits.MAX_VERSION  # unique stand-in: prefix, "…", hash
    assert release.link is None
    assert len(release.notes) < limits.MAX_NOTES + 100


def test_feed_entry_count_is_capped() -> None:
    body = atom(*(entry(f"v{i}", f"urn:{i}") for i in range(limits.MAX_RECORDS + 50)))
    result = parse_feed(body, source="f", project="P", stream="main", url="https://example.invalid/feed")
    assert len(result.document.releases) == limits.MAX_RECORDS
    assert any(f"more than {limits.MAX_RECORDS}" in w for w in result.warnings)


def test_capped_identities_stay_unique() -> None:
    a, b = "x" * 500 + "a", "x" * 500 + "b"
    assert limits.cap_identity(a) != limits.cap_identity(b)
    assert limits.cap_identity(a) == limits.cap_identity(a)
    assert len(limits.cap_identity(a)) == limits.MAX_VERSION
