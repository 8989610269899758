"""Identity and likeness of notices: ids from normalised text, similar wording. Pure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection

from bot.text import markdown_to_text, sanitize, truncate_utf8

# -- identity and likeness -------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9][a-z0-9._+-]*[a-z0-9]|[a-z0-9]")
#: Words that say nothing about *what* goes away: grammar, release-notes vocabulary, channel names.
_STOPWORD_TEXT = """
    a an and are as at be been being but by can could did do does done for from had has have having he
    her here his how i if in into is it its just may more most must no not now of on once only or other
    our out over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who why will with
    would you your also any all both each few further again against about above after before below
    between during off per via yet able us one two use used using see read know please refer details
    information learn note future subsequent channel channels alpha beta stable lts edge release releases
    released version versions flatcar container linux os image images deprecated deprecation deprecate
    deprecates removed remove removes removal dropped drop drops support supported supports replaced
    replace replaces replacing no longer new existing nodes node users user announcement instead favour
    favor anymore since following section below above changes change changed entirely completely
    """
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _normalise(text: str) -> str:
    text = markdown_to_text(text).lower()
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"[\w./-]*#\d+", " ", text)  # references to pull requests and issues: scripts#1817
    return " ".join(re.findall(r"[a-z0-9]+(?:[.'’_-][a-z0-9]+)*", text))


def notice_id(version: str, text: str) -> str:
    """`<version>-<first 8 hex digits of sha256(normalised text)>`: the same notice text in the same
    release always gets the same id; markup, links, case and spacing do not count."""
    digest = hashlib.sha256(_normalise(text).encode("utf-8")).hexdigest()
    return f"{version}-{digest[:8]}"


def _tokens(text: str, *, parts: bool = True) -> frozenset[str]:
    """Significant words; `parts` adds the pieces of hyphenated words ("docker-1.12" → docker, 1.12)."""
    words: set[str] = set()
    for token in _TOKEN.findall(_normalise(text)):
        token = token.strip(".-_+")
        if not token:
            continue
        pieces = {token}
        if parts and "-" in token:
            pieces.update(p for p in token.split("-") if p)
        for piece in pieces:
            if piece in _STOPWORDS or len(piece) < 2 or piece.isdigit():
                continue
            words.add(piece)
    return frozenset(words)


def similar(a: str, b: str, *, rare: Collection[str] = ()) -> bool:
    """True when two notices are about the same thing: at least half of the significant words of the
    shorter one (and at least two, or all of one or two) appear in the other — or a quarter, when two
    of the shared words are `rare` (found in no other known notice, e.g. "torcx", "systemd-sysext")."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return False
    shared = ta & tb
    smaller = min(len(ta), len(tb))
    if len(shared) >= min(2, smaller) and len(shared) / smaller >= 0.5:
        return True
    return len(shared & set(rare)) >= 2 and len(shared) / smaller >= 0.25


def shorten(text: str, max_bytes: int = 220) -> str:
    """One sanitised line of at most `max_bytes` bytes (UTF-8), cut at a word with "…"."""
    return truncate_utf8(sanitize(text), max_bytes)
