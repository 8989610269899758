"""Pure text helpers: HTML/Markdown to plain text, the one sanitiser, UTF-8 byte-exact splitting.

Nothing here does I/O. Every function takes and returns ``str``.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata

__all__ = [
    "html_to_text",
    "markdown_to_text",
    "sanitize",
    "sanitize_body",
    "sanitize_multiline",
    "split_utf8",
    "truncate_utf8",
]

# --------------------------------------------------------------------------------------------------------
# HTML → text
# --------------------------------------------------------------------------------------------------------

_HSPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML fragment (e.g. an Atom entry's content).

    Script and style contents are dropped, block elements become line breaks, list items get a "- "
    prefix, links keep their text only, entities are unescaped exactly once, runs of spaces collapse and
    there is at most one blank line in a row.
    """
    from bot.htmltext import TextExtractor  # html.parser loads with the first HTML to read

    parser = TextExtractor()
    parser.feed(html)
    parser.close()
    return _tidy_lines("".join(parser.parts))


def _tidy_lines(text: str) -> str:
    lines: list[str] = []
    for raw in text.split("\n"):
        stripped = raw.strip()
        if not stripped:
            lines.append("")
            continue
        indent = raw[: len(raw) - len(raw.lstrip(" "))] if raw.lstrip(" ").startswith("- ") else ""
        lines.append(indent + _HSPACE.sub(" ", stripped))
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------------------------------------
# Markdown → text
# --------------------------------------------------------------------------------------------------------

_MD_ESCAPABLE = "\\`*_{}[]()#+-.!|<>~"
_ESC_BASE = 0xF0000  # Supplementary Private Use Area-A: placeholders for backslash-escaped characters.


class _Markdown:
    """The regexes of `markdown_to_text`, compiled when Markdown is first read (`_md()`), not when
    `bot.text` is imported (nearly everything imports it, for the sanitiser)."""

    def __init__(self) -> None:
        self.escape = re.compile(r"\\([" + re.escape(_MD_ESCAPABLE) + r"])")
        self.fence = re.compile(r"^\s*(```|~~~)")
        self.heading = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)")
        self.heading_tail = re.compile(r"\s+#+\s*$")
        self.bullet = re.compile(r"^(\s*)[-*+]\s+")
        self.ordered = re.compile(r"^(\s*)(\d{1,9}[.)])\s+")
        self.rule = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
        self.quote = re.compile(r"^\s{0,3}>\s?")
        # [text](url) and ![alt](url); the URL may contain one level of balanced parentheses.
        self.link = re.compile(r"!?\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
        self.ref_link = re.compile(r"!?\[([^\]]+)\]\[[^\]]*\]")
        self.autolink = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
        self.strong = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
        self.emph_star = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
        self.emph_under = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
        self.strike = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


@functools.cache
def _md() -> _Markdown:
    return _Markdown()


def _md_inline(text: str) -> str:
    md = _md()
    text = md.link.sub(r"\1", text)
    text = md.ref_link.sub(r"\1", text)
    text = md.autolink.sub(r"\1", text)
    text = text.replace("`", "")
    for _ in range(3):  # nested emphasis, e.g. _Changes since **Stable 1.2.3**_
        before = text
        text = md.strong.sub(r"\2", text)
        text = md.strike.sub(r"\1", text)
        text = md.emph_star.sub(r"\1", text)
        text = md.emph_under.sub(r"\1", text)
        if text == before:
            break
    return text


def markdown_to_text(md: str) -> str:
    """Light Markdown → plain text, good enough for release notes as Flatcar writes them.

    ``[text](url)`` → ``text``; ``**``, ``__``, ``_emph_``, ``*emph*`` and backticks are stripped;
    heading hashes removed; "- " bullets kept ("*"/"+" bullets become "- "); blank lines collapse.
    """
    patterns = _md()
    md = md.replace("\r\n", "\n").replace("\r", "\n")
    md = patterns.escape.sub(lambda m: chr(_ESC_BASE + _MD_ESCAPABLE.index(m.group(1))), md)
    out: list[str] = []
    in_fence = False
    for line in md.split("\n"):
        if patterns.fence.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line.rstrip())
            continue
        if not line.strip():
            out.append("")
            continue
        if patterns.rule.match(line):
            out.append("")
            continue
        line = patterns.quote.sub("", line)
        if patterns.heading.match(line):
            line = patterns.heading_tail.sub("", patterns.heading.sub("", line))
            out.append(_HSPACE.sub(" ", _md_inline(line)).strip())
            continue
        prefix = ""
        bullet = patterns.bullet.match(line)
        ordered = patterns.ordered.match(line)
        if bullet:
            prefix = ("  " if len(bullet.group(1)) >= 2 else "") + "- "
            line = line[bullet.end() :]
        elif ordered:
            prefix = ("  " if len(ordered.group(1)) >= 2 else "") + ordered.group(2) + " "
            line = line[ordered.end() :]
        out.append(prefix + _HSPACE.sub(" ", _md_inline(line)).strip())
    text = "\n".join(out)
    text = "".join(
        _MD_ESCAPABLE[ord(ch) - _ESC_BASE] if _ESC_BASE <= ord(ch) < _ESC_BASE + len(_MD_ESCAPABLE) else ch
        for ch in text
    )
    return _MANY_NEWLINES.sub("\n\n", text).strip()


