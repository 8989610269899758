"""Text by display columns, as a terminal or a mail reader's fixed-width font shows it: East Asian
wide and fullwidth characters take two columns, combining marks and zero-width characters none.
Pure; `wrap_columns` is the mail text part's wrapper (`bot.text.wrap_text` counts code points)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["char_width", "display_width", "wrap_columns"]

_LIST_ITEM = re.compile(r"^(\s*)([-*+•]|\d{1,3}[.)]|\[\d{1,4}\])\s+")


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf") or ch == "\u200b":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    if text.isascii():
        return len(text)  # every ASCII character is one column (char_width), at C speed
    return sum(char_width(ch) for ch in text)


def _lines(words: list[tuple[str, bool]], width: int, initial: str, subsequent: str) -> list[str]:
    """Words (text, glued to the previous one without a space) laid out in lines of `width` columns."""
    out: list[str] = []
    line, used, empty = initial, display_width(initial), True
    for word, glued in words:
        size = display_width(word)
        gap = 0 if glued else 1
        if not empty and used + gap + size > width:
            out.append(line)
            line, used, empty = subsequent, display_width(subsequent), True
        if empty:
            line, used, empty = line + word, used + size, False
        else:
            line, used = line + (" " * gap) + word, used + gap + size
    out.append(line if not empty else line.rstrip())
    return out


def _words(text: str) -> list[tuple[str, bool]]:
    """Words split at spaces; a run of wide characters (CJK writes no spaces) may also break between
    any two of them: each wide character is a word glued to its neighbours."""
    words: list[tuple[str, bool]] = []
    for word in text.split():
        if word.isascii():  # no wide character in it
            words.append((word, False))
            continue
        glued = False
        chunk = ""
        for ch in word:
            if char_width(ch) == 2:
                if chunk:
                    words.append((chunk, glued))
                    glued = True
                chunk = ""
                words.append((ch, glued))
                glued = True
            else:
                chunk += ch
        if chunk:
            words.append((chunk, glued))
    return words


def wrap_columns(text: str, width: int = 72) -> str:
    """Each line of `text` wrapped at `width` display columns. List items get a hanging indent; other
    lines keep their indentation; words (URLs, ids) are never broken — a line is wider than `width`
    only when one word is. Runs of wide characters may break between any two characters, as CJK text
    wraps."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            out.append("")
            continue
        line = line.rstrip().expandtabs()
        item = _LIST_ITEM.match(line)
        if item:
            initial = item.group(1) + item.group(2) + " "
            subsequent = " " * len(initial)
            body = line[item.end() :]
        else:
            body = line.lstrip()
            initial = subsequent = line[: len(line) - len(body)]
        if display_width(line) <= width:
            out.append(line)
            continue
        out.extend(_lines(_words(body), width, initial, subsequent))
    return "\n".join(out)
