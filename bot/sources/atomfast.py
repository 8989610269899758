"""A fast path for plain Atom 1.0 feeds: the entry fields `bot.sources.feed.parse_feed` reads, exactly
as feedparser 6 gives them, read with expat directly (a 50-entry feed: ~28 ms through feedparser,
a few ms here; bench/README.md, "Speed levers").

It takes only what it can read the way feedparser does and answers None for anything else, so that
`parse_feed` hands that document to feedparser itself: RSS and Atom 0.3, any expat error (a
truncated or malformed body), a DOCTYPE (entities), an encoding other than UTF-8, `xml:base` or
`base` attributes, XHTML, base64 or out-of-line (`src`) content, a link without `href`, an entry with
an element it does not know, or with a repeated title, id, date, summary or content.
tests/unit/test_atomfast.py compares both readings on every test feed and on those edge cases.

What is reproduced from feedparser: names lower-cased; text stripped; an entry `<id>` joined as a URI
(`_urljoin('', id)`); `guidislink` true unless an HTML alternate link came before the id; link `rel`
and `type` defaults, `url`/`uri` taken for `href`; content types mapped (`html` → `text/html`);
feedparser's repair of UTF-8 read as Latin-1 and its cp1252 mapping; dates through its own parser.
"""

from __future__ import annotations

import contextlib
import re
import threading
from types import ModuleType
from typing import Any
from xml.parsers import expat

__all__ = ["load_feedparser", "parse_atom"]

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


class _Reader:
    def __init__(self) -> None:
        feedparser = load_feedparser()
        self.parse_date = feedparser.datetimes._parse_date
        self.cp1252 = feedparser.mixin._cp1252
        self.urljoin = feedparser.urls._urljoin
        self.entries: list[dict[str, Any]] = []
        self.path: list[str] = []  # "ns local" of the open elements
        self.entry: dict[str, Any] | None = None
        self.field: str | None = None  # the text field being read
        self.field_type = ""
        self.text: list[str] = []
        self.seen: set[str] = set()
        self.html_link = False  # an HTML alternate link came before the id
        self.dates: dict[str, Any] = {}  # date text → feedparser's reading (a struct_time, or None)

    def _clean(self, value: str) -> str:
        out = value.strip()
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):  # feedparser's repair of UTF-8
            out = out.encode("iso-8859-1").decode("utf-8")  # that was read as Latin-1
        return out.translate(self.cp1252)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        local = local.lower()
        for key in attrs:
            if key.rpartition(" ")[2].lower() == "base":
                raise _Unsupported("xml:base")
        depth = len(self.path)
        self.path.append(name)
        if depth == 0:
            if ns != ATOM or local != "feed":
                raise _Unsupported("not an Atom 1.0 feed")
            return
        if self.entry is None:
            if ns == ATOM and local == "entry":
                if depth != 1:
                    raise _Unsupported("nested entry")
                self.entry, self.seen, self.html_link = {}, set(), False
                self.entries.append(self.entry)
            return  # feed-level elements carry nothing parse_feed reads
        if self.field is not None:
            raise _Unsupported("markup inside a text field")
        parent = self.path[-2]
        if parent.rpartition(" ")[2].lower() in ("author", "contributor") and ns == ATOM and local in _PERSON:
            return
        if depth != 2:
            raise _Unsupported(f"unexpected element {local!r}")
        if (ns == MEDIA and local == "thumbnail") or (ns == ATOM and local in _HARMLESS):
            return
        if ns != ATOM:
            raise _Unsupported(f"unknown element {local!r}")
        if local == "link":
            self._link({k.lower(): v for k, v in attrs.items()})
            return
        if local not in _TEXT_FIELDS:
            raise _Unsupported(f"unknown element {local!r}")
        if local in self.seen:
            raise _Unsupported(f"repeated {local}")
        self.seen.add(local)
        lowered = {k.lower(): v for k, v in attrs.items()}
        if local == "id" and lowered:
            raise _Unsupported("attributes on id")
        if local in ("title", "summary", "content"):
            kind = _content_type(lowered.get("type", "text"))
            if not kind.startswith("text/") or "mode" in lowered or "src" in lowered:
                raise _Unsupported(f"{local} of type {kind!r}")
            self.field_type = kind
        self.field, self.text = local, []

    def _link(self, attrs: dict[str, str]) -> None:
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if not href:
            raise _Unsupported("link without href")
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = self.urljoin("", href)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        assert self.entry is not None
        self.entry.setdefault("links", []).append(attrs)
        if attrs["rel"] == "alternate" and _content_type(attrs["type"]) in _HTML_TYPES:
            self.html_link = True

    def data(self, text: str) -> None:
        if self.field is not None:
            self.text.append(text)

    def end(self, name: str) -> None:
        self.path.pop()
        if self.entry is None:
            return
        if len(self.path) == 1:  # the entry itself ends
            self.entry = None
            return
        if self.field is None or len(self.path) != 2:
            return
        field, self.field = self.field, None
        value = "".join(self.text).strip()
        entry = self.entry
        if field == "id":
            value = self._clean(self.urljoin("", value) if value else value)
            entry["id"] = value
            entry["guidislink"] = not self.html_link
        elif field in ("published", "updated"):
            value = self._clean(value)
            entry[field] = value
            parsed = self.dates.get(value)  # an entry's two dates are often the same text
            if parsed is None and value not in self.dates:
                parsed = self.dates[value] = self.parse_date(value)
            entry[f"{field}_parsed"] = parsed
        elif field == "title":
            entry["title"] = self._clean(value)
        else:
            detail = {"type": self.field_type, "value": self._clean(value)}
            if field == "content":
                entry["content"] = [detail]
                if self.field_type in ({"text/plain"} | _HTML_TYPES):
                    entry.setdefault("summary", detail["value"])
            else:
                entry["summary"] = detail["value"]
                entry["summary_detail"] = detail


def parse_atom(body: bytes) -> dict[str, Any] | None:
    """feedparser's reading of a plain Atom 1.0 feed with at least one entry (the keys `parse_feed` uses),
    or None when feedparser itself should read it."""
    declared = _DECLARED.match(body[:512])
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<!DOCTYPE" in body[:4096].upper():
        return None
    reader = _Reader()
    parser = expat.ParserCreate("utf-8", " ")
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data

    def refuse(*_args: object) -> None:
        raise _Unsupported("DTD")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except (_Unsupported, expat.ExpatError, RecursionError):
        return None
    if not reader.entries:
        return None
    return {"entries": reader.entries, "feed": {}, "bozo": False, "version": "atom10", "encoding": "utf-8"}
