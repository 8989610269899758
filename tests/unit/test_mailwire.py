"""The mail bytes written directly (bot.sinks.mailwire) are byte for byte what the `email` package
builds and aiosmtplib flattens (`flatten_message(build_message(...))`): over the real history's mails,
the sample events of every kind, and generated payloads and configs (hostile header values, long
subjects, non-ASCII, many thread parents, secrets)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.config import MailConfig
from bot.messages import sample_events, sample_plan_events
from bot.render import Renderer
from bot.sinks.mail import MailSink, build_message
from bot.sinks.mailwire import WireMessage, WireWriter
from bot.store import OutboxItem, PollRecord, Store
from tests.mailhelpers import StoreHooks, history_events, item_for, mail_config, mail_of, mail_sink


def flattened(message: EmailMessage) -> set[bytes]:
    """The bytes aiosmtplib sends, to a server with 8BITMIME and to one without."""
    return {flatten_message(message), flatten_message(message, cte_type="7bit")}


def same_bytes(sink: MailSink, item: OutboxItem) -> None:
    wire = sink.build_wire(item)
    assert wire.message_id == item.message_id
    assert flattened(sink.build(item)) == {wire.data}


def test_the_history_mails_are_the_same_bytes(tmp_path: Path) -> None:
    store = Store(":memory:")
    sink = mail_sink(tmp_path, reply_to="flatcar-dev@lists.example.org")
    sink.attach(StoreHooks(store))
    renderer = Renderer()
    checked = 0
    for _name, events in history_events():
        now = datetime(2025, 3, 20, tzinfo=UTC)
        messages = [(e, [sink.format(e, renderer)]) for e in events if sink.wants(e)]
        store.commit_poll(PollRecord("flatcar", now=now, documents=(), new_releases=(), events=messages))
        for item in store.pending("list", now=now, limit=1000):
            same_bytes(sink, item)
            checked += 1
    store.close()
    assert checked >= 10  # every mail of the history, promotions (threaded) among them


def test_every_sample_kind_is_the_same_bytes(tmp_path: Path) -> None:
    sink = mail_sink(
        tmp_path,
        **{"from": '"Release Bøt, the \\"real\\" bot" <bot@example.org>'},
        reply_to="Dev list <dev@example.org>",
        extra_headers={"X-Mailing-Tag": "flatcar releases", "List-Id": "<announce.example.org>"},
        auto_submitted="auto-notified",
    )
    items = [item_for(sink, e) for e in [*sample_events(), *sample_plan_events()] if sink.wants(e)]
    assert len({bool(i.payload.get("html")) for i in items}) >= 1
    for item in items:
        same_bytes(sink, item)
    text_only = {**items[0].payload, "html": None}
    same_bytes(sink, OutboxItem(**{**items[0].__dict__, "payload": text_only}))


def test_secrets_and_recipient_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIST_PASSWORD", "s3cret ünïcode")
    sink = mail_sink(tmp_path, extra_headers_env={"Approved": "LIST_PASSWORD"}, sender="me@example.org")
    item = item_for(sink, sample_events()[0])
    same_bytes(sink, item)
    message = build_message(
        sink.mail,
        item.payload,
        message_id=item.message_id,
        date=item.created_at,
        secrets=sink.secrets(),
        to="x@y.org",
    )
    wire = sink.wire.write(
        item.payload, message_id=item.message_id, date=item.created_at, secrets=sink.secrets(), to="x@y.org"
    )
    assert flattened(message) == {wire.data}
    assert b"Approved: " in wire.data and b"To: x@y.org\r\n" in wire.data


_headers = st.text(st.characters(blacklist_categories=["Cs"]), max_size=120)
_words = st.lists(
    st.sampled_from(
        [
            "kernel",
            "6.6.83",
            "Ünï",
            "=?utf-8?q?x?=",
            "  ",
            "\t",
            "a" * 80,
            "(c)",
            "<x@y>",
            '"q"',
            "日本語",
            "",
        ]
    ),
    max_size=14,
).map(" ".join)
_body = st.text(st.characters(blacklist_categories=["Cs"]), max_size=400) | st.lists(
    st.sampled_from(
        ["line", "From me", ".", "", " trailing ", "x" * 100, "tab\there", "ü" * 50, "=3D", "\r\n", "\r"]
    ),
    max_size=30,
).map("\n".join)


@settings(
    max_examples=int(__import__("os").environ.get("WIRE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    subject=_headers | _words,
    text=_body,
    html=st.none() | _body,
    references=st.lists(_headers | st.sampled_from(["<a.b@c.d>", "<x@y>"]), max_size=6),
    message_id=st.sampled_from(
        ["<release.flatcar.stable.4152.2.2.list@example.org>", "<x@y>", "<a b@c>", "<(c)x@y>", "<=?x?=@y>"]
    )
    | st.text(st.characters(max_codepoint=127), max_size=90).filter(
        lambda v: "\n" not in v and "\r" not in v
    ),
    seconds=st.integers(min_value=0, max_value=4_000_000_000),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    config=st.sampled_from(["plain", "full"]),
)
def test_generated_mails_are_the_same_bytes(
    tmp_path: Path,
    subject: str,
    text: str,
    html: str | None,
    references: list[str],
    message_id: str,
    seconds: int,
    offset: int,
    config: str,
) -> None:
    extra: dict[str, Any] = {}
    if config == "full":
        extra = {
            "reply_to": "Dev <dev@example.org>",
            "sender": "Bøt <b@example.org>",
            "extra_headers": {"X-A": "b  c"},
            "auto_submitted": "no",
        }
    mail: MailConfig = mail_of(mail_config(tmp_path, **extra))
    date = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    date = date.astimezone(UTC if offset == 0 else __import__("datetime").timezone(timedelta(minutes=offset)))
    payload = {"subject": subject, "text": text, "html": html, "references": references}
    try:
        message = build_message(mail, payload, message_id=message_id, date=date)
        expected = flattened(message)
    except Exception as exc:  # what the email package refuses, the writer refuses too
        event(f"refused: {type(exc).__name__}")
        with pytest.raises(type(exc)):
            WireWriter(mail).write(payload, message_id=message_id, date=date)
        return
    event("multipart" if html else "text only")
    assert {WireWriter(mail).write(payload, message_id=message_id, date=date).data} == expected


def test_delivery_sends_the_written_bytes_and_an_envelope_outside_ascii_the_email_package(
    tmp_path: Path,
) -> None:
    sent: list[object] = []

    async def capture(message: object, **_: object) -> str:
        sent.append(message)
        return "250 ok"

    plain = mail_sink(tmp_path)
    idn = mail_sink(tmp_path, to="list@exämple.org")  # needs SMTPUTF8 and UTF-8 headers
    for sink in (plain, idn):
        sink.session.send = capture  # type: ignore[method-assign]
        asyncio.run(sink.deliver(item_for(sink, sample_events()[0])))
    wire, message = sent
    assert isinstance(wire, WireMessage) and isinstance(message, EmailMessage)
    assert flattened(plain.build(item_for(plain, sample_events()[0]))) == {wire.data}
    assert "exämple" in flatten_message(message, utf8=True).decode("utf-8")
