"""Deprecation and removal notices: release notes → notices, and notices followed across channels. Pure.

**Extraction** (`extract_notices`) reads Flatcar's Markdown release notes of every era — bold headings
(`**Deprecation**`, 2021), `####` headings (`#### Breaking changes`, 2025), lead paragraphs
(`**This release removes the legacy "torcx" …**`) and plain list items. The notes are cut into blocks
(a paragraph, or a list item together with its sub-items), each under the heading it appears below:

- every block under a *notice heading* (Deprecation, Breaking changes, Removals, …) is a notice;
- blocks under *routine headings* (Security fixes, Bug fixes, Updates, Known issues, …) are not — so
  an ordinary update line such as "- containerd (1.7.27)" is not a notice — unless they say "breaking
  change"; the plain labels of the 2018–2020 notes ("Changes:", "Bug fixes:") are headings too;
- any other block is a notice when it says so: "deprecat…" (not "non-deprecated"), "will be removed",
  "will remove", "has been removed", "removed entirely/from …", "dropped support", "no longer
  supported/built/published/…", "end of life", "end of its … lifespan", "no more releases", "breaking",
  a whole architecture, image or platform removed or dropped ("Remove ARM64 architecture"), or a ⚠
  warning sign next to "removed"/"dropped";
- a lead paragraph (before any heading) or one under a heading of its own ("Update to CGroupsV2") is
  an announcement; it is a notice also when it "removes", "replaces", changes something "by default"
  or asks users to "migrate".

A changelog line that only starts with "Removed …" is an ordinary change, not a notice.

**Identity**: a notice is identified by the release it first appeared in and a hash of its normalised
text. Later releases repeat notices — the same text in the next alpha, or reworded in the beta, stable
or LTS notes ("… are deprecated and removed from Beta"). A block is such a restatement, not a new
notice, when it has the same text as a known notice of any channel (a backport told in stable first,
then in the next beta and alpha, is one notice); or, for a known notice of the same or an earlier
channel, when it shares at least half of its significant words with it and that notice is of the same
or an earlier major (a quarter, when two of them are found in no other notice, like "torcx" and
"systemd-sysext"); or names that notice's release ("From Alpha 3794.0.0 Torcx has been removed") and
shares a word with it. A second block of the same release about the same thing (a lead paragraph and
its details) joins the first.

**Following** (`detect_deprecations`): Flatcar's channels ship every earlier alpha major's changes, so a
notice first seen in alpha major N reaches beta, stable and LTS with the first release of that channel
whose major is N or later (alpha 2801.0.0 → beta 2801.1.0 → stable 2905.2.0 → LTS 3033.3.0) — or
earlier, with a release of an older major whose notes carry the notice's very words (a backport: alpha
1883.0.0 → beta 1855.3.0). Each of those is one event, keyed `deprecation:<source>/<notice-id>/<channel>`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from bot.channels import LADDER
from bot.model import DeprecationEvent, Notice, Reach, Release, version_key
from bot.text import markdown_to_text, sanitize, sanitize_multiline, truncate_utf8

__all__ = [
    "DeprecationDetection",
    "ExtractedNotice",
    "detect_deprecations",
    "extract_notices",
    "notice_id",
    "shorten",
    "similar",
]

# -- cutting notes into blocks ---------------------------------------------------------------------

_ATX = re.compile(r"^\s{0,3}#{1,6}\s+(?P<t>.+?)\s*#*\s*$")
#: The plain section labels of the 2018–2020 notes ("Changes:", "Bug fixes:", "Updates:" on a line of
#: their own, the items right below), which are headings too.
_LABEL = re.compile(r"^\s{0,3}(?P<t>[A-Za-z][A-Za-z /-]{1,38}):\s*$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(?P<t>[^*_].*?)\1\s*:?\s*$")
_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|\d{1,3}[.)])\s+(?P<t>\S.*)$")
_LINK_URL = re.compile(r"\]\((https?://[^()\s]+(?:\([^()\s]*\)[^()\s]*)*)\)|<(https?://[^>\s]+)>")
_BARE_URL = re.compile(r"(?<![(<\[])\bhttps?://[^\s)>\]]+")


@dataclass
class _Block:
    heading: str | None  # the heading above it, None before the first one
    indent: int
    item: bool
    lines: list[str] = field(default_factory=list)  # the first line, then sub-items ("- …")

    def raw(self) -> str:
        return "\n".join(self.lines)


def _heading(line: str) -> str | None:
    match = _ATX.match(line)
    if match:
        return match.group("t").strip().rstrip(":").strip()
    match = _LABEL.match(line)
    if match and len(match.group("t").split()) <= 4:
        return match.group("t").strip()
    match = _BOLD_LINE.match(line)
    if match:
        text = match.group("t").strip()
        # A whole bold sentence is a lead paragraph, not a heading.
        if len(text) <= 80 and not text.endswith((".", "!")):
            return text.rstrip(":").strip()
    return None


def _blocks(notes: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    heading: str | None = None
    for raw in notes.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.expandtabs(4)
        if not line.strip():
            current = None
            continue
        title = _heading(line)
        if title is not None:
            heading, current = title, None
            continue
        item = _ITEM.match(line)
        if item:
            indent = len(item.group("indent"))
            text = item.group("t").strip()
            if current is not None and current.item and indent > current.indent + 1:
                current.lines.append("- " + text)  # a sub-item belongs to its parent's notice
                continue
            current = _Block(heading, indent, True, [text])
            blocks.append(current)
            continue
        if current is not None:
            current.lines[-1] += " " + line.strip()
            continue
        current = _Block(heading, len(line) - len(line.lstrip()), False, [line.strip()])
        blocks.append(current)
    return blocks


# -- what makes a block a notice -------------------------------------------------------------------

_NOTICE_HEADING = re.compile(
    r"deprecat|breaking|removal|removed|discontinu|end[- ]of[- ]life|\beol\b|action required", re.I
)
_ROUTINE_HEADING = re.compile(
    r"^(?:security|bug|bux|fix|updates?$|package|flatcar updates|\[?upstream|known|notes?$"
    r"|new\b|initial release|(?:alpha|beta|stable|lts)\b)",
    re.I,
)
_CHANGES_HEADING = re.compile(r"^(?:other )?(?:notable )?changes(?: (?:since|compared)\b.*)?$", re.I)

_STRONG = re.compile(
    r"(?<!non-)(?<!non)\bdeprecat\w*"
    r"|\b(?:will|would|shall|is going to|are going to) be (?:removed|dropped|deprecated|discontinued)\b"
    r"|\bwill (?:remove|drop|deprecate|discontinue)\b"
    r"|\b(?:has|have|had) been (?:removed|dropped|discontinued)\b"
    r"|\b(?:is|are) (?:now )?(?:removed|dropped|discontinued)\b"
    r"|\bremoved (?:entirely|completely|from (?:the )?(?:image|os|alpha|beta|stable|lts|all)\b)"
    r"|\bdrop(?:ped|s|ping)? (?:the )?support\b"
    r"|\bno longer (?:be )?(?:support|ship|build|built|publish|provid|available|includ|maintain)\w*"
    r"|\bend[- ]of[- ]life\b|\bEOL\b"
    r"|\bend of (?:its|their|the) (?:\d+[- ]months? )?(?:lifespan|lifetime|life|support)\b"
    r"|\bno more (?:releases|updates|security updates)\b"
    # a whole architecture, image or platform going away ("Remove ARM64 architecture", "Dropped the
    # VMware "insecure" image") — not something removed *from* the image
    r"|\b(?:remov(?:e|es|ed)|drop(?:s|ped)?)(?: (?!(?:from|in|of|to|on)\b)[\w\"“”'./-]+){1,3}"
    r" (?:architecture|image|images|platform|platforms)\b"
    r"|\bbreaking\b",
    re.I,
)
_BREAKING_CHANGE = re.compile(r"\bbreaking changes?\b", re.I)
_WARNING = re.compile(r"⚠|:warning:")
_WARNED_REMOVAL = re.compile(r"\b(?:removed|dropped|deleted|removes|drops)\b", re.I)
_HEADLINE = re.compile(
    r"\bremoves?\b|\breplac(?:e|es|ed)\b|\bby default\b|\bmigrat(?:e|es|ed|ion)\b|\bno longer\b", re.I
)


def _section_class(heading: str | None) -> str:
    if heading is None:
        return "lead"
    if _NOTICE_HEADING.search(heading):
        return "notice"
    if _CHANGES_HEADING.match(heading):
        return "changes"
    if _ROUTINE_HEADING.match(heading):
        return "routine"
    return "headline"


def _says_so(text: str, *, headline: bool) -> bool:
    if _STRONG.search(text):
        return True
    if _WARNING.search(text) and _WARNED_REMOVAL.search(text):
        return True
    return headline and bool(_HEADLINE.search(text))


def _is_notice(block: _Block) -> bool:
    section = _section_class(block.heading)
    if section == "routine":
        # only an explicit "breaking change" stands out of a bug fix list ("Use newest network interface
        # naming scheme — It is a possible breaking change for some persistent network interface names")
        return bool(_BREAKING_CHANGE.search(block.raw()))
    if section == "notice" and block.item:
        return True
    headline = section in ("lead", "headline", "notice") and not block.item
    return _says_so(block.raw(), headline=headline)


def _summary_line(block: _Block) -> str:
    """The line that says what goes away: the block's first line, unless only a sub-item says it — then
    that sub-item, after its parent when the parent is short and about the same thing ("Use newest
    network interface naming scheme: It is a possible breaking change for some persistent network
    interface names"; not so in notes whose indentation went wrong)."""
    section = _section_class(block.heading)
    if section == "notice" or _says_so(block.lines[0], headline=True):
        return block.lines[0]
    for line in block.lines[1:]:
        if _says_so(line, headline=False):
            parent = _REFERENCES.sub("", markdown_to_text(block.lines[0])).strip().rstrip(":.")
            line = line.removeprefix("- ")
            if parent and len(parent) <= _SHORT_PARENT and _tokens(parent) & _tokens(line):
                return f"{parent}: {line}"
            return line
    return block.lines[0]


_REFERENCES = re.compile(r"\s*\((?:[^()]*(?:https?://|#\d)[^()]*)\)")  # "(https://…)", "(scripts#12)"
_SHORT_PARENT = 100
#: Where in a one-line summary the words that make it a notice must start to be seen on IRC: a later
#: sentence that says it begins the summary ("Bumped etcd and flannel to 3.5.0, 0.14.0 … Note for users
#: of the old etcd v2 support: … this support will be removed in 3.6.0" → from "Note for users").
_FOCUS_WITHIN = 150
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _focus(line: str) -> str:
    match = _STRONG.search(line)
    if match is None or match.start() < _FOCUS_WITHIN:
        return line
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(line, 0, match.start())]
    return line[starts[-1] :]


