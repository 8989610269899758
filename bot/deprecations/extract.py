"""Extraction: Markdown release notes → the deprecation and removal notices they carry (see
`bot.deprecations`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.deprecations.identity import _tokens, similar
from bot.text import markdown_to_text, sanitize, sanitize_multiline

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
