"""The mail output against a real SMTP server (aiosmtpd on 127.0.0.1, started by a fixture).

Transport security (plain, STARTTLS + AUTH, implicit TLS; no silent downgrade; certificates
verified), failures (wrong password, server down then up, 4xx then success, 5xx permanent) through the
Bot's outbox with a controlled clock, header injection from a real feed, the daemon sending a digest
missed while it was down, and the `send-test-mail` and `digest` verbs.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from bot import cli
from bot.app import Bot
from bot.config import Config
from bot.digest import schedule_digests
from bot.errors import DeliveryError
from bot.messages import sample_events
from bot.sinks.mail import MailSink
from bot.store import PollRecord, Store
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.mailhelpers import LIST, SENDER, item_for, keep_logging, mail_config, mail_sink
from tests.replay import serve_history
from tests.smtpserver import SMTPServerFactory, SMTPTestServer, free_port

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def tls_keys(server: SMTPTestServer, tls: str, *, auth: bool = True) -> dict[str, Any]:
    keys: dict[str, Any] = {"port": server.port, "tls": tls}
    if server.certs is not None:
        keys["ca_file"] = str(server.certs.cert)
    if auth:
        keys.update(username="release-bot", password_env="TEST_SMTP_PASSWORD")
    return keys


def deliver(sink: MailSink) -> None:
    asyncio.run(sink.deliver(item_for(sink, sample_events()[0])))


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    yield from keep_logging()


# --------------------------------------------------------------------------------------------------
# Transport security
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "tls", "auth"),
    [("plain", "none", False), ("starttls", "starttls", True), ("implicit", "implicit", True)],
)
def test_delivery(
    smtp_server: SMTPServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    tls: str,
    auth: bool,
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    server = smtp_server(mode=mode, auth=("release-bot", PASSWORD) if auth else None)
    sink = mail_sink(tmp_path, **tls_keys(server, tls, auth=auth))
    deliver(sink)
    (received,) = server.messages
    assert received.mail_from == "release-bot@example.org"
    assert received.rcpt_tos == (LIST,)
    assert received.secure is (mode != "plain")
    assert received.user == ("release-bot" if auth else None)
    message = received.message
    assert message["Message-ID"] == "<release.sample.stable.4230.2.0.list@example.org>"
    assert message["From"] == SENDER and message["To"] == LIST
    assert message["Subject"] == "[Flatcar] stable 4230.2.0: kernel 6.6.88"
    assert message.get_content_type() == "multipart/alternative"


def test_wrong_password_is_a_transient_error_and_sends_nothing(
    smtp_server: SMTPServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    server = smtp_server(mode="starttls", auth=("release-bot", PASSWORD))
    sink = mail_sink(tmp_path, **tls_keys(server, "starttls"))
    with pytest.raises(DeliveryError) as info:
        deliver(sink)
    assert not info.value.permanent  # fix the secret and restart: the queued mail goes out then
    assert "AUTH: authentication as 'release-bot' failed: 535" in str(info.value)
    assert "$TEST_SMTP_PASSWORD" in str(info.value)
    assert server.messages == [] and "MAIL" not in server.commands


def test_password_variable_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    sink = mail_sink(tmp_path, port=free_port(), username="bot", password_env="TEST_SMTP_PASSWORD")
    with pytest.raises(DeliveryError, match=r"\$TEST_SMTP_PASSWORD \(password_env\) is not set") as info:
        deliver(sink)
    assert not info.value.permanent


def test_starttls_required_but_not_offered_is_refused_not_downgraded(
    smtp_server: SMTPServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    server = smtp_server(mode="plain", auth=None)  # offers no STARTTLS
    sink = mail_sink(tmp_path, **tls_keys(server, "starttls"))
    with pytest.raises(DeliveryError) as info:
        deliver(sink)
    assert "does not offer STARTTLS" in str(info.value) and "refusing to send without encryption" in str(
        info.value
    )
    assert not info.value.permanent
    assert server.commands == []  # no AUTH, no MAIL: nothing went over the wire in clear text
    assert server.messages == []


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_the_certificate_is_verified(
    smtp_server: SMTPServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    server = smtp_server(mode=mode, auth=("release-bot", PASSWORD))
    keys = tls_keys(server, mode)
    del keys["ca_file"]  # the system CAs do not know this self-signed certificate
    sink = mail_sink(tmp_path, **keys)
    with pytest.raises(DeliveryError, match="certificate verification failed") as info:
        deliver(sink)
    assert "set ca_file" in str(info.value)
    assert server.messages == [] and "AUTH" not in server.commands


def test_connection_refused_and_timeouts_are_transient(tmp_path: Path) -> None:
    sink = mail_sink(tmp_path, port=free_port(), tls="none", connect_timeout=1)
    with pytest.raises(DeliveryError, match="connect: ") as info:
        deliver(sink)
    assert not info.value.permanent

    # a server that accepts the connection but never greets
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        sink = mail_sink(tmp_path, port=silent.getsockname()[1], tls="none", connect_timeout=1)
        with pytest.raises(DeliveryError, match="connect: ") as info:
            deliver(sink)
    assert not info.value.permanent and "timed out" in str(info.value).lower()


# --------------------------------------------------------------------------------------------------
# Through the Bot's outbox: retries, backoff, permanent failures
# --------------------------------------------------------------------------------------------------


def serve(http: LocalHTTPServer, snapshot: str) -> None:
    serve_history(http, snapshot, ("alpha", "beta", "stable", "lts"))


def bot_config(tmp_path: Path, http: LocalHTTPServer, port: int, **mail: Any) -> Config:
    sources = [{"name": "flatcar", "kind": "flatcar", "base_url": http.url("/flatcar/")}]
    return mail_config(tmp_path, sources=sources, port=port, tls="none", connect_timeout=2, **mail)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 20, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def cycle(config: Config, clock: Clock, *, poll: bool = True) -> Any:
    """One poll (optional) and one delivery pass, as a new process would do it."""
    bot = Bot(config, clock=clock)
    try:
        if poll:
            await bot.poll_all()
        return await bot.deliver()
    finally:
        await bot.aclose()


def recorded_ids(config: Config) -> dict[str, str]:
    """event key → Message-ID of the mails queued for the list."""
    with Store(config.state) as store:
        return {
            item.event_key: item.message_id
            for item in store.pending("list", now=datetime(2100, 1, 1, tzinfo=UTC))
        }


def test_server_down_then_up_delivers_later_once_per_event(
    smtp_server: SMTPServerFactory, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet
    config = bot_config(tmp_path, http_server, port)
    clock = Clock()
    serve(http_server, SNAPSHOTS[1])
    asyncio.run(cycle(config, clock))  # baseline
    serve(http_server, SNAPSHOTS[2])
    down = asyncio.run(cycle(config, clock))
    assert (down.delivered, down.failed) == (0, 1)
    assert "connect" in down.errors[0]
    ids = recorded_ids(config)
    assert len(ids) == 4

    server = smtp_server(port=port)  # the server comes back
    assert asyncio.run(cycle(config, clock, poll=False)).delivered == 0  # the retry is not due yet
    clock.now += timedelta(minutes=5)
    up = asyncio.run(cycle(config, clock))
    assert (up.delivered, up.failed) == (4, 0)
    received = [m.message["Message-ID"] for m in server.messages]
    assert sorted(received) == sorted(ids.values())
    assert set(Counter(received).values()) == {1}  # exactly one mail per event
    with Store(config.state) as store:
        order = [f"<{e.key.replace(':', '.').replace('/', '.')}.list@example.org>" for _, e in store.events()]
    assert received == order  # in the order they were recorded

    clock.now += timedelta(hours=1)
    again = asyncio.run(cycle(config, clock))
    assert again.delivered == 0 and len(server.messages) == 4


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("MAIL", "421 4.7.0 Too many connections, try again later"),
        ("RCPT", "450 4.2.0 Greylisted, please try again in 5 minutes"),
        ("DATA", "451 4.3.0 Mailbox busy, try again later"),
    ],
)
def test_4xx_then_success_keeps_the_message_id(
    smtp_server: SMTPServerFactory,
    http_server: LocalHTTPServer,
    tmp_path: Path,
    command: Literal["MAIL", "RCPT", "DATA"],
    reply: str,
) -> None:
    server = smtp_server()
    config = bot_config(tmp_path, http_server, server.port)
    clock = Clock()
    serve(http_server, SNAPSHOTS[1])
    asyncio.run(cycle(config, clock))
    server.script(command, reply)
    serve(http_server, SNAPSHOTS[2])
    first = asyncio.run(cycle(config, clock))
    assert (first.delivered, first.failed) == (0, 1)
    assert reply in first.errors[0]
    with Store(config.state) as store:
        assert store.outbox_counts()["list"] == {"queued": 4}
        (failed_item, *_) = store.pending("list", now=clock.now + timedelta(hours=1))
        assert failed_item.attempts == 1
    clock.now += timedelta(minutes=5)
    second = asyncio.run(cycle(config, clock))
    assert (second.delivered, second.failed) == (4, 0)
    assert server.messages[0].message["Message-ID"] == failed_item.message_id
    assert server.commands.count(command) == 5  # one refused, four accepted
    assert len(server.messages) == 4


@pytest.mark.parametrize(
    ("command", "reply", "what"),
    [
        (
            "MAIL",
            "550 5.7.1 Sender not allowed to post to this list",
            "sender release-bot@example.org refused",
        ),
        ("RCPT", "550 5.1.1 No such list", "recipient refused: " + LIST),
        ("DATA", "554 5.6.0 Message rejected by list policy", "message refused (DATA)"),
    ],
)
def test_5xx_is_permanent_kept_and_shown(
    smtp_server: SMTPServerFactory,
    http_server: LocalHTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    command: Literal["MAIL", "RCPT", "DATA"],
    reply: str,
    what: str,
) -> None:
    server = smtp_server()
    config = bot_config(tmp_path, http_server, server.port)
    clock = Clock()
    serve(http_server, SNAPSHOTS[1])
    asyncio.run(cycle(config, clock))
    server.script(command, reply)  # the first mail is refused for good
    serve(http_server, SNAPSHOTS[2])
    with caplog.at_level(logging.WARNING, logger="release-bot"):
        result = asyncio.run(cycle(config, clock))
    assert (result.delivered, result.failed) == (3, 1)  # the others still go out, in order
    assert any(reply in r.getMessage() and what in r.getMessage() for r in caplog.records)
    with Store(config.state) as store:
        assert store.outbox_counts()["list"] == {"delivered": 3, "failed": 1}
        (error,) = store.outbox_errors("list")
        assert error[1] == "promotion:flatcar/beta/4230.1.0" and error[2] == "failed"
        assert reply in error[3]
    clock.now += timedelta(days=1)
    assert asyncio.run(cycle(config, clock)).delivered == 0  # not retried
    assert len(server.messages) == 3

    # `status` shows it with the server's answer; the message itself stays in the store
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "{config.state}"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "127.0.0.1"
        tls = "none"
        from = "{SENDER}"
        to = "{LIST}"
        """),
        encoding="utf-8",
    )
    assert cli.main(["-c", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "output list (mail): 0 queued, 3 delivered, 1 failed permanently" in out
    assert f"list promotion:flatcar/beta/4230.1.0 [failed]: sink 'list': send: {what}" in out
    assert reply in out


# --------------------------------------------------------------------------------------------------
# Header injection from a real feed, end to end
# --------------------------------------------------------------------------------------------------

EVIL_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>evil releases</title>
  <id>urn:evil</id>
  <updated>2025-03-20T12:00:00Z</updated>
  <entry>
    <title>v9.9.9&#13;&#10;Bcc: victim@example.org&#13;&#10;X-Injected: yes</title>
    <id>urn:evil:1</id>
    <link href="https://example.org/r&#13;&#10;X-Injected: link"/>
    <updated>2025-03-20T12:00:00Z</updated>
    <content type="html">&lt;p&gt;notes&lt;/p&gt;</content>
  </entry>
</feed>
"""


def test_feed_fields_cannot_inject_headers(
    smtp_server: SMTPServerFactory, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    server = smtp_server()
    http_server.set("/evil.atom", EVIL_FEED.encode(), content_type="application/atom+xml")
    sources = [
        {
            "name": "evil",
            "kind": "feed",
            "project": "Evil\r\nX-Injected: project",
            "url": http_server.url("/evil.atom"),
            "announce_on_first_run": 1,
        }
    ]
    config = mail_config(tmp_path, sources=sources, port=server.port, tls="none")
    result = asyncio.run(cycle(config, Clock()))
    assert result.delivered == 1, result.errors
    (received,) = server.messages
    assert received.rcpt_tos == (LIST,)  # the envelope comes from the config only
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Injected:" not in head
    message = received.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "v9.9.9 Bcc: victim@example.org X-Injected: yes" in str(message["Subject"])


# --------------------------------------------------------------------------------------------------
# The daemon: a digest missed while it was down is sent at the next start, once
# --------------------------------------------------------------------------------------------------


def test_the_daemon_sends_a_missed_digest_once(
    smtp_server: SMTPServerFactory, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    server = smtp_server()
    serve(http_server, SNAPSHOTS[2])
    config = bot_config(tmp_path, http_server, server.port, per_release=False, digest={"cron": "0 9 * * mon"})
    now = datetime.now(UTC)
    from tests.mailhelpers import history_events

    with Store(config.state) as store:  # three weeks ago the digest ran; then the bot was down
        store.record_digest(
            "list",
            now=now - timedelta(days=21),
            period_start=None,
            period_end=now - timedelta(days=21),
            last_event_id=0,
            count=0,
            status="baseline",
        )
        events = history_events()[2][1]
        store.commit_poll(
            PollRecord(
                "flatcar",
                now=now - timedelta(days=10),
                documents=(),
                new_releases=(),
                events=[(e, []) for e in events],
            )
        )

    async def run_until_delivered() -> None:
        stop = asyncio.Event()
        bot = Bot(config)
        (sink,) = bot.sinks
        original = sink.deliver

        async def deliver_then_stop(item: Any) -> None:
            await original(item)
            stop.set()

        sink.deliver = deliver_then_stop  # type: ignore[method-assign]
        try:
            await asyncio.wait_for(bot.run(stop), timeout=30)
        finally:
            await bot.aclose()

    asyncio.run(run_until_delivered())
    (received,) = server.messages
    assert str(received.message["Subject"]).startswith("[Flatcar] Digest ")
    assert str(received.message["Subject"]).endswith(": 4 announcements")

    async def start_and_stop() -> None:  # a second start: the digest is not due again
        stop = asyncio.Event()
        stop.set()
        bot = Bot(config)
        try:
            await bot.run(stop)
            await bot.deliver()
        finally:
            await bot.aclose()

    asyncio.run(start_and_stop())
    assert len(server.messages) == 1
    with Store(config.state) as store:
        assert [d.status for d in store.digests("list")] == ["baseline", "queued"]


def test_the_daemon_schedules_each_digest_with_its_cron_trigger(tmp_path: Path) -> None:
    config = mail_config(tmp_path, digest={"cron": "30 8 * * mon-fri", "timezone": "Europe/Berlin"})

    class Scheduler:
        def __init__(self) -> None:
            self.jobs: list[tuple[Any, dict[str, Any]]] = []

        def add_job(self, func: Any, trigger: Any, **kwargs: Any) -> None:
            self.jobs.append((trigger, kwargs))

    scheduler = Scheduler()
    woken: list[bool] = []
    bot = Bot(config, clock=lambda: datetime(2025, 3, 19, 10, 0, tzinfo=UTC))
    try:
        schedule_digests(bot, scheduler, on_queued=lambda: woken.append(True))
        ((trigger, kwargs),) = scheduler.jobs
        assert kwargs["id"] == "digest:list" and kwargs["misfire_grace_time"] is None and kwargs["coalesce"]
        assert str(trigger.timezone) == "Europe/Berlin"
        fire = trigger.get_next_fire_time(None, datetime(2025, 3, 19, 10, 0, tzinfo=UTC))
        assert fire.isoformat() == "2025-03-20T08:30:00+01:00"
        assert bot.store.last_digest("list") is not None  # the start-up check recorded the baseline
    finally:
        asyncio.run(bot.aclose())


# --------------------------------------------------------------------------------------------------
# The verbs: send-test-mail, digest --preview / --send-now
# --------------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, server: SMTPTestServer, *, digest: bool = True) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "console"
        kind = "console"
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "127.0.0.1"
        port = {server.port}
        tls = "starttls"
        ca_file = "{server.certs.cert if server.certs else ""}"
        username = "release-bot"
        password_env = "TEST_SMTP_PASSWORD"
        from = "{SENDER}"
        to = "{LIST}"
        [outputs.extra_headers_env]
        Approved = "TEST_LIST_PASSWORD"
        """)
        + ('[outputs.digest]\ncron = "0 9 * * mon"\ntimezone = "Europe/Berlin"\n' if digest else ""),
        encoding="utf-8",
    )
    return path


