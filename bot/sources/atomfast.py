"""A fast path for plain Atom 1.0 feeds: the entry fields `bot.sources.feed.parse_feed` reads, exactly
as feedparser 6 gives them, read with ElementTree's C tree builder (expat underneath) and one walk over
the entries (a 50-entry feed: ~28 ms through feedparser, ~2 ms here; bench/README.md, "Speed levers").

It takes only what it can read the way feedparser does and answers None for anything else, so that
`parse_feed` hands that document to feedparser itself: RSS and Atom 0.3, any XML error (a
truncated or malformed body), a DOCTYPE (entities), an encoding other than UTF-8, `xml:base` or
`base` attributes, XHTML, base64 or out-of-line (`src`) content, a link without `href`, an entry with
an element it does not know, or with a repeated title, id, date, summary or content.
tests/unit/test_atomfast.py compares both readings on every test feed and on those edge cases.

What is reproduced from feedparser: names lower-cased; text stripped; an entry `<id>` joined as a URI
(`_urljoin('', id)`); `guidislink` true unless an HTML alternate link came before the id; link `rel`
and `type` defaults, `url`/`uri` taken for `href`; content types mapped (`html` → `text/html`);
feedparser's repair of UTF-8 read as Latin-1 and its cp1252 mapping; dates through its own parser (the
usual RFC 3339 form computed as its W3DTF handler does, `_date_reader`). Its cp1252 table and URI join
are copied here (tests compare them), so a plain Atom feed with RFC 3339 dates is read without
importing feedparser.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["as_parsed", "load_feedparser", "parse_atom", "read_atom"]

ATOM = "http://www.w3.org/2005/Atom"
MEDIA = "http://search.yahoo.com/mrss/"

_TEXT_FIELDS = frozenset({"id", "title", "published", "updated", "summary", "content"})
_HARMLESS = frozenset({"author", "contributor", "category", "rights"})  # stored elsewhere by feedparser
_PERSON = frozenset({"name", "uri", "email"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TYPE_NAMES = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}
_DECLARED = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")


_IMPORT_LOCK = threading.Lock()


def load_feedparser() -> ModuleType:
    """feedparser and the parts of it this module uses, imported once, by one thread at a time: feeds
    are parsed in worker threads, and two threads importing the same package graph for the first time
    can each wait for a module the other holds (Python then hands one of them a half-initialised
    module)."""
    with _IMPORT_LOCK:
        import feedparser
        import feedparser.datetimes
        import feedparser.mixin
        import feedparser.urls

    module: ModuleType = feedparser
    return module


class _Unsupported(Exception):
    """Something feedparser should read."""


def _content_type(value: str) -> str:
    value = value.lower()
    return _TYPE_NAMES.get(value, value)


_NAMES: dict[str, tuple[str, str]] = {}


def _name(tag: str) -> tuple[str, str]:
    """ElementTree's `{ns}local` → (ns, local in lower case), remembered for the few names feeds use."""
    name = _NAMES.get(tag)
    if name is None:
        ns, _, local = tag[1:].partition("}") if tag[:1] == "{" else ("", "", tag)
        name = (ns, local.lower())
        if len(_NAMES) < 512:  # a hostile feed's made-up names are not kept
            _NAMES[tag] = name
    return name


def _expat_key(key: str) -> str:
    """An attribute name as expat with namespace separator " " spells it (feedparser's names)."""
    if key[:1] == "{":
        ns, _, local = key[1:].partition("}")
        return f"{ns} {local}"
    return key


#: feedparser's `mixin._cp1252` (its mapping of C1 controls to the cp1252 characters), kept here so
#: that reading a plain Atom feed does not import feedparser (~50–80 ms); a test compares the two
_CP1252 = {
    128: "\u20ac", 130: "\u201a", 131: "\u0192", 132: "\u201e", 133: "\u2026", 134: "\u2020",
    135: "\u2021", 136: "\u02c6", 137: "\u2030", 138: "\u0160", 139: "\u2039", 140: "\u0152",
    142: "\u017d", 145: "\u2018", 146: "\u2019", 147: "\u201c", 148: "\u201d", 149: "\u2022",
    150: "\u2013", 151: "\u2014", 152: "\u02dc", 153: "\u2122", 154: "\u0161", 155: "\u203a",
    156: "\u0153", 158: "\u017e", 159: "\u0178",
}  # fmt: skip
#: feedparser's `urls._urifixer` (its `+-.` is a range, as there)
_URIFIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")


def _urljoin(base: str, uri: str) -> str:
    """feedparser's `urls._urljoin`: extra slashes after the scheme dropped, then joined to `base`."""
    if ":///" in uri:  # otherwise the fixer's slash group is empty and it changes nothing
        uri = _URIFIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _feedparser_date(value: str) -> Any:
    """feedparser's own date reading (any of its formats), feedparser imported when first needed."""
    return load_feedparser().datetimes._parse_date(value)


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:([Zz])|([+-])(\d\d):(\d\d))", re.ASCII
)


def _date_reader(slow: Callable[[str], Any]) -> Callable[[str], Any]:
    """feedparser's `_parse_date`, with its first handler's (W3DTF's) answer for the usual RFC 3339 form
    computed directly: the naive date and time minus the offset, as a UTC `struct_time` (fractions
    of a second dropped). Anything else, or a value out of range, is feedparser's own reading."""

    def parse(value: str) -> Any:
        match = _RFC3339.fullmatch(value)
        if match is None:
            return slow(value)
        year, month, day, hour, minute, second, zulu, sign, tz_hour, tz_minute = match.groups()
        try:
            stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
            if not zulu:
                offset = timedelta(hours=int(tz_hour), minutes=int(tz_minute))
                stamp = stamp - offset if sign == "+" else stamp + offset
            return stamp.utctimetuple()
        except (ValueError, OverflowError):
            return slow(value)

    return parse


