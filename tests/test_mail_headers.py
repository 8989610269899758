"""List conventions of the mail output (issue 12): Auto-Submitted, a configurable envelope sender and
Sender header, Message-IDs that fit one header line, `send-test-mail` shaped like an announcement and
its hint after a certificate failure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.mailcli import send_test_mail
from bot.messages import sample_events, sample_plan_events
from bot.presentation import message_id
from bot.presentation.ids import fit_message_id
from tests.mailhelpers import item_for, mail_sink
from tests.smtpserver import SMTPServerFactory
from tests.test_mail_readable import _message, assert_safe_html
from tests.test_mail_smtp import PASSWORD, deliver, tls_keys


def test_auto_submitted_by_default_and_configurable(tmp_path: Path) -> None:
    event = sample_events()[0]
    assert _message(mail_sink(tmp_path), event)["Auto-Submitted"] == "auto-generated"
    assert (
        _message(mail_sink(tmp_path, auto_submitted="auto-notified"), event)["Auto-Submitted"]
        == "auto-notified"
    )
    assert _message(mail_sink(tmp_path, auto_submitted="no"), event)["Auto-Submitted"] is None
    with pytest.raises(ConfigError, match=r"outputs\[0\]\.auto_submitted"):
        mail_sink(tmp_path, auto_submitted="yes")


def test_sender_header_and_envelope_sender(tmp_path: Path) -> None:
    sink = mail_sink(tmp_path, sender="List bot <bot@lists.example.org>", envelope_from="bounces@example.org")
    message = _message(sink, sample_events()[0])
    assert message["Sender"] == "List bot <bot@lists.example.org>"
    assert sink.mail.envelope_sender == "bounces@example.org"
    assert mail_sink(tmp_path).mail.envelope_sender == "release-bot@example.org"  # from `from`
    assert _message(mail_sink(tmp_path), sample_events()[0])["Sender"] is None
    with pytest.raises(ConfigError, match=r"extra_headers\.Sender: set it with the output's `sender` key"):
        mail_sink(tmp_path, extra_headers={"Sender": "x@example.org"})
    with pytest.raises(ConfigError, match=r"envelope_from: expected a bare address"):
        mail_sink(tmp_path, envelope_from="Bounces <b@example.org>")
    with pytest.raises(ConfigError, match=r"\.sender"):
        mail_sink(tmp_path, sender="not an address")


@pytest.mark.parametrize("domain", ["example.org", "lists.a-rather-long-domain-name.example.org"])
def test_message_ids_fit_one_header_line(tmp_path: Path, domain: str) -> None:
    events = [*sample_events(), *sample_plan_events()]
    ids = [message_id(e, "flatcar-announce-list", domain=domain) for e in events]
    for mid in ids:
        assert len(f"Message-ID: {mid}") <= 78, mid
        assert mid.endswith(f"@{domain}>")
    assert len(set(ids)) == len({e.key for e in events})  # distinct events keep distinct ids
    assert fit_message_id("release.flatcar.stable.1.list", "x.org") == "<release.flatcar.stable.1.list@x.org>"
    sink = mail_sink(tmp_path, message_id_domain=domain)
    for event in events:
        raw = bytes(_message(sink, event))
        assert b"\nMessage-ID: <" in raw  # on the header's own line, never folded onto the next


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
