"""Tests for bot.text: HTML/Markdown to text, sanitising, UTF-8 splitting, truncating, wrapping."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from bot.presentation.columns import wrap_columns
from bot.text import (
    html_to_text,
    markdown_to_text,
    sanitize,
    sanitize_multiline,
    split_utf8,
    truncate_utf8,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


# --------------------------------------------------------------------------------------------------------
# sanitize
# --------------------------------------------------------------------------------------------------------


def test_sanitize_irc_injection_becomes_one_line() -> None:
    out = sanitize("PRIVMSG #x :hi\r\nQUIT")
    assert out == "PRIVMSG #x :hi QUIT"
    assert "\r" not in out and "\n" not in out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x00b", "ab"),
        ("\x01ACTION waves\x01", "ACTION waves"),
        ("\x0304red\x03 \x0304,12on blue\x03 \x031x", "red on blue x"),
        ("\x03" + "12,05" + "2026 release", "2026 release"),
        ("\x04ff00ffhex\x04", "hex"),
        ("tab\there", "tab here"),
        ("line\u2028sep\u2029para", "line sep para"),
        ("ab\u202ecd\u202c \u2066iso\u2069 \u200bzw\u200f \ufeffbom", "abcd iso zw bom"),
        ("  many   \t\n  spaces  ", "many spaces"),
        ("nbsp\xa0\xa0here", "nbsp here"),
    ],
)
def test_sanitize_removes_controls(raw: str, expected: str) -> None:
    out = sanitize(raw)
    assert out == expected
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs"), repr(ch)
    assert "  " not in out
    assert out == out.strip()


def test_sanitize_irc_formatting_codes_exact() -> None:
    out = sanitize("\x02bold\x02 \x1funder\x1f \x1ditalic\x1d \x16rev\x16 \x11mono\x11 \x1estrike\x1e\x0f")
    assert out == "bold under italic rev mono strike"


def test_sanitize_c1_and_del() -> None:
    # DEL and C1 controls are removed; NEL (U+0085) is a line break, so it separates words.
    assert sanitize("x\x7fy\x85z\x9fw\x80") == "xy zw"


def test_sanitize_keeps_plain_unicode() -> None:
    text = "Café — 日本語 release 🚀 👍🏽 ñ"
    assert sanitize(text) == text


def test_sanitize_lone_surrogate_removed_so_utf8_encodes() -> None:
    out = sanitize("a\ud800b")
    assert out == "ab"
    out.encode("utf-8")


def test_sanitize_multiline_keeps_newlines_only() -> None:
    raw = "Subject line\r\nsecond\rthird\n\n\n\nfourth\t tab \x00\x01\x1b[31m\u202e  x\u2028y  "
    out = sanitize_multiline(raw)
    assert out == "Subject line\nsecond\nthird\n\nfourth tab [31m x\ny"
    assert "\r" not in out
    for ch in out:
        assert ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"), repr(ch)


def test_sanitize_multiline_keeps_indentation_and_collapses_blank_lines() -> None:
    out = sanitize_multiline("\n\n- item\n  continued   here\n\n\n\nend\n\n")
    assert out == "- item\n  continued here\n\nend"


# --------------------------------------------------------------------------------------------------------
# html_to_text
# --------------------------------------------------------------------------------------------------------


def test_html_to_text_real_flatcar_feed_entry() -> None:
    html = (DATA / "feed-stable-entry.html").read_text(encoding="utf-8")
    text = html_to_text(html)
    lines = text.splitlines()
    assert lines[0] == "Changes since Stable 4593.2.4"
    assert "Security fixes:" in lines
    assert "Updates:" in lines
    assert any(re.match(r"^- Linux \(CVE-2026-\d+, CVE-2026-\d+", line) for line in lines)
    assert "- openssh (10.4_p1)" in lines
    assert "- kernel 6.12.102" in lines
    assert "- arm64" in lines
    # no tags, no URLs (links keep their text only), no double blank lines
    assert "<" not in text and ">" not in text
    assert "https://" not in text
    assert "\n\n\n" not in text
    assert text == text.strip()
    # headings are separated from their list by exactly one blank line
    index = lines.index("Security fixes:")
    assert lines[index + 1] == "" and lines[index + 2].startswith("- Linux (CVE-")


def test_html_to_text_unescapes_exactly_once() -> None:
    assert html_to_text("<p>&amp;lt;b&amp;gt; and &lt;i&gt; &quot;q&quot; &#39;s&#x27;</p>") == (
        "&lt;b&gt; and <i> \"q\" 's'"
    )


def test_html_to_text_drops_script_and_style_and_keeps_link_text() -> None:
    html = (
        "<style>p { color: red }</style><script>alert('x')</script>"
        "<p>See <a href='https://example.com/x'>the notes</a>.</p>"
    )
    assert html_to_text(html) == "See the notes."


def test_html_to_text_blocks_lists_and_whitespace() -> None:
    html = (
        "<h2>Title</h2>\n<p>one   two\nthree</p>\n<ul>\n  <li>a</li>\n  <li>b\n    <ul><li>c</li></ul>\n"
        "  </li>\n</ul>\n<div>x<br>y<br/>z</div><p></p><p></p><p>end&nbsp;&nbsp;here</p>"
    )
    assert html_to_text(html) == "Title\n\none two three\n\n- a\n- b\n  - c\n\nx\ny\nz\n\nend here"


# --------------------------------------------------------------------------------------------------------
# markdown_to_text
# --------------------------------------------------------------------------------------------------------


def test_markdown_to_text_real_flatcar_notes() -> None:
    md = (DATA / "notes-4593.2.5.md").read_text(encoding="utf-8")
    text = markdown_to_text(md)
    lines = text.splitlines()
    assert lines[0] == "Changes since Stable 4593.2.4"
    assert "Security fixes:" in lines and "Updates:" in lines
    assert "#" not in text and "**" not in text and "](" not in text and "https://" not in text
    assert any(re.match(r"^- Linux \(CVE-2026-68480, CVE-2026-68450, ", line) for line in lines)
    assert "- openssh (10.4_p1)" in lines  # underscore inside a word is not emphasis
    assert "- ca-certificates (3.126)" in lines
    assert "- Linux (6.12.102 (includes 6.12.101, 6.12.100, 6.12.99, 6.12.98, 6.12.97, 6.12.96))" in lines
    assert "\n\n\n" not in text
    # a heading is followed by exactly one blank line
    index = lines.index("Updates:")
    assert lines[index + 1] == "" and lines[index + 2].startswith("- Linux (6.12.102")


def test_markdown_html_and_json_notes_agree_on_security_section() -> None:
    md_text = markdown_to_text((DATA / "notes-4593.2.5.md").read_text(encoding="utf-8"))
    html_text = html_to_text((DATA / "feed-stable-entry.html").read_text(encoding="utf-8"))
    assert md_text.split("Updates:")[0] == html_text.split("Updates:")[0]


def test_markdown_to_text_inline_forms() -> None:
    md = (
        "## Heading ##\n\n\n\n"
        "* star bullet with `code` and *em* and __strong__ and snake_case_name\n"
        "+ plus bullet ![alt](img.png) <https://example.com> \\*literal\\*\n"
        "   - nested [link](https://example.com/a_(b)_c)\n"
        "1. first ~~gone~~\n"
        "> quoted _text_\n"
        "---\n"
        "```\nraw **kept**\n```\n"
    )
    assert markdown_to_text(md) == (
        "Heading\n\n"
        "- star bullet with code and em and strong and snake_case_name\n"
        "- plus bullet alt https://example.com *literal*\n"
        "  - nested link\n"
        "1. first gone\n"
        "quoted text\n\n"
        "raw **kept**"
    )


# --------------------------------------------------------------------------------------------------------
# split_utf8
# --------------------------------------------------------------------------------------------------------

_SAMPLES = {
    "ascii": "The quick brown fox jumps over the lazy dog and keeps on running far away",
    "two-byte": "Ünïcödé çåñ bë ñîçé wïth äccéñts éverywhere ås wéll ås hérë",
    "three-byte": "日本語 の テキスト を 分割 する テスト です 長い 文章 日本語日本語日本語日本語",
    "four-byte": "😀 🚀🚀 𝄞𝄞𝄞 🎉 🐧🐧🐧🐧🐧 💾 😀😀😀😀😀😀😀😀 end",
    "mixed": "a é 日 😀 ab éé 日日 😀😀 abc ééé 日日日 😀😀😀",
}


@pytest.mark.parametrize("name", sorted(_SAMPLES))
def test_split_utf8_property(name: str) -> None:
    text = _SAMPLES[name]
    for max_bytes in range(4, 41):
        pieces = split_utf8(text, max_bytes)
        assert pieces, max_bytes
        for piece in pieces:
            assert piece, max_bytes
            assert piece.strip(" "), max_bytes
            assert _nbytes(piece) <= max_bytes, (max_bytes, piece)
        # nothing is lost: pieces are the text cut at spaces (dropped) or between characters
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
        b"".join(p.encode("utf-8") for p in pieces).decode("utf-8")
        # every piece is also a piece of the text itself (never a fragment of a character)
        for piece in pieces:
            assert piece in text


def test_split_utf8_join_reproduces_text_with_single_spaces() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve"
    for max_bytes in range(5, 70):  # the longest word is 6 bytes: with room for it no word is cut
        pieces = split_utf8(text, max_bytes)
        if max_bytes >= 6:
            assert " ".join(pieces) == text, max_bytes
            assert all(not p.startswith(" ") and not p.endswith(" ") for p in pieces)


def test_split_utf8_prefers_last_space() -> None:
    assert split_utf8("hello world foo bar", 11) == ["hello world", "foo bar"]
    assert split_utf8("hello world foo bar", 14) == ["hello world", "foo bar"]
    assert split_utf8("short", 100) == ["short"]


def test_split_utf8_hard_splits_long_url() -> None:
    url = "https://github.com/flatcar/scripts/releases/tag/stable-4593.2.5?x=" + "a" * 40
    pieces = split_utf8(f"see {url} now", 20)
    assert pieces[0] == "see"
    # the URL is cut into full 20-byte chunks; its tail shares the last piece with " now"
    assert pieces[1:-1] == [url[i : i + 20] for i in range(0, len(url) - len(url) % 20, 20)]
    assert pieces[-1] == url[len(url) - len(url) % 20 :] + " now"
    assert all(_nbytes(p) <= 20 for p in pieces)


def test_split_utf8_never_splits_characters() -> None:
    text = "😀" * 10  # 4 bytes each
    for max_bytes in range(4, 20):
        pieces = split_utf8(text, max_bytes)
        assert all(p and set(p) == {"😀"} for p in pieces)
        assert all(_nbytes(p) == (max_bytes // 4) * 4 for p in pieces[:-1])


def test_split_utf8_keeps_combining_marks_with_their_base() -> None:
    text = "e\u0301" * 6  # é as e + COMBINING ACUTE ACCENT: 3 bytes per grapheme
    for max_bytes in (4, 5, 7, 8, 10, 11):
        pieces = split_utf8(text, max_bytes)
        assert "".join(pieces) == text
        for piece in pieces:
            assert piece.startswith("e") and piece.endswith("\u0301"), (max_bytes, pieces)


def test_split_utf8_edge_cases() -> None:
    assert split_utf8("", 10) == []
    assert split_utf8("     ", 4) == []
    assert split_utf8("  a  b  c  ", 4) != []
    assert all(p.strip() for p in split_utf8("  a  b  c  ", 4))
    for bad in (-1, 0, 1, 2, 3):
        with pytest.raises(ValueError):
            split_utf8("text", bad)


# --------------------------------------------------------------------------------------------------------
# truncate_utf8
# --------------------------------------------------------------------------------------------------------


def test_truncate_utf8_unchanged_when_it_fits() -> None:
    assert truncate_utf8("fits", 4) == "fits"
    assert truncate_utf8("日本", 6) == "日本"


def test_truncate_utf8_word_boundary() -> None:
    out = truncate_utf8("hello world this is long text", 20)
    assert out == "hello world this…"
    assert _nbytes(out) <= 20


def test_truncate_utf8_hard_cut_when_no_space_near_the_end() -> None:
    # 17 bytes of text + the 3-byte ellipsis; the only space is too far back to use
    assert truncate_utf8("a supercalifragilisticexpialidocious", 20) == "a supercalifragil…"
    assert truncate_utf8("abcdefghijklmnop", 10) == "abcdefg…"


def test_truncate_utf8_multibyte_and_custom_ellipsis() -> None:
    for max_bytes in range(3, 40):
        for text in _SAMPLES.values():
            out = truncate_utf8(text, max_bytes)
            assert _nbytes(out) <= max_bytes
            assert out.endswith("…") or out == text
    assert truncate_utf8("日本語日本語", 10) == "日本…"
    assert truncate_utf8("abcdefghij", 8, ellipsis="...") == "abcde..."
    with pytest.raises(ValueError):
        truncate_utf8("abcdef", 2)  # "…" alone is 3 bytes


# --------------------------------------------------------------------------------------------------------
# wrap_columns (the mail text part's wrapper)
# --------------------------------------------------------------------------------------------------------


def test_wrap_text_real_notes_at_72_columns() -> None:
    text = markdown_to_text((DATA / "notes-4593.2.5.md").read_text(encoding="utf-8"))
    wrapped = wrap_columns(text)
    for line in wrapped.splitlines():
        assert len(line) <= 72, line
    # hanging indent: continuation lines of a bullet are indented by two spaces
    lines = wrapped.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("- Linux (CVE-")))
    assert lines[first + 1].startswith("  CVE-2026-")
    # words (CVE ids) are never broken
    assert re.findall(r"CVE-\d{4}-\d+", wrapped) == re.findall(r"CVE-\d{4}-\d+", text)
    assert wrapped.replace("\n", " ").split() == text.replace("\n", " ").split()


def test_wrap_text_never_breaks_urls() -> None:
    url = "https://github.com/flatcar/scripts/blob/main/CHANGELOG.md#some-very-long-anchor-name-x"
    text = f"Read the full changelog at {url} for details.\n\n- item with {url} inside\n\nshort"
    wrapped = wrap_columns(text, width=72)
    lines = wrapped.splitlines()
    assert url in lines[1] and url in wrapped.split("\n\n")[1]
    for line in lines:
        if len(line) > 72:
            assert line.strip().removeprefix("- ") == url
    assert lines[-1] == "short"
    assert "" in lines  # blank lines kept


def test_wrap_text_custom_width_and_indent() -> None:
    text = "    indented paragraph " + "word " * 20
    for line in wrap_columns(text, width=40).splitlines():
        assert line.startswith("    ")
        assert len(line) <= 40
