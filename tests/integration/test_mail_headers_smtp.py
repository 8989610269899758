"""The tests of tests/unit/test_mail_headers.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.mailcli import send_test_mail
from bot.messages import sample_events
from tests.integration.test_mail_smtp import PASSWORD, deliver, tls_keys
from tests.mailhelpers import item_for, mail_sink
from tests.smtpserver import SMTPServerFactory
from tests.unit.test_mail_readable import assert_safe_html


@pytest.mark.integration
def test_the_envelope_sender_is_used_for_mail_from(smtp_server: SMTPServerFactory, tmp_path: Path) -> None:
    server = smtp_server(mode="plain")
    sink = mail_sink(tmp_path, **tls_keys(server, "none", auth=False), envelope_from="bounces@example.org")
    deliver(sink)
    (received,) = server.messages
    assert received.mail_from == "bounces@example.org"
    assert received.message["Auto-Submitted"] == "auto-generated"


@pytest.mark.integration
def test_send_test_mail_is_shaped_like_an_announcement(
    smtp_server: SMTPServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = smtp_server(mode="plain")
    sink = mail_sink(tmp_path, **tls_keys(server, "none", auth=False))
    assert asyncio.run(send_test_mail([sink])) == 0
    (received,) = server.messages
    message: Any = received.message
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "This is a test mail from release-bot's output 'list'." in text
    announcement = str(sink.render(sample_events()[0], __import__("bot.render").render.Renderer())["text"])
    assert announcement.splitlines()[0] in text and "Key packages:" in text
    assert "This is a test mail" in html and "<h3>Key packages</h3>" in html
    assert_safe_html(html)
    assert item_for(sink, sample_events()[0])  # the sample is a real release event


@pytest.mark.integration
def test_a_certificate_failure_hints_at_certificates(
    smtp_server: SMTPServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    server = smtp_server(mode="starttls", auth=("release-bot", PASSWORD))
    keys = tls_keys(server, "starttls")
    del keys["ca_file"]  # the system CAs do not know the test server's self-signed certificate
    assert asyncio.run(send_test_mail([mail_sink(tmp_path, **keys)])) == 1
    out = capsys.readouterr().out
    assert "certificate verification failed" in out
    assert "list: hint: the server's certificate is not trusted" in out and "`ca_file`" in out
    assert "must offer STARTTLS" not in out
