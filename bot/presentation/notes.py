"""Release notes for mail: Markdown → plain text with footnote-style link references, and → sanitised
HTML. Pure.

The text part keeps every link as a numbered reference ("OpenSSH [3]" … "[3] https://…"; the same
URL keeps one number); an autolink whose text is its URL stays as it is. The HTML part is the notes'
Markdown rendered by markdown-it-py (CommonMark and tables; raw HTML in the notes is shown as text,
never passed on) and then cleaned by nh3 (Ammonia) with an allow-list: text structure, tables and
links only — no script, style, event attributes, images or forms; links only to http(s) and mailto,
with rel="noopener noreferrer". Notes that come as HTML (feeds) are cleaned the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.text import html_to_text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = ["ALLOWED_ATTRIBUTES", "ALLOWED_TAGS", "NotesText", "clean_html", "notes_html", "notes_text"]

#: What the HTML of notes may contain after cleaning.
ALLOWED_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: The most notes text rendered (the longest real notes are ~120 kB).
MAX_NOTES_CHARS = 1_000_000


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """The Markdown parser, made (and markdown-it imported) when notes are first rendered."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def clean_html(html: str) -> str:
    """HTML reduced to the allow-list (see the module doc)."""
    import nh3  # when notes are first cleaned, not by importing the sinks

    return nh3.clean(
        sanitize_html_input(html),
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def sanitize_html_input(html: str) -> str:
    """No NUL or other C0 controls (but tab and newline) reach the parser."""
    return "".join(ch for ch in html[:MAX_NOTES_CHARS] if ch >= " " or ch in "\t\n")


@lru_cache(maxsize=256)
def notes_html(notes: str, notes_format: str) -> str:
    """The notes as sanitised HTML ("" when empty)."""
    if not notes.strip():
        return ""
    if notes_format == "html":
        return clean_html(notes)
    if notes_format != "markdown":
        return clean_html("<pre>" + _escape(notes) + "</pre>")
    return clean_html(_markdown().render(notes[:MAX_NOTES_CHARS]))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- text with references ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NotesText:
    """The notes as plain text and the URLs its "[n]" references point to (number n = index + 1)."""

    text: str
    links: tuple[str, ...] = ()

    def references(self) -> list[str]:
        """ "[1] https://…" lines."""
        return [f"[{n}] {url}" for n, url in enumerate(self.links, start=1)]


@dataclass
class _Writer:
    links: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    lists: list[list[int]] = field(default_factory=list)  # per open list: [ordered(0/1), next number]
    prefix: str = ""  # the marker of the list item whose first paragraph comes next
    quote: int = 0

    def ref(self, url: str) -> int:
        return self.links.setdefault(url, len(self.links) + 1)

    def indent(self) -> str:
        return "  " * max(len(self.lists) - 1, 0) + ("  " if self.lists and not self.prefix else "")

    def block(self, text: str, *, gap: bool = True) -> None:
        if gap and self.lines and self.lines[-1] != "" and not (self.lists and not self.prefix):
            self.lines.append("")
        lead = "> " * self.quote
        first = True
        for line in text.split("\n"):
            if first and self.prefix:
                self.lines.append(lead + "  " * (len(self.lists) - 1) + self.prefix + line)
                self.prefix = ""
            else:
                self.lines.append(lead + self.indent() + line if line else lead.rstrip())
            first = False


def _inline(tokens: Sequence[Token], writer: _Writer) -> str:
    out: list[str] = []
    href: list[tuple[str, int]] = []  # open links: (url, position of their text)
    for token in tokens:
        kind = token.type
        if kind == "text":
            out.append(token.content)
        elif kind == "code_inline":
            out.append(f"`{token.content}`")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link_open":
            href.append((str(token.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and href:
            url, start = href.pop()
            label = "".join(out[start:]).strip()
            if url.lower().startswith(("http://", "https://", "mailto:")) and label not in (
                url,
                f"mailto:{url}",
            ):
                out.append(f" [{writer.ref(url)}]")
        elif kind == "image":
            out.append(token.content or "image")
        elif kind == "html_inline":
            out.append(token.content)
    return "".join(out)


def _render(tokens: Sequence[Token], writer: _Writer) -> None:
    row: list[str] = []
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            writer.prefix = ""
        elif kind == "inline":
            text = _inline(token.children or (), writer)
            if row is not None and token.level and _in_table(token):
                row.append(text)
                continue
            writer.block(text, gap=not writer.prefix)
        elif kind == "heading_close":
            last = writer.lines[-1] if writer.lines else ""
            writer.lines.append("-" * min(max(len(last.strip()), 3), 72))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if not writer.lists and writer.lines and writer.lines[-1] != "":
                writer.lines.append("")
            start = int(token.attrGet("start") or 1)
            writer.lists.append([kind == "ordered_list_open", start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            writer.lists.pop()
            if not writer.lists:
                writer.lines.append("")
        elif kind == "list_item_open":
            ordered, number = writer.lists[-1]
            writer.prefix = f"{number}. " if ordered else "- "
            writer.lists[-1][1] = number + 1
        elif kind in ("fence", "code_block"):
            writer.block("\n".join("    " + line for line in token.content.rstrip("\n").split("\n")))
        elif kind == "hr":
            writer.block("----")
        elif kind == "blockquote_open":
            writer.quote += 1
        elif kind == "blockquote_close":
            writer.quote -= 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            writer.block(" | ".join(row), gap=False)
            row = []
        elif kind == "table_close":
            writer.lines.append("")
        elif kind == "html_block":
            writer.block(token.content.strip())


def _in_table(token: Token) -> bool:
    return bool(token.meta.get("in_table")) if token.meta else False


def _mark_table_cells(tokens: Sequence[Token]) -> None:
    depth = 0
    for token in tokens:
        if token.type in ("th_open", "td_open"):
            depth += 1
        elif token.type in ("th_close", "td_close"):
            depth -= 1
        elif token.type == "inline" and depth:
            token.meta = {**(token.meta or {}), "in_table": True}


_ANCHOR = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.S)


def _html_text(notes: str) -> NotesText:
    """HTML notes (feeds) as text, their links as "[n]" references too."""
    writer = _Writer()

    def anchor(match: re.Match[str]) -> str:
        url, label = html.unescape(match.group(1)), match.group(2)
        shown = html.unescape(re.sub(r"<[^>]*>", "", label)).strip()
        if not url.lower().startswith(("http://", "https://", "mailto:")) or shown in (url, f"mailto:{url}"):
            return label
        return f"{label} [{writer.ref(url)}]"

    text = html_to_text(_ANCHOR.sub(anchor, clean_html(notes)))
    return NotesText(text, tuple(writer.links))


@lru_cache(maxsize=256)
def notes_text(notes: str, notes_format: str) -> NotesText:
    """The notes as plain text with "[n]" link references (see the module doc)."""
    if notes_format == "html":
        return _html_text(notes)
    if notes_format != "markdown":
        return NotesText(notes.strip())
    tokens = _markdown().parse(notes[:MAX_NOTES_CHARS])
    _mark_table_cells(tokens)
    writer = _Writer()
    _render(tokens, writer)
    lines: list[str] = []
    for line in writer.lines:
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return NotesText("\n".join(lines).strip("\n"), tuple(writer.links))
