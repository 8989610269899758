"""Bounds on what a source may hand the bot, applied by the parsers before anything is stored or
rendered (README, "Limits"). A fetched body is already capped by `http.max_bytes`; these keep one
field from becoming a 10 MB Subject, Message-ID or log line.

Text over its limit is cut with "…"; an identity (a version, an entry id used as a version) over its
limit is cut and ends with a hash of the whole value, so it stays unique and the same on every poll.
A link over its limit is dropped. Records past `MAX_RECORDS` in one document are ignored, with a
warning.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "MAX_ARCHITECTURE",
    "MAX_ARCHITECTURES",
    "MAX_CHANNEL",
    "MAX_LINK",
    "MAX_LOOSE",
    "MAX_NOTES",
    "MAX_PACKAGES",
    "MAX_PACKAGE_NAME",
    "MAX_PACKAGE_VERSION",
    "MAX_RECORDS",
    "MAX_TITLE",
    "MAX_VERSION",
    "cap_identity",
    "cap_notes",
    "cap_text",
    "shown",
]

MAX_RECORDS = 5_000  # releases (JSON records, feed entries) read from one document
MAX_VERSION = 100  # characters of a version (or the title/id a feed entry is known by)
MAX_TITLE = 300  # characters of a title
MAX_CHANNEL = 32  # characters of a channel name (letters, digits, ".", "_", "-")
MAX_LINK = 2_048  # characters of a link; a longer one is dropped
MAX_NOTES = 262_144  # characters of release notes (the largest real Flatcar notes: ~121,000)
MAX_PACKAGES = 100  # entries of `major_software`
MAX_PACKAGE_NAME = 100  # characters of a package name
MAX_PACKAGE_VERSION = 200  # characters of a package's versions
MAX_ARCHITECTURES = 16  # entries of `architectures`
MAX_ARCHITECTURE = 32  # characters of one architecture
MAX_LOOSE = 65_536  # characters of a list/dict stored as a string (old records), before it is parsed

NOTES_CUT = "\n\n[… release notes cut at {limit} characters]"


def cap_text(value: str, limit: int) -> str:
    """`value`, or its first characters and "…" so that the result has `limit` characters."""
    if len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + "…"


def cap_notes(value: str) -> str:
    if len(value) <= MAX_NOTES:
        return value
    return value[:MAX_NOTES] + NOTES_CUT.format(limit=MAX_NOTES)


def cap_identity(value: str, limit: int = MAX_VERSION) -> str:
    """`value`, or a unique stand-in of `limit` characters: a prefix, "…" and 16 hex digits of its hash."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return value[: limit - 17] + "…" + digest


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for a warning: repr (control characters escaped), at most `limit` characters."""
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**12):
        return repr(value)
    if not isinstance(value, str):
        return type(value).__name__  # never the repr of a hostile structure (size, depth)
    text = repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"
