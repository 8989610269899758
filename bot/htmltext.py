"""The HTML reader behind `bot.text.html_to_text`: the text of an HTML fragment, with line breaks
pending until the next visible text. Pure. Its own module so that `bot.text` (imported by nearly
everything) does not load the stdlib's HTML parser before a first HTML fragment is read.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["TextExtractor"]

#: Elements whose text is never shown.
_SKIP_CONTENT = frozenset({"script", "style", "head", "title", "template", "noscript"})
#: Elements that start and end a paragraph (a blank line around them).
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table"})
#: Elements that start and end a line.
_LINE = frozenset({"div", "br", "tr", "hr", "dl", "dt", "dd", "section", "article", "header", "footer"})
_LISTS = frozenset({"ul", "ol"})


class TextExtractor(HTMLParser):
    """Collects text; line breaks are "pending" until the next visible text, so whitespace between
    tags never produces stray blank lines."""

    def __init__(self) -> None:
        # convert_charrefs=True: entities are unescaped exactly once, by the parser, in handle_data.
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # newlines to emit before the next visible text
        self._prefix = ""  # list bullet to emit at the start of the next visible text
        self._skip_depth = 0
        self._pre_depth = 0
        self._list_depth = 0

    def _break(self, count: int) -> None:
        if self._list_depth and count > 1:
            count = 1  # paragraphs inside a list item do not open blank lines between items
        self._pending = max(self._pending, count)

    def _emit(self, text: str) -> None:
        if self._pending:
            self.parts.append("\n" * self._pending)
            self._pending = 0
        if self._prefix:
            self.parts.append(self._prefix)
            self._prefix = ""
        self.parts.append(text)

    def _block(self, tag: str, opening: bool) -> None:
        if tag == "li":
            self._break(1)
            if opening:
                self._prefix = "  " * max(self._list_depth - 1, 0) + "- "
        elif tag in _LISTS:
            if not opening:
                self._list_depth = max(self._list_depth - 1, 0)
            self._break(1 if self._list_depth else 2)
            if opening:
                self._list_depth += 1
        elif tag in _PARAGRAPH:
            if tag == "pre":
                self._pre_depth = self._pre_depth + 1 if opening else max(self._pre_depth - 1, 0)
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        elif tag in ("td", "th") and self.parts and not self._pending:
            self.parts.append(" ")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth += 1
        else:
            self._block(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <script/>: no content, so they must not open a skip region.
        if tag not in _SKIP_CONTENT:
            self._block(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth = max(self._skip_depth - 1, 0)
        else:
            self._block(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        data = data.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
        if self._pre_depth:
            self._emit(data)
            return
        data = re.sub(r"\s+", " ", data)
        if data.strip():
            self._emit(data)
        elif data and not self._pending and self.parts:
            self.parts.append(" ")
