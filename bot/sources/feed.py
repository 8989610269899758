"""Any Atom or RSS feed (a GitHub `releases.atom`, Flatcar's per-channel Atom feeds) → model objects.

Parsing is pure and synchronous: it is CPU-bound, so the caller runs it off the event loop
(`parse_feed_async` does that with `asyncio.to_thread`). feedparser only ever sees the bytes, wrapped
in a stream: handed a `str` or `bytes` it would treat a value that looks like a URL or a file name as
one, and fetch or open it. A plain Atom 1.0 feed is read by `bot.sources.atomfast` instead: the same
fields, the same values, several times faster.

A release's date is the entry's `<published>`, falling back to `<updated>` only when there is no
`<published>`: Flatcar's `<updated>` is the time the feed was generated, and the whole feed was once
re-rendered with new `<updated>` times and no new release. Notes are kept as the feed has them
(feedparser's sanitising is off); rendering sanitises.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from bot.errors import ConfigError, ParseError
from bot.model import Document, Release
from bot.sources.atomfast import as_parsed, load_feedparser, parse_atom
from bot.sources.feedmemo import read_remembered
from bot.sources.limits import MAX_LINK, MAX_RECORDS, MAX_TITLE, cap_identity, cap_notes, cap_text, shown

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_LOOKS_HTML = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I
)
#: Plain Atom 1.0 feeds are read by `bot.sources.atomfast` (feedparser's reading, faster); tests turn
#: it off to compare both readings.
FAST_ATOM = True
#: A closing entry/item tag, with or without a namespace prefix. Counted to spot a truncated last entry.
_ENTRY_END = re.compile(r"</(?:[\w.-]+:)?(?:entry|item)\s*>", re.I)


@dataclass(frozen=True)
class FeedParseResult:
    document: Document
    warnings: tuple[str, ...]
    #: the memo of this reading's entries, to store with the document (`bot.sources.feedmemo`)
    entries: bytes | None = None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def entry_link(entry: Mapping[str, Any], *, base: str | None = None) -> str | None:
    """The entry's page: its `alternate` link, else a `self` link (Flatcar's old Kinvolk-era feeds mark
    the release page `rel="self"`), else an RSS `<guid>` that is a permalink. Relative links are joined
    to `base` (the feed's URL) when that is an http(s) URL."""
    links = entry.get("links") or ()
    found: str | None = None
    for rel in ("alternate", "self"):
        for link in links:
            if isinstance(link, Mapping) and link.get("rel", "alternate") == rel and _text(link.get("href")):
                found = _text(link.get("href"))
                break
        if found:
            break
    ident = _text(entry.get("id"))
    if not found and entry.get("guidislink") and urlsplit(ident).scheme in ("http", "https"):
        # feedparser sets `guidislink` for an RSS <guid> that is a permalink (isPermaLink="true").
        found = ident
    if found and base and _http_base(base):
        found = _join(base, found)
    return found


@functools.lru_cache(maxsize=256)
def _http_base(base: str) -> bool:
    return urlsplit(base).scheme in ("http", "https")


@functools.lru_cache(maxsize=8192)
def _join(base: str, link: str) -> str:
    """`urljoin`, remembered: a feed's known entries come back with the same links every poll."""
    return urljoin(base, link)


def _date_text(entry: Mapping[str, Any]) -> str:
    return _text(entry.get("published")) or _text(entry.get("updated"))


def entry_identity(entry: Mapping[str, Any]) -> str:
    """A stable name for an entry that has no usable version: its id/guid, else its link, else
    "sha256:" and the first 16 hex digits of the hash of its title and date."""
    ident = _text(entry.get("id"))
    if ident:
        return ident
    link = entry_link(entry)
    if link:
        return link
    digest = hashlib.sha256(f"{_text(entry.get('title'))}\n{_date_text(entry)}".encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def _to_datetime(value: Any) -> datetime | None:
    """feedparser's UTC struct_time → aware UTC datetime."""
    if not isinstance(value, tuple) or len(value) < 6:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    return _to_datetime(entry.get("published_parsed")) or _to_datetime(entry.get("updated_parsed"))


def _notes(entry: Mapping[str, Any]) -> tuple[str, Literal["html", "text"]]:
    detail: Any = None
    content = entry.get("content")
    if content and isinstance(content[0], Mapping):
        detail = content[0]
    elif isinstance(entry.get("summary_detail"), Mapping):
        detail = entry["summary_detail"]
    if detail is None:
        return _text(entry.get("summary")), "text"
    value = detail.get("value")
    kind = _text(detail.get("type")).lower()
    return (value if isinstance(value, str) else ""), ("html" if kind in _HTML_TYPES else "text")


def _match_version(pattern: re.Pattern[str], entry: Mapping[str, Any], link: str | None) -> str | None:
    for field in (_text(entry.get("title")), link or "", _text(entry.get("id"))):
        match = pattern.search(field)
        if match:
            group = match.group(1) if pattern.groups else None
            version = (group if group is not None else match.group(0)).strip()
            if version:
                return version
    return None


def _decode(body: bytes, encoding: Any) -> str:
    try:
        return body.decode(encoding if isinstance(encoding, str) and encoding else "utf-8", "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _not_a_feed(parsed: Any, body: bytes) -> str:
    if not body.strip():
        return "not an Atom/RSS feed: the body is empty"
    hint = " (got HTML?)" if _LOOKS_HTML.match(body[:512]) else ""
    message = f"not an Atom/RSS feed{hint}"
    exc = parsed.get("bozo_exception")
    if exc is not None:
        message += f": {exc}"
    snippet = body[:60].decode("utf-8", "replace")
    return f"{message}; the body starts with {snippet!r}"


def parse_feed(
    body: bytes,
    *,
    source: str,
    project: str,
    stream: str,
    url: str,
    version_pattern: str | None = None,
    doc_name: str = "feed",
    remembered: bytes | None = None,
) -> FeedParseResult:
    """Parse an Atom/RSS feed into one Document of Releases, in feed order.

    Raises ParseError when the body is no feed at all (empty, HTML, garbage). A malformed feed that
    still yields entries is parsed, with a warning; a valid feed without entries is an empty Document.
    Fields are bounded as `bot.sources.limits` says (title, version, link, notes, number of entries).

    `remembered` is the memo stored from the document's last reading (`FeedParseResult.entries`): a
    plain Atom feed's entries whose bytes it remembers are not read again — their versions are
    recorded already, so they are left out of the Document (detection would find them known) but
    still count for the warnings about duplicates and entries without a version.
    """
    pattern: re.Pattern[str] | None = None
    if version_pattern is not None:
        try:
            pattern = re.compile(version_pattern)
        except re.error as exc:
            raise ConfigError(
                f"invalid regular expression {version_pattern!r}: {exc}", key="version_pattern"
            ) from exc

    reading = read_remembered(body, remembered, url, project, stream, version_pattern) if FAST_ATOM else None
    if reading is not None and reading.items:
        parsed: Any = as_parsed(reading.items)
    else:
        parsed = parse_atom(body) if FAST_ATOM and reading is None else None
    if parsed is None:
        feedparser = load_feedparser()  # when a feed is read: a poll with nothing new does not load it
        try:
            parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
        except RecursionError:
            raise ParseError("not an Atom/RSS feed: nested too deeply", source=source, url=url) from None
    entries: list[Any] = list(parsed.get("entries") or ())
    feed_info = parsed.get("feed") or {}
    bozo = bool(parsed.get("bozo"))
    warnings: list[str] = []

    if not entries:
        if not parsed.get("version") or (bozo and not _text(feed_info.get("title"))):
            raise ParseError(_not_a_feed(parsed, body), source=source, url=url)
        if bozo:
            warnings.append(f"feed is not well-formed ({parsed.get('bozo_exception')}); 0 entries read")
        return FeedParseResult(Document(name=doc_name, releases=()), tuple(warnings))

    if bozo:
        # A truncated body leaves its last entry half-read; feedparser's loose parser still returns it.
        complete = len(_ENTRY_END.findall(_decode(body, parsed.get("encoding"))))
        dropped = max(0, len(entries) - complete)
        entries = entries[: len(entries) - dropped]
        message = f"feed is not well-formed ({parsed.get('bozo_exception')}); {len(entries)} entries read"
        if dropped:
            message += f", {dropped} incomplete entr{'y' if dropped == 1 else 'ies'} at the end dropped"
        warnings.append(message)

    if len(entries) > MAX_RECORDS:
        warnings.append(f"{len(entries)} entries, more than {MAX_RECORDS}: only the first {MAX_RECORDS} read")
        entries = entries[:MAX_RECORDS]

    releases: list[Release] = []
    seen: set[str] = set()
    unmatched = 0
    duplicates: list[str] = []
    versions: list[str] = []  # each entry's version ("" for none): the memo of this reading
    for entry in entries:
        if isinstance(entry, str):  # remembered: recorded when it was read, not read again
            versions.append(entry)
            if not entry:
                unmatched += 1
            elif entry in seen:
                duplicates.append(entry)
            else:
                seen.add(entry)
            continue
        link = entry_link(entry, base=url)
        title = _text(entry.get("title"))
        if pattern is not None:
            matched = _match_version(pattern, entry, link)
            if matched is None:
                unmatched += 1
                versions.append("")
                continue
            version = matched
        else:
            version = title or entry_identity(entry)
        version = cap_identity(version)
        versions.append(version)
        if link is not None and len(link) > MAX_LINK:
            link = None
        if version in seen:
            duplicates.append(version)
            continue
        seen.add(version)
        notes, notes_format = _notes(entry)
        releases.append(
            Release(
                source=source,
                project=project,
                stream=stream,
                channel=stream,
                version=version,
                title=cap_text(title, MAX_TITLE),
                published=_published(entry),
                link=link,
                packages={},
                notes=cap_notes(notes),
                notes_format=notes_format,
                architectures=(),
            )
        )

    if unmatched:
        noun = "entry" if unmatched == 1 else "entries"
        warnings.append(f"{unmatched} {noun} did not match version_pattern '{version_pattern}'; skipped")
    if duplicates:
        listed = ", ".join(shown(d) for d in duplicates[:10]) + (", …" if len(duplicates) > 10 else "")
        warnings.append(
            f"{len(duplicates)} duplicate versions in feed, kept the first entry of each: {listed}"
        )
    memo = reading.memo(versions) if reading is not None and reading.items else None
    return FeedParseResult(Document(name=doc_name, releases=tuple(releases)), tuple(warnings), memo)


async def parse_feed_async(
    body: bytes,
    *,
    source: str,
    project: str,
    stream: str,
    url: str,
    version_pattern: str | None = None,
    doc_name: str = "feed",
) -> FeedParseResult:
    """`parse_feed` in a worker thread, so a large feed does not block the event loop."""
    return await asyncio.to_thread(
        parse_feed,
        body,
        source=source,
        project=project,
        stream=stream,
        url=url,
        version_pattern=version_pattern,
        doc_name=doc_name,
    )
