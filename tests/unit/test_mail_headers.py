"""List conventions of the mail output (issue 12): Auto-Submitted, a configurable envelope sender and
Sender header, Message-IDs that fit one header line, `send-test-mail` shaped like an announcement and
its hint after a certificate failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.messages import sample_events, sample_plan_events
from bot.presentation import message_id
from bot.presentation.ids import fit_message_id
from tests.mailhelpers import mail_sink
from tests.unit.test_mail_readable import _message


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