# --------------------------------------------------------------------------------------------------------
# Sanitising untrusted text
# --------------------------------------------------------------------------------------------------------

# mIRC colour (\x03 + fg[,bg]) and hex colour (\x04 + RRGGBB[,RRGGBB]) codes, with their digits.
_IRC_COLOUR = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?")
#: Characters that separate words or lines: they become a space (or a newline in multi-line mode).
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")
_WS_RUN = re.compile(r"\s+")
#: Unicode categories removed outright: controls (incl. IRC formatting codes), format characters
#: (zero-width, bidi embeddings/overrides/isolates, BOM, …), lone surrogates (unencodable as UTF-8).
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def _clean_chars(text: str, *, keep_newlines: bool) -> str:
    text = _IRC_COLOUR.sub("", text)
    if keep_newlines:
        text = text.replace("\r\n", "\n")
    out: list[str] = []
    for ch in text:
        if ch in _LINE_BREAKS:
            out.append("\n" if keep_newlines and ch not in "\x0b\x0c" else " ")
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in _REMOVED_CATEGORIES:
            continue
        elif ch.isspace():  # NBSP, ideographic space, …
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def sanitize(text: str) -> str:
    """The one sanitiser for untrusted text going to IRC (and mail headers): a single safe line.

    Removes every control character (C0, DEL, C1 — so NUL, CTCP \\x01 and IRC formatting codes, with the
    digits of a colour code), Unicode format characters (zero-width, bidi overrides/isolates, BOM) and
    lone surrogates. Newlines, tabs and line/paragraph separators become spaces, runs of whitespace
    collapse to one space, and the result is stripped.
    """
    return _WS_RUN.sub(" ", _clean_chars(text, keep_newlines=False)).strip()


def sanitize_multiline(text: str) -> str:
    """Like `sanitize`, but keeps line structure, for mail bodies.

    "\\r\\n", lone "\\r" and U+2028/U+2029/U+0085 become "\\n"; other controls and format characters
    are removed, tabs become a space. Within each line runs of spaces collapse to one (leading
    indentation is kept) and trailing whitespace is dropped; at most one blank line in a row; leading
    and trailing blank lines are dropped.
    """
    lines: list[str] = []
    for raw in _clean_chars(text, keep_newlines=True).split("\n"):
        body = raw.lstrip(" ")
        indent = raw[: len(raw) - len(body)]
        body = re.sub(r" {2,}", " ", body).rstrip()
        lines.append(indent + body if body else "")
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip("\n")