_parse_date = _date_reader(_feedparser_date)


class _Reader:
    def __init__(self) -> None:
        self.dates: dict[str, Any] = {}  # date text → feedparser's reading (a struct_time, or None)

    def _clean(self, value: str) -> str:
        out = value.strip()
        if out.isascii():  # neither repair changes ASCII text
            return out
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):  # feedparser's repair of UTF-8
            out = out.encode("iso-8859-1").decode("utf-8")  # that was read as Latin-1
        return out.translate(_CP1252)

    def feed(self, root: ET.Element) -> list[dict[str, Any]]:
        ns, local = _name(root.tag)
        if ns != ATOM or local != "feed":
            raise _Unsupported("not an Atom 1.0 feed")
        entries: list[dict[str, Any]] = []
        for child in root:
            ns, local = _name(child.tag)
            if ns == ATOM and local == "entry":
                entries.append(self.entry(child))
                continue
            # feed-level elements carry nothing parse_feed reads; an entry inside one is not Atom's
            for inner in child.iter():
                ns, local = _name(inner.tag)
                if ns == ATOM and local == "entry":
                    raise _Unsupported("nested entry")
        return entries

    def entry(self, element: ET.Element) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        seen: set[str] = set()
        html_link = False  # an HTML alternate link came before the id
        for child in element:
            ns, local = _name(child.tag)
            harmless = (ns == MEDIA and local == "thumbnail") or (ns == ATOM and local in _HARMLESS)
            if len(child):
                person = local in ("author", "contributor")
                for inner in child:
                    inner_ns, inner_local = _name(inner.tag)
                    if not (person and harmless and inner_ns == ATOM and inner_local in _PERSON):
                        raise _Unsupported("markup inside an entry field")
                    if len(inner):
                        raise _Unsupported("unexpected element")
            if harmless:
                continue
            if ns != ATOM:
                raise _Unsupported(f"unknown element {local!r}")
            if local == "link":
                html_link = (
                    self._link(entry, {_expat_key(k).lower(): v for k, v in child.attrib.items()})
                    or html_link
                )
                continue
            if local not in _TEXT_FIELDS:
                raise _Unsupported(f"unknown element {local!r}")
            if local in seen:
                raise _Unsupported(f"repeated {local}")
            seen.add(local)
            lowered = {_expat_key(k).lower(): v for k, v in child.attrib.items()}
            if local == "id" and lowered:
                raise _Unsupported("attributes on id")
            kind = ""
            if local in ("title", "summary", "content"):
                kind = _content_type(lowered.get("type", "text"))
                if not kind.startswith("text/") or "mode" in lowered or "src" in lowered:
                    raise _Unsupported(f"{local} of type {kind!r}")
            self._field(entry, local, kind, (child.text or "").strip(), html_link)
        return entry

    def _link(self, entry: dict[str, Any], attrs: dict[str, str]) -> bool:
        """Adds the link; True when it is an HTML alternate one."""
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if not href:
            raise _Unsupported("link without href")
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = _urljoin("", href)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        entry.setdefault("links", []).append(attrs)
        return attrs["rel"] == "alternate" and _content_type(attrs["type"]) in _HTML_TYPES

    def _field(self, entry: dict[str, Any], field: str, kind: str, value: str, html_link: bool) -> None:
        if field == "id":
            value = self._clean(_urljoin("", value) if value else value)
            entry["id"] = value
            entry["guidislink"] = not html_link
        elif field in ("published", "updated"):
            value = self._clean(value)
            entry[field] = value
            parsed = self.dates.get(value)  # an entry's two dates are often the same text
            if parsed is None and value not in self.dates:
                parsed = self.dates[value] = _parse_date(value)
            entry[f"{field}_parsed"] = parsed
        elif field == "title":
            entry["title"] = self._clean(value)
        else:
            detail = {"type": kind, "value": self._clean(value)}
            if field == "content":
                entry["content"] = [detail]
                if kind in ({"text/plain"} | _HTML_TYPES):
                    entry.setdefault("summary", detail["value"])
            else:
                entry["summary"] = detail["value"]
                entry["summary_detail"] = detail


def _has_base(root: ET.Element) -> bool:
    return any(_name(key)[1] == "base" for element in root.iter() for key in element.attrib)


def read_atom(body: bytes) -> list[dict[str, Any]] | None:
    """The entries (none, one or more) of a plain Atom 1.0 document as feedparser reads them, or None
    when feedparser itself should read it."""
    declared = _DECLARED.match(body[:512])
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<!DOCTYPE" in body:
        return None  # a DOCTYPE (XML spells it so): entities, which feedparser treats its own way
    parser = ET.XMLParser(encoding="utf-8")
    try:
        parser.feed(body)
        root = parser.close()
        if b"base" in body.lower() and _has_base(root):
            return None
        return _Reader().feed(root)
    except (_Unsupported, ET.ParseError, RecursionError):
        return None


def as_parsed(entries: list[Any]) -> dict[str, Any]:
    """Entries read by `read_atom` in the shape feedparser gives (the keys `parse_feed` uses)."""
    return {"entries": entries, "feed": {}, "bozo": False, "version": "atom10", "encoding": "utf-8"}


def parse_atom(body: bytes) -> dict[str, Any] | None:
    """feedparser's reading of a plain Atom 1.0 feed with at least one entry (the keys `parse_feed` uses),
    or None when feedparser itself should read it."""
    entries = read_atom(body)
    return as_parsed(entries) if entries else None