# -- the notice itself -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractedNotice:
    """A notice as found in one release's notes."""

    text: str  # plain text; sub-items on their own "- " lines
    summary: str  # one sanitised line
    heading: str  # the section it was under, "" for a lead paragraph
    links: tuple[str, ...]


def _links(markdown: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in _LINK_URL.finditer(markdown):
        url = match.group(1) or match.group(2)
        if url not in found:
            found.append(url)
    for url in _BARE_URL.findall(markdown):
        if url not in found:
            found.append(url)
    return tuple(found[:5])


def _summary(heading: str, first_line: str, section: str) -> str:
    line = _focus(sanitize(markdown_to_text(first_line)))
    if section == "headline" and heading and heading.lower() not in line.lower():
        line = f"{sanitize(markdown_to_text(heading))}: {line}"
    return line


def extract_notices(notes: str) -> list[ExtractedNotice]:
    """The deprecation/removal notices in one release's Markdown notes, in order (see the module doc)."""
    found: list[ExtractedNotice] = []
    for block in _blocks(notes):
        if not _is_notice(block):
            continue
        section = _section_class(block.heading)
        parts = [markdown_to_text(block.lines[0])]
        parts += ["- " + markdown_to_text(line.removeprefix("- ")) for line in block.lines[1:]]
        text = sanitize_multiline("\n".join(p for p in parts if p.strip()))
        if not text.strip():
            continue
        heading = sanitize(markdown_to_text(block.heading or ""))
        found.append(
            ExtractedNotice(
                text=text,
                summary=_summary(heading, _summary_line(block), section),
                heading=heading,
                links=_links(block.raw()),
            )
        )
    return _merge_same_release(found)


def _merge_same_release(notices: list[ExtractedNotice]) -> list[ExtractedNotice]:
    """A release that announces one thing twice (a lead paragraph and its details below) gives one
    notice: the first, with the details' text and links added."""
    kept: list[ExtractedNotice] = []
    for notice in notices:
        for index, other in enumerate(kept):
            if similar(notice.text, other.text):
                links = other.links + tuple(u for u in notice.links if u not in other.links)
                kept[index] = ExtractedNotice(
                    text=f"{other.text}\n\n{notice.text}",
                    summary=other.summary,
                    heading=other.heading,
                    links=links[:5],
                )
                break
        else:
            kept.append(notice)
    return kept


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


# -- following notices across channels ------------------------------------------------------------


@dataclass(frozen=True)
class DeprecationDetection:
    """`notices` and `reaches` are new state to record; `events` the ones worth announcing, in order."""

    notices: tuple[Notice, ...]
    reaches: tuple[Reach, ...]
    events: tuple[DeprecationEvent, ...]


def _rank(channel: str) -> int | None:
    return LADDER.index(channel) if channel in LADDER else None


def _major(version: str | None) -> int | None:
    if not version:
        return None
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def detect_deprecations(
    releases: Sequence[tuple[Release, bool]],
    known: Iterable[Notice],
    reached: Collection[tuple[str, str]],
) -> DeprecationDetection:
    """Notices and channel reaches caused by new releases, oldest release first.

    `releases` are the releases being recorded, each with whether it is announced (a release recorded
    silently — a baseline — records its notices and reaches silently too). `known` are the notices
    already stored for the source, `reached` its stored (notice id, channel) pairs. Only releases of the
    channel ladder (alpha, beta, stable, lts) are read; notes in Markdown only (Flatcar's).
    """
    notices: dict[str, Notice] = {n.id: n for n in known}
    memory = _Memory(notices.values())
    done: set[tuple[str, str]] = set(reached)
    new_notices: list[Notice] = []
    new_reaches: list[Reach] = []
    events: list[DeprecationEvent] = []

    def order(item: tuple[Release, bool]) -> tuple[object, ...]:
        release = item[0]
        stamp = release.published.timestamp() if release.published else 0.0
        return (stamp, _rank(release.channel) or 0, version_key(release.version))

    def reach(notice: Notice, release: Release, announce: bool) -> None:
        arrived = Reach(
            source=notice.source,
            notice_id=notice.id,
            channel=release.channel,
            stream=release.stream,
            version=release.version,
            published=release.published,
            link=release.link,
        )
        done.add((notice.id, release.channel))
        new_reaches.append(arrived)
        if announce:
            events.append(DeprecationEvent(notice=notice, reach=arrived))

    for release, announce in sorted(releases, key=order):
        rank = _rank(release.channel)
        major = _major(release.version)
        if rank is None or major is None:
            continue
        # 1. notices of earlier channels that this release's channel now ships
        for notice in list(notices.values()):
            first = _rank(notice.channel)
            notice_major = _major(notice.version)
            if first is None or notice_major is None or first >= rank or major < notice_major:
                continue
            if (notice.id, release.channel) not in done:
                reach(notice, release, announce)
        # 2. notices in this release's notes
        if release.notes_format != "markdown" or not release.notes.strip():
            continue
        for found in extract_notices(release.notes):
            same = memory.same_text(found.text)
            if same is not None:
                # the very words of an earlier channel's notice in an older major of this channel: a
                # backport (beta 1855.3.0 after alpha 1883.0.0) — the notice is here now
                first = _rank(same.channel)
                if first is not None and first < rank and (same.id, release.channel) not in done:
                    reach(same, release, announce)
                continue
            if memory.restates(found.text, release):
                continue
            ident = notice_id(release.version, found.text)
            notice = Notice(
                source=release.source,
                project=release.project,
                id=ident,
                text=found.text,
                summary=found.summary,
                channel=release.channel,
                stream=release.stream,
                version=release.version,
                published=release.published,
                link=release.link,
                heading=found.heading,
                links=found.links,
            )
            notices[ident] = notice
            memory.add(notice)
            new_notices.append(notice)
            reach(notice, release, announce)
    return DeprecationDetection(tuple(new_notices), tuple(new_reaches), tuple(events))


class _Memory:
    """The known notices, with what recognising a restatement needs: normalised texts and how many
    notices each significant word appears in."""

    def __init__(self, notices: Iterable[Notice]) -> None:
        self.notices: list[Notice] = []
        self.digests: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        for notice in notices:
            self.add(notice)

    def add(self, notice: Notice) -> None:
        self.notices.append(notice)
        self.digests[notice.id] = notice_id("", notice.text)
        self.counts.update(_tokens(notice.text))

    def same_text(self, text: str) -> Notice | None:
        """The known notice with this very text (markup, links, case and spacing aside), if any."""
        digest = notice_id("", text)
        return next((n for n in self.notices if self.digests[n.id] == digest), None)

    def restates(self, text: str, release: Release) -> bool:
        """A notice repeated or reworded: the same text, from any channel (a change backported to
        stable first and told again in the next beta and alpha — 2345.3.1 → 2411.1.1 → 2466.0.0 — is
        one notice); or, from the same or an earlier channel, similar text of the same or an earlier
        major, or text naming that notice's release ("From Alpha 3794.0.0 Torcx has been removed") and
        sharing a word with it."""
        rank = _rank(release.channel)
        major = _major(release.version)
        assert rank is not None and major is not None
        digest = notice_id("", text)
        words = _tokens(text)
        for notice in self.notices:
            first = _rank(notice.channel)
            notice_major = _major(notice.version)
            if first is None or notice_major is None:
                continue
            if self.digests[notice.id] == digest:
                return True
            if first > rank:
                continue
            theirs = _tokens(notice.text)
            if notice.version and notice.version in text and (words & theirs) - {notice.version}:
                return True
            if notice_major > major:
                continue
            rare = {w for w in words & theirs if self.counts[w] <= 1}
            if similar(text, notice.text, rare=rare):
                return True
        return False


def shorten(text: str, max_bytes: int = 220) -> str:
    """One sanitised line of at most `max_bytes` bytes (UTF-8), cut at a word with "…"."""
    return truncate_utf8(sanitize(text), max_bytes)