def sanitize_body(text: str) -> str:
    """The sanitiser for mail and mbox bodies (text and HTML parts): the same characters go as in
    `sanitize` (controls, IRC formatting and colour codes, format/bidi characters, lone surrogates), but
    the layout stays exactly as it is: newlines ("\\r\\n", lone "\\r", U+2028/U+2029/U+0085 become
    "\\n"), spaces and tabs are kept, so tables and indentation survive; form feed and vertical tab
    become a newline.
    """
    text = _IRC_COLOUR.sub("", text).replace("\r\n", "\n")
    if all(line.isprintable() for line in text.split("\n")):
        return text  # the common case, at C speed
    out: list[str] = []
    for ch in text:
        if ch in _LINE_BREAKS:
            out.append("\n")
        elif ch == "\t" or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in _REMOVED_CATEGORIES:
            continue
        else:
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------------------------------------
# UTF-8 byte budgets
# --------------------------------------------------------------------------------------------------------

_ZWJ = "\u200d"


def _extends_grapheme(ch: str) -> bool:
    """True if `ch` belongs to the grapheme before it (combining mark, ZWJ, emoji modifier, tag)."""
    if ch == _ZWJ:
        return True
    cp = ord(ch)
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return True
    return unicodedata.category(ch) in ("Mn", "Me", "Mc")


def _offsets(text: str) -> list[int]:
    """offsets[i] = UTF-8 byte length of text[:i]."""
    offsets = [0]
    total = 0
    for ch in text:
        total += len(ch.encode("utf-8", "surrogatepass"))
        offsets.append(total)
    return offsets


def _fit(offsets: list[int], start: int, budget: int) -> int:
    """Largest character index j ≥ start with offsets[j] - offsets[start] ≤ budget."""
    return bisect.bisect_right(offsets, offsets[start] + budget) - 1


def _grapheme_cut(text: str, start: int, end: int) -> int:
    """Move a hard cut at `end` back so it does not separate a base character from its marks."""
    j = end
    while j > start and j < len(text) and (_extends_grapheme(text[j]) or text[j - 1] == _ZWJ):
        j -= 1
    return j if j > start else end


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Split `text` into pieces that each encode to at most `max_bytes` bytes of UTF-8.

    Breaks at the last space that fits (the space is dropped); a word longer than the limit is cut at a
    character boundary, avoiding cuts between a base character and its combining marks where possible.
    Never returns empty (or all-space) pieces. Raises ValueError if max_bytes < 4 (one character of
    UTF-8 can take 4 bytes).
    """
    if max_bytes < 4:
        raise ValueError(f"max_bytes must be at least 4, got {max_bytes}")
    offsets = _offsets(text)
    n = len(text)
    pieces: list[str] = []
    start = 0
    while start < n:
        end = _fit(offsets, start, max_bytes)
        if end >= n:
            piece, start = text[start:], n
        elif text[end] == " ":
            piece, start = text[start:end], end + 1
        else:
            space = text.rfind(" ", start, end)
            if space > start:
                piece, start = text[start:space], space + 1
            elif space == start:  # the window starts with a space: drop it and look again
                start += 1
                continue
            else:
                cut = _grapheme_cut(text, start, end)
                piece, start = text[start:cut], cut
        if piece.strip(" "):
            pieces.append(piece)
    return pieces


def truncate_utf8(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """`text` unchanged if it fits in `max_bytes` of UTF-8; else cut and `ellipsis` appended.

    The cut is at a word boundary if there is one within the last 30% of the kept text, else at a
    character boundary. The result (ellipsis included) encodes to at most `max_bytes` bytes.
    Raises ValueError if the ellipsis alone does not fit.
    """
    if len(text.encode("utf-8", "surrogatepass")) <= max_bytes:
        return text
    budget = max_bytes - len(ellipsis.encode("utf-8", "surrogatepass"))
    if budget < 0:
        raise ValueError(f"max_bytes={max_bytes} is too small for the ellipsis {ellipsis!r}")
    offsets = _offsets(text)
    end = _fit(offsets, 0, budget)
    if text[end] == " ":
        cut = end
    else:
        cut = _grapheme_cut(text, 0, end)
        space = text.rfind(" ", 0, end)
        if space > 0 and offsets[space] >= 0.7 * offsets[end]:
            cut = space
    return text[:cut].rstrip() + ellipsis
