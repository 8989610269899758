"""A plain Atom 1.0 body cut into its entries' byte ranges, without parsing it, and the memory of the
entries a document had when it was last read (`EntryMemo`), so that a changed feed is read only for
its new or edited entries (issue 11: a feed with one new entry among 50 was read whole, ~2 ms).

The cut is only made where it cannot be fooled: no DOCTYPE, and no `entry` tag inside a comment or
CDATA section (elsewhere every `<` starts a tag: `<` is never literal in text or attribute values),
processing instructions only before the root, an unprefixed `<feed …>` root, no prefixed `…:entry` tag, and
unprefixed `<entry>` … `</entry>` pairs that alternate without nesting, with only white space
between them. Anything else is None, and the feed is read whole as before. Whoever uses a cut checks
it against the parser: the entries read from the cut must be as many as its slices
(`bot.sources.feedmemo`), so that each slice is one Atom entry of the feed.

`EntryMemo` is stored with the document (`documents.entries`), in the transaction that records the
releases those entries produced: a remembered entry's version is known for good (releases are never
deleted), so an entry whose bytes were read before needs no reading again.
"""

from __future__ import annotations

import hashlib
import re
import struct
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["AtomCut", "EntryMemo", "cut_atom", "digest"]

_ATTRS = rb"(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*"
_ROOT = re.compile(rb"<feed(?=[\s>])" + _ATTRS + rb">")
_ENTRY = re.compile(rb"<(/?)entry(?=[\s/>])")
_START_TAG = re.compile(rb"<entry" + _ATTRS + rb"(/?)>")
_END_TAG = re.compile(rb"</entry\s*>")
_PREFIXED_ENTRY = re.compile(rb"</?[^\s<>/]+:entry[\s/>]")
#: the memo's layout version: a change of what an entry's version depends on bumps it
_FORMAT = b"atom-entries/1"


@dataclass(frozen=True)
class AtomCut:
    """`head` (up to the first entry) + the entries' (start, end) ranges + `tail` (after the last).
    `root` is the root start tag (its namespace declarations and attributes are the context every
    entry is read in)."""

    root: bytes
    head: bytes
    entries: tuple[tuple[int, int], ...]
    tail: bytes


def cut_atom(body: bytes) -> AtomCut | None:
    """The entries' byte ranges of a plain Atom body, or None where a cut could be wrong."""
    opaque = _opaque(body)
    if opaque is None or (b":entry" in body and _PREFIXED_ENTRY.search(body)):
        return None
    starts = [start for start, _ in opaque]
    root = _ROOT.search(body)
    if root is None:
        return None
    prolog = body[: root.start()]
    if prolog.count(b"<") != prolog.count(b"<?") or body.find(b"<?", root.end()) >= 0:
        return None  # markup before the root, or a processing instruction inside the document
    ranges: list[tuple[int, int]] = []
    start = -1
    for match in _ENTRY.finditer(body, root.end()):
        at = bisect_right(starts, match.start()) - 1
        if at >= 0 and match.start() < opaque[at][1]:
            return None  # `<entry` in a comment or CDATA section: read whole
        if match.group(1):
            tag = _END_TAG.match(body, match.start())
            if tag is None or start < 0:
                return None
            if ranges and body[ranges[-1][1] : start].strip():
                return None  # something between two entries: read whole
            ranges.append((start, tag.end()))
            start = -1
        else:
            tag = _START_TAG.match(body, match.start())
            if tag is None or tag.group(1) or start >= 0:
                return None  # not a tag we can read, `<entry/>` (read whole), or nested
            start = match.start()
    if start >= 0 or not ranges:
        return None
    return AtomCut(
        root=body[root.start() : root.end()],
        head=body[: ranges[0][0]],
        entries=tuple(ranges),
        tail=body[ranges[-1][1] :],
    )


def _opaque(body: bytes) -> list[tuple[int, int]] | None:
    """The comments and CDATA sections (where `<` is text); None for any other `<!` (a DOCTYPE) or
    one left open."""
    out: list[tuple[int, int]] = []
    at = 0
    while (start := body.find(b"<!", at)) >= 0:
        if body.startswith(b"<![CDATA[", start):
            end = body.find(b"]]>", start + 9)
        elif body.startswith(b"<!--", start):
            end = body.find(b"-->", start + 4)
        else:
            return None
        if end < 0:
            return None
        at = end + 3
        out.append((start, at))
    return out


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def context_of(root: bytes, *parts: str | None) -> bytes:
    """What an entry's reading depends on besides its own bytes: the root tag and the source's
    settings (URL, project, stream, version pattern)."""
    h = hashlib.blake2b(_FORMAT, digest_size=16)
    h.update(struct.pack(">I", len(root)) + root)
    for part in parts:
        raw = b"\xff" if part is None else part.encode("utf-8", "surrogatepass")
        h.update(struct.pack(">I", len(raw)) + raw)
    return h.digest()


_HEAD = struct.Struct(">16sI")
_ITEM = struct.Struct(">16sH")


@dataclass(frozen=True)
class EntryMemo:
    """The entries of a document's last reading: digest of its bytes → the version it gave ("" for
    an entry that gave none: it did not match `version_pattern`), in a context (`context_of`)."""

    context: bytes
    versions: dict[bytes, str]

    def encode(self) -> bytes:
        parts = [_HEAD.pack(self.context, len(self.versions))]
        for key, version in self.versions.items():
            raw = version.encode("utf-8", "surrogatepass")
            parts.append(_ITEM.pack(key, len(raw)) + raw)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | None) -> EntryMemo | None:
        """The memo stored with a document; None for none or for bytes that are not one (a memo is
        only a shortcut: the document is then read whole)."""
        if not data or len(data) < _HEAD.size:
            return None
        try:
            context, count = _HEAD.unpack_from(data)
            at = _HEAD.size
            versions: dict[bytes, str] = {}
            for _ in range(count):
                key, size = _ITEM.unpack_from(data, at)
                at += _ITEM.size
                versions[key] = data[at : at + size].decode("utf-8", "surrogatepass")
                at += size
        except (struct.error, UnicodeDecodeError):
            return None
        if at != len(data):
            return None
        return cls(context, versions)