def test_send_test_mail(
    smtp_server: SMTPServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = smtp_server(mode="starttls", auth=("release-bot", PASSWORD))
    config = write_config(tmp_path, server)
    monkeypatch.setenv("TEST_LIST_PASSWORD", "list-secret")

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    assert cli.main(["-c", str(config), "send-test-mail"]) == 1
    out = capsys.readouterr().out
    assert "list: STARTTLS …" in out and "list: logging in as release-bot …" in out
    assert "list: FAILED: AUTH: authentication as 'release-bot' failed: 535" in out
    assert "list: hint: check `username` and the password" in out

    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    assert cli.main(["-c", str(config), "send-test-mail"]) == 0
    out = capsys.readouterr().out
    assert "list: OK: the server accepted the test mail (2.0.0 OK queued as test-1)" in out
    assert cli.main(["-c", str(config), "send-test-mail", "list", "--to", "me@example.org"]) == 0
    first, second = server.messages
    assert first.rcpt_tos == (LIST,) and second.rcpt_tos == ("me@example.org",)
    assert first.secure and first.user == "release-bot"
    assert first.message["Approved"] == "list-secret"
    assert first.message["Subject"] == "[release-bot] Test mail from output list"
    assert first.message["Message-ID"] != second.message["Message-ID"]  # a test mail is never deduplicated

    assert cli.main(["-c", str(config), "send-test-mail", "console"]) == 2
    assert "no mail output named 'console'" in capsys.readouterr().err


def test_digest_verbs(
    smtp_server: SMTPServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = smtp_server(mode="starttls", auth=("release-bot", PASSWORD))
    config = write_config(tmp_path, server)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TEST_LIST_PASSWORD", "list-secret")

    assert cli.main(["-c", str(config), "digest", "--preview", "--html"]) == 0
    out = capsys.readouterr().out
    assert "# output list: 0 announcement(s) since " in out
    assert "Subject: [release-bot] Digest " in out and "Nothing was announced in this period." in out
    assert "<!DOCTYPE html>" in out
    assert not (tmp_path / "state.sqlite3").exists()  # a preview writes nothing

    assert cli.main(["-c", str(config), "digest", "--send-now"]) == 0
    assert "list: digest queued (0 announcement(s))" in capsys.readouterr().err
    (received,) = server.messages
    assert str(received.message["Subject"]).endswith(": nothing new")
    assert str(received.message["Message-ID"]).startswith("<digest.list.")
    assert cli.main(["-c", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "output list digest: 0 9 * * mon (Europe/Berlin); next " in out
    assert "last digest:  period ending " in out

    (tmp_path / "x").mkdir()
    no_digest = write_config(tmp_path / "x", server, digest=False)
    assert cli.main(["-c", str(no_digest), "digest", "--preview"]) == 2
    assert "no mail output with an [outputs.digest] table" in capsys.readouterr().err


def test_digest_send_now_touches_only_its_list(
    smtp_server: SMTPServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest --send-now` delivers the digest list's queue and nothing else: another output's queued
    announcements (an IRC network it would join, here an mbox) wait for the daemon."""
    server = smtp_server()
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "box"
        kind = "mbox"
        path = "announcements.mbox"
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "127.0.0.1"
        port = {server.port}
        tls = "none"
        from = "{SENDER}"
        to = "{LIST}"
        [outputs.digest]
        cron = "0 9 * * mon"
        """),
        encoding="utf-8",
    )
    from bot.config import load_config
    from bot.render import Renderer
    from bot.sinks import build_sinks

    config = load_config(path)
    box, mail = build_sinks(config.outputs)
    event = sample_events()[0]
    with Store(config.state) as store:
        store.commit_poll(
            PollRecord(
                "flatcar",
                now=datetime.now(UTC) - timedelta(hours=1),
                documents=(),
                new_releases=(),
                events=[(event, [box.format(event, Renderer()), mail.format(event, Renderer())])],
            )
        )
    assert cli.main(["-c", str(path), "digest", "--send-now"]) == 0
    assert "delivered 2, failed 0" in capsys.readouterr().err  # the release mail, then the digest
    subjects = [str(m.message["Subject"]) for m in server.messages]
    assert subjects[0] == "[Flatcar] stable 4230.2.0: kernel 6.6.88" and " Digest " in subjects[1]
    with Store(config.state) as store:
        assert store.outbox_counts()["box"] == {"queued": 1}
    assert not (tmp_path / "announcements.mbox").exists()


def test_send_test_mail_says_why_it_will_not_send_in_clear(
    smtp_server: SMTPServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = smtp_server(mode="plain")  # offers no STARTTLS; the config asks for it (the default)
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "127.0.0.1"
        port = {server.port}
        from = "{SENDER}"
        to = "{LIST}"
        """),
        encoding="utf-8",
    )
    assert cli.main(["-c", str(path), "send-test-mail"]) == 1
    out = capsys.readouterr().out
    assert f"list: connecting to 127.0.0.1:{server.port} (then STARTTLS, timeout 10s) …" in out
    assert "list: FAILED: STARTTLS: " in out and "refusing to send without encryption" in out
    assert 'list: hint: the server must offer STARTTLS for tls = "starttls"' in out
    assert 'tls = "none"' in out
    assert server.messages == [] and server.commands == []
