"""A changed plain Atom feed read only for the entries it did not have when it was last read.

The body is cut into its entries (`bot.sources.atomsplit.cut_atom`); each entry whose bytes hash to
one remembered from the last reading (in the same context: root tag, URL, project, stream, version
pattern) gives the version it gave then, unread; the others are read from a smaller document (the
head, those entries, the tail) by `bot.sources.atomfast`. The cut is trusted only when the reader
gives exactly one entry per slice it was handed.

Why that is safe: a remembered version was recorded as a release of the source in the transaction
that stored the memo, and releases are never deleted, so detection (keyed by version) finds it known
whether or not the entry is read again; an entry with new bytes is always read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sources.atomfast import read_atom
from bot.sources.atomsplit import EntryMemo, context_of, cut_atom, digest
from bot.sources.limits import MAX_RECORDS

__all__ = ["Reading", "read_remembered"]

#: an entry: read (feedparser's keys), or remembered (the version it gave; "" for none)
Item = dict[str, Any] | str


@dataclass(frozen=True)
class Reading:
    """A body read with a memo: its items in feed order (None: the fast reader refused the body, so
    feedparser reads it), the digests of the entries (None: no memo from this reading) and the
    context of the next memo."""

    items: list[Item] | None
    digests: list[bytes] | None = None
    context: bytes = b""

    def memo(self, versions: list[str]) -> bytes | None:
        """The memo to store: each item's version ("" for none), keyed by its digest."""
        if self.digests is None:
            return None
        return EntryMemo(self.context, dict(zip(self.digests, versions, strict=True))).encode()


def read_remembered(body: bytes, remembered: bytes | None, *context: str | None) -> Reading | None:
    """The entries of a plain Atom body, the remembered ones unread; None when the body cannot be cut
    (it is read whole, as before)."""
    cut = cut_atom(body)
    if cut is None or len(cut.entries) > MAX_RECORDS:
        return None
    key = context_of(cut.root, *context)
    memo = EntryMemo.decode(remembered)
    known = memo.versions if memo is not None and memo.context == key else {}
    digests = [digest(body[start:end]) for start, end in cut.entries]
    missing = [i for i, d in enumerate(digests) if d not in known]
    if len(missing) == len(digests):
        read = read_atom(body)
        if read is None or len(read) != len(digests):
            # refused, or a cut that is not one entry per slice: read whole, no memo
            return Reading(None if read is None else list[Item](read))
    else:
        part = b"".join(body[cut.entries[i][0] : cut.entries[i][1]] for i in missing)
        read = read_atom(cut.head + part + cut.tail)
        if read is None or len(read) != len(missing):
            return None  # read whole, as before
    items: list[Item] = [known.get(d, "") for d in digests]
    for i, entry in zip(missing, read, strict=True):
        items[i] = entry
    return Reading(items, digests, key)
