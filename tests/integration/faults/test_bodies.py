"""Control characters in mail bodies (issue 9, item 9): the text and HTML parts of a mail pass the
body sanitiser, as IRC lines pass `sanitize`; layout (indentation, tables) is kept."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from bot.sinks.mail import build_message
from bot.text import sanitize_body
from tests.mailhelpers import mail_config

HOSTILE = "ok \x1b[31mred\x07 bell\x00 nul \u202eevil\u202c \x0304,05colour\x0f \x9b end\u200b"
RAW = "\x1b\x07\x00\u202e\u202c\x03\x0f\x9b\u200b"


def test_text_and_html_parts_are_sanitised(tmp_path: Path) -> None:
    output = mail_config(tmp_path).outputs[0]
    assert output.kind == "mail"
    mail = output.mail
    payload = {
        "subject": "s",
        "text": f"{HOSTILE}\n\n  | a | b |\n",
        "html": f"<p>{HOSTILE}</p>",
        "references": [],
    }
    raw = build_message(
        mail, payload, message_id="<x@example.org>", date=datetime(2025, 1, 1, tzinfo=UTC)
    ).as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert not any(ch in part for ch in RAW), repr(part)
        assert "ok [31mred bell nul evil colour  end" in part
    assert "\n  | a | b |\n" in text


def test_sanitize_body_keeps_layout() -> None:
    assert sanitize_body("a\r\nb\rc\u2028d\te  f") == "a\nb\nc\nd\te  f"
    assert sanitize_body("plain text\n  indented\n") == "plain text\n  indented\n"
    assert sanitize_body("\ud800lone surrogate\x7f") == "lone surrogate"
