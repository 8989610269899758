"""The mail output without a network: its config, the RFC 5322 messages it builds (headers, MIME
parts, 72 columns, UTF-8, autoescaped HTML), threading of promotions, header injection through feed
fields, and golden files of the mails built from the real Flatcar history snapshots."""

from __future__ import annotations

import dataclasses
import email
import json
import re
import textwrap
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtplib.email import flatten_message

from bot import cli
from bot.config import MailConfig, load_config, masked
from bot.errors import ConfigError
from bot.messages import sample_events, sample_plan_events
from bot.model import Event, PackageChange, Release
from bot.presentation.mailcontext import safe_link
from bot.render import Renderer
from bot.sinks.mail import (
    build_message,
    opens_major,
    thread_parents,
    wrap_mail_text,
)
from bot.store import OutboxMessage, PollRecord, Store
from tests.helpers import DATA, check_golden
from tests.mailhelpers import (
    LIST,
    SENDER,
    StoreHooks,
    alpha_opening_event,
    history_events,
    item_for,
    keep_logging,
    mail_config,
    mail_of,
    mail_sink,
)

GOLDEN = DATA / "golden" / "mail"


def parse(message: EmailMessage) -> EmailMessage:
    """What a receiver sees: the message flattened as aiosmtplib sends it, parsed again."""
    parsed = email.message_from_bytes(flatten_message(message), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str | None]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None

    def content(part: Any) -> str:
        return str(part.get_content()).replace("\r\n", "\n")

    return content(text), content(html) if html is not None else None


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    yield from keep_logging()


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


def test_every_mail_key_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not read at load time\n", encoding="utf-8")
    config = mail_config(
        tmp_path,
        host="smtp.example.org",
        port=2587,
        tls="starttls",
        ca_file="ca.pem",
        username="release-bot@example.org",
        password_env="SMTP_PASSWORD",
        reply_to="flatcar-dev@lists.example.org",
        extra_headers={"X-Release-Bot": "yes"},
        extra_headers_env={"Approved": "LIST_PASSWORD"},
        timeout="20s",
        connect_timeout=5,
        local_hostname="bot.example.org",
        message_id_domain="bot.example.org",
        per_release=True,
        digest={
            "cron": "30 8 * * mon-fri",
            "timezone": "Europe/Berlin",
            "send_empty": True,
            "filter": {"channels": ["stable", "lts"]},
        },
        filter={"sources": ["flatcar"], "kinds": ["promotion"]},
    )
    output = config.outputs[0]
    assert output.kind == "mail"
    mail = output.mail
    assert isinstance(mail, MailConfig)
    assert (mail.host, mail.port, mail.tls) == ("smtp.example.org", 2587, "starttls")
    assert mail.ca_file == tmp_path / "ca.pem"
    assert (mail.username, mail.password_env) == ("release-bot@example.org", "SMTP_PASSWORD")
    assert (mail.sender, mail.to, mail.reply_to) == (SENDER, LIST, "flatcar-dev@lists.example.org")
    assert mail.extra_headers == (("X-Release-Bot", "yes"),)
    assert mail.extra_headers_env == (("Approved", "LIST_PASSWORD"),)
    assert (mail.timeout, mail.connect_timeout) == (20.0, 5.0)
    assert (mail.local_hostname, mail.message_id_domain) == ("bot.example.org", "bot.example.org")
    assert output.filter.kinds == ("promotion",)
    assert mail.digest is not None
    assert mail.digest.describe() == "30 8 * * mon-fri (Europe/Berlin)"
    assert mail.digest.send_empty is True
    assert mail.digest.filter.channels == ("stable", "lts")


@pytest.mark.parametrize(("tls", "port"), [("starttls", 587), ("implicit", 465), ("none", 25)])
def test_defaults(tmp_path: Path, tls: str, port: int) -> None:
    mail = mail_of(mail_config(tmp_path, tls=tls))
    assert mail.port == port
    assert mail.message_id_domain == "example.org"  # the From address's domain
    assert mail.per_release is True and mail.digest is None
    assert (mail.timeout, mail.connect_timeout) == (30.0, 10.0)
    assert mail_of(mail_config(tmp_path)).tls == "starttls"  # the default is encrypted


def test_digest_defaults_to_monday_morning_utc_and_accepts_explicit_fields(tmp_path: Path) -> None:
    mail = mail_of(mail_config(tmp_path, digest={}))
    assert mail.digest is not None
    assert mail.digest.describe() == "0 9 * * mon (UTC)"
    assert mail.digest.send_empty is False
    explicit = mail_config(tmp_path, digest={"day_of_week": "fri", "hour": 17, "minute": 30})
    explicit_digest = mail_of(explicit).digest
    assert explicit_digest is not None
    assert explicit_digest.describe() == "30 17 * * fri (UTC)"


@pytest.mark.parametrize(
    ("keys", "where", "message"),
    [
        ({"host": ""}, "outputs[0].host", "expected a host name"),
        ({"tls": "ssl"}, "outputs[0].tls", "one of 'starttls', 'implicit', 'none'"),
        ({"port": 70000}, "outputs[0].port", "1-65535"),
        ({"ca_file": "missing.pem"}, "outputs[0].ca_file", "no such file"),
        ({"username": "bot"}, "outputs[0].password_env", "needs the password from an environment variable"),
        ({"password_env": "PW"}, "outputs[0].username", "missing"),
        (
            {"password_env": "not a name", "username": "bot"},
            "outputs[0].password_env",
            "environment variable",
        ),
        (
            {"host": "smtp.example.org", "tls": "none", "username": "bot", "password_env": "PW"},
            "outputs[0].username",
            "unencrypted",
        ),
        (
            {"host": "lists.example.org", "tls": "none", "extra_headers_env": {"Approved": "LIST_PASSWORD"}},
            "outputs[0].extra_headers_env",
            "unencrypted",
        ),
        ({"from": "not an address"}, "outputs[0].from", "mail address"),
        ({"to": "list@example.org\r\nBcc: victim@example.org"}, "outputs[0].to", "mail address"),
        ({"reply_to": "x@example.org\nX-Evil: 1"}, "outputs[0].reply_to", "mail address"),
        (
            {"extra_headers": {"From": "x@example.org"}},
            "outputs[0].extra_headers.From",
            "cannot be overridden",
        ),
        ({"extra_headers": {"Bad Header": "1"}}, "outputs[0].extra_headers.Bad Header", "header name"),
        ({"extra_headers": {"X-A": "1\r\nBcc: v@example.org"}}, "outputs[0].extra_headers.X-A", "control"),
        (
            {"extra_headers_env": {"Approved": "has space"}},
            "outputs[0].extra_headers_env.Approved",
            "variable",
        ),
        ({"timeout": "0s"}, "outputs[0].timeout", "at least 1"),
        ({"per_release": False}, "outputs[0].per_release", "would get nothing"),
        ({"per_release": "yes"}, "outputs[0].per_release", "true or false"),
        ({"message_id_domain": "a b"}, "outputs[0].message_id_domain", "domain"),
        ({"digest": {"cron": "0 9 * *"}}, "outputs[0].digest.cron", "5 fields"),
        ({"digest": {"cron": "0 25 * * mon"}}, "outputs[0].digest.cron", "not a valid schedule"),
        ({"digest": {"cron": "0 9 * * 1"}}, "outputs[0].digest.cron", "names"),
        ({"digest": {"cron": "0 9 * * mon", "hour": 9}}, "outputs[0].digest.hour", "either `cron`"),
        ({"digest": {"timezone": "Mars/Olympus"}}, "outputs[0].digest.timezone", "IANA time zone"),
        ({"digest": {"sendempty": True}}, "outputs[0].digest.sendempty", "unknown key"),
        ({"digest": {"filter": {"sources": ["nope"]}}}, "outputs[0].digest.filter.sources[0]", "'flatcar'"),
        ({"smtp_host": "x"}, "outputs[0].smtp_host", "unknown key"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, keys: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        mail_config(tmp_path, **keys)
    assert f"config.toml: {where}: " in str(info.value)
    assert message in str(info.value)


def test_crlf_in_a_toml_string_is_refused_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "list"
        kind = "mail"
        host = "smtp.example.org"
        from = "bot@example.org"
        to = "list@example.org\\r\\nBcc: victim@example.org"
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"config.toml: outputs\[0\].to: expected a mail address"):
        load_config(path)


def test_secrets_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.delenv("LIST_PASSWORD", raising=False)
    config = mail_config(
        tmp_path,
        host="smtp.example.org",
        username="bot",
        password_env="SMTP_PASSWORD",
        extra_headers_env={"Approved": "LIST_PASSWORD"},
    )
    shown = json.dumps(masked(dict(config.raw)))
    assert "hunter2" not in shown
    assert "SMTP_PASSWORD (set)" in shown
    assert "LIST_PASSWORD (NOT SET)" in shown


def test_check_config_renders_the_mail_and_digest_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tpl" / "mail").mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        templates = "tpl"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "smtp.example.org"
        from = "{SENDER}"
        to = "{LIST}"
        [outputs.digest]
        """),
        encoding="utf-8",
    )
    assert cli.main(["-c", str(config), "check-config"]) == 0
    assert "OK (1 source(s), 1 output(s))" in capsys.readouterr().out
    (tmp_path / "tpl" / "mail" / "digest.html.j2").write_text("{{ no_such_thing }}", encoding="utf-8")
    assert cli.main(["-c", str(config), "check-config"]) == 2
    assert "mail/digest.html.j2" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# The message
# --------------------------------------------------------------------------------------------------


def test_a_release_mail_is_rfc5322_multipart_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIST_PASSWORD", "s3cret")
    sink = mail_sink(
        tmp_path,
        reply_to="Flatcar dev <flatcar-dev@lists.example.org>",
        extra_headers={"X-Release-Bot": "1"},
        extra_headers_env={"Approved": "LIST_PASSWORD"},
    )
    event = sample_events()[1]  # a promotion to stable
    item = item_for(sink, event)
    assert "s3cret" not in json.dumps(item.payload)  # the secret never goes into the outbox
    message = parse(sink.build(item))
    assert message["From"] == SENDER
    assert message["To"] == LIST
    assert message["Reply-To"] == "Flatcar dev <flatcar-dev@lists.example.org>"
    assert message["Subject"] == "[Flatcar] stable 4230.2.0 (4230 promoted from beta): kernel 6.6.88"
    assert message["Date"] == "Thu, 10 Apr 2025 12:00:00 +0000"
    assert message["Message-ID"] == "<promotion.sample.stable.4230.2.0.list@example.org>"
    assert message["Approved"] == "s3cret"
    assert message["X-Release-Bot"] == "1"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    text, html = parts(message)
    assert "Flatcar stable 4230.2.0 was released on 2025-04-10 12:00 UTC." in text
    assert "\n-- \nSent by release-bot.\n" in text  # the signature separator keeps its space
    assert html is not None and "<strong>4230.2.0</strong>" in html
    assert 'href="https://www.flatcar.org/releases#release-4230.2.0"' in html
    # a retry builds the very same bytes: same Message-ID, Date and MIME boundary
    assert flatten_message(sink.build(item)) == flatten_message(sink.build(item))


def test_the_text_part_is_wrapped_at_72_columns(tmp_path: Path) -> None:
    long_notes = "- " + " ".join(f"CVE-2025-{n:05d}" for n in range(40)) + "\n- " + "word " * 40
    release = Release(
        source="flatcar",
        project="Flatcar",
        stream="stable",
        channel="stable",
        version="4593.2.5",
        notes=long_notes + "\nhttps://example.org/" + "x" * 90,
        notes_format="markdown",
    )
    text, _ = parts(
        parse(mail_sink(tmp_path).build(item_for(mail_sink(tmp_path), Event("release", release))))
    )
    for line in text.splitlines():
        assert len(line) <= 72 or " " not in line.strip(), line
    assert "https://example.org/" + "x" * 90 in text  # a URL is never broken
    assert wrap_mail_text("-- \nshort line\n") == "-- \nshort line\n"


def test_display_names_are_quoted_not_split(tmp_path: Path) -> None:
    sink = mail_sink(
        tmp_path,
        **{"from": '"Flatcar, the OS" <bot@example.org>', "reply_to": '"Dev, List" <dev@example.org>'},
    )
    message = parse(sink.build(item_for(sink, sample_events()[0])))
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Flatcar, the OS", "bot@example.org")
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Dev, List", "dev@example.org")
    with pytest.raises(ConfigError, match=r"outputs\[0\]\.from: expected a mail address"):
        mail_sink(tmp_path, **{"from": "Flatcar, the OS <bot@example.org>"})  # two addresses


def test_utf8_everywhere(tmp_path: Path) -> None:
    release = Release(
        source="feed",
        project="Zürich-Café ✓",
        stream="releases",
        channel="releases",
        version="1.0.0",
        title="Grüße",
        notes="Änderungen: ✓ naïve → ready",
    )
    sink = mail_sink(tmp_path, **{"from": "Relëase Bot <bot@example.org>"})
    message = sink.build(item_for(sink, Event("release", release)))
    raw = flatten_message(message)
    raw.decode("ascii")  # on the wire: 7-bit headers (RFC 2047) and quoted-printable parts
    parsed = parse(message)
    assert parsed["Subject"] == "[Zürich-Café ✓] 1.0.0 released"
    assert parsed["From"].addresses[0].display_name == "Relëase Bot"
    text, html = parts(parsed)
    assert "Änderungen: ✓ naïve → ready" in text
    assert html is not None and "Zürich-Café ✓" in html


def test_html_is_autoescaped_and_links_must_be_http(tmp_path: Path) -> None:
    release = Release(
        source="feed",
        project="<script>alert(1)</script>",
        stream="releases",
        channel="releases",
        version='1.0"><img src=x onerror=alert(1)>',
        link="javascript:alert(1)",
        notes="<b>not bold</b> & more",
    )
    sink = mail_sink(tmp_path)
    _, html = parts(parse(sink.build(item_for(sink, Event("release", release)))))
    assert html is not None
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert "javascript:" not in html
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; more" in html
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("https://example.org/a b") is None
    assert safe_link(" https://example.org/x ") == "https://example.org/x"


# Every field a feed controls, with every way of starting a new header line.
INJECTIONS = [
    "\r\nBcc: victim@example.org",
    "\nBcc: victim@example.org",
    "\rBcc: victim@example.org",
    "\u2028Bcc: victim@example.org",
    "\x85Bcc: victim@example.org",
    "\r\n\r\nBcc: victim@example.org",
    "\x00\r\nX-Injected: yes",
]
FIELDS = ["project", "version", "title", "channel", "stream", "link", "kernel"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("attack", INJECTIONS, ids=lambda a: repr(a)[:12])
def test_no_header_injection_through_feed_fields(tmp_path: Path, field: str, attack: str) -> None:
    values: dict[str, Any] = {
        "source": "feed",
        "project": "Proj",
        "stream": "stable",
        "channel": "stable",
        "version": "1.2.3",
        "title": "v1.2.3",
        "link": "https://example.org/r",
        "packages": {"kernel": "6.6.1"},
    }
    if field == "kernel":
        values["packages"] = {"kernel": "6.6.1" + attack}
    else:
        values[field] = values[field] + attack
    release = Release(**values)
    previous = Release(**{**values, "version": "1.2.2", "packages": {"kernel": "6.6.0"}})
    event = Event(
        "promotion",
        release,
        previous=previous,
        promoted_from="beta",
        changes=(PackageChange("kernel", "6.6.0", "6.6.1" + attack),),
    )
    sink = mail_sink(tmp_path)
    raw = flatten_message(sink.build(item_for(sink, event)))
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert names == [
        b"From",
        b"To",
        b"Subject",
        b"Date",
        b"Message-ID",
        b"Auto-Submitted",
        b"MIME-Version",
        b"Content-Type",
    ]
    parsed = parse(sink.build(item_for(sink, event)))
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert str(parsed["Message-ID"]).strip().startswith("<promotion.feed.")
    # a long id is cut to fit one header line (ending in a hash of the whole)
    assert str(parsed["Message-ID"]).endswith("@example.org>")
    assert len(f"Message-ID: {parsed['Message-ID']}") <= 78


def test_feed_text_cannot_forge_a_mime_part(tmp_path: Path) -> None:
    # The boundary is derived from the Message-ID, so a feed author can compute it; the parts are
    # quoted-printable and the boundary holds "=", so it can never appear on a line of the body.
    from bot.sinks.mailwire import boundary as mime_boundary

    sink = mail_sink(tmp_path)
    release = Release(source="feed", project="Proj", stream="releases", channel="releases", version="1.0.0")
    boundary = mime_boundary(sink.message_id(Event("release", release)))
    forged = f"--{boundary}\nContent-Type: text/html\n\n<script>x</script>\n--{boundary}--"
    release = dataclasses.replace(release, notes=forged, title=forged)
    raw = flatten_message(sink.build(item_for(sink, Event("release", release))))
    assert raw.count(f"--{boundary}".encode()) == 3  # two parts and the end, all ours
    message = parse(sink.build(item_for(sink, Event("release", release))))
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    assert f"--{boundary}" in text and html is not None and "<script>" not in html


def test_header_values_from_the_payload_are_sanitised_too(tmp_path: Path) -> None:
    # Defence in depth: an outbox row written by an older release-bot (or edited by hand).
    mail = mail_of(mail_config(tmp_path))
    payload = {
        "subject": "Hi\r\nBcc: victim@example.org",
        "text": "body",
        "html": None,
        "references": ["<a@b>\r\nBcc: victim@example.org"],
    }
    message = parse(
        build_message(mail, payload, message_id="<x@example.org>", date=datetime(2025, 1, 1, tzinfo=UTC))
    )
    assert message["Bcc"] is None
    assert message["Subject"] == "Hi Bcc: victim@example.org"
    assert message.get_content_type() == "text/plain"  # no HTML template → a text-only mail


def test_per_release_mails_are_routed_like_irc(tmp_path: Path) -> None:
    events = [e for _, batch in history_events() for e in batch]
    everything = mail_sink(tmp_path)
    assert all(everything.wants(e) for e in events)
    stable_up = mail_sink(tmp_path, filter={"channels": ["stable", "lts-2024"], "kinds": ["release"]})
    assert [e.key for e in events if stable_up.wants(e)] == [
        "release:flatcar/stable/4152.2.1",
        "release:flatcar/lts-2024/4081.3.1",
        "release:flatcar/stable/4152.2.2",
        "release:flatcar/lts-2024/4081.3.2",
    ]
    promotions = mail_sink(tmp_path, filter={"kinds": ["promotion"], "sources": ["flatcar"]})
    assert [e.key for e in events if promotions.wants(e)] == ["promotion:flatcar/beta/4230.1.0"]
    digest_only = mail_sink(tmp_path, per_release=False, digest={})
    assert not any(digest_only.wants(e) for e in events)
    deprecation = next(e for e in sample_plan_events() if e.kind == "deprecation")
    assert everything.wants(deprecation) and not stable_up.wants(deprecation)


# --------------------------------------------------------------------------------------------------
# Threading
# --------------------------------------------------------------------------------------------------


def _release(channel: str, version: str, source: str = "flatcar") -> Release:
    return Release(source=source, project="Flatcar", stream=channel, channel=channel, version=version)


def test_thread_parents_are_the_mails_that_opened_the_major() -> None:
    alpha0 = Event("release", _release("alpha", "4230.0.0"), previous=_release("alpha", "4186.0.0"))
    alpha1 = Event("release", _release("alpha", "4230.0.1"), previous=_release("alpha", "4230.0.0"))
    beta = Event("promotion", _release("beta", "4230.1.0"), promoted_from="alpha")
    beta1 = Event("release", _release("beta", "4230.1.1"), previous=_release("beta", "4230.1.0"))
    stable = Event("promotion", _release("stable", "4230.2.0"), promoted_from="beta")
    other_major = Event("release", _release("alpha", "4186.0.0"), previous=None)
    other_source = Event("release", _release("alpha", "4230.0.0", source="mirror"))
    history = [
        (e, f"<{i}@x>") for i, e in enumerate([other_major, other_source, alpha0, alpha1, beta, beta1])
    ]
    assert [opens_major(e) for e in (alpha0, alpha1, beta, beta1)] == [True, False, True, False]
    assert thread_parents(beta, history[:4]) == ["<2@x>"]
    assert thread_parents(stable, history) == ["<2@x>", "<4@x>"]
    assert thread_parents(beta1, history) == []  # only promotions are threaded
    assert thread_parents(stable, []) == []


def test_a_promotion_threads_under_the_alpha_mail_of_the_same_list(tmp_path: Path) -> None:
    store = Store(":memory:")
    sink = mail_sink(tmp_path)
    sink.attach(StoreHooks(store))
    renderer = Renderer()
    alpha = alpha_opening_event()

    def record(event: Event, when: datetime) -> OutboxMessage:
        message = sink.format(event, renderer)
        store.commit_poll(
            PollRecord("flatcar", now=when, documents=(), new_releases=(), events=[(event, [message])])
        )
        return message

    first = record(alpha, datetime(2025, 1, 30, 17, 0, tzinfo=UTC))
    assert first.payload["references"] == []
    sink._recent.clear()  # what a new process would know: only the store
    later = history_events()[2][1]
    promotion = next(e for e in later if e.kind == "promotion")
    message = record(promotion, datetime(2025, 3, 20, 18, 0, tzinfo=UTC))
    assert message.payload["references"] == ["<release.flatcar.alpha.4230.0.0.list@example.org>"]
    item = store.pending("list", now=datetime(2025, 3, 21, tzinfo=UTC))[-1]
    built = parse(sink.build(item))
    assert built["In-Reply-To"] == "<release.flatcar.alpha.4230.0.0.list@example.org>"
    assert built["References"] == "<release.flatcar.alpha.4230.0.0.list@example.org>"

    # a list that never got the alpha mail has nothing to thread under
    beta_only = mail_sink(tmp_path, name="stable-list", filter={"channels": ["beta", "stable"]})
    beta_only.attach(StoreHooks(store))
    assert beta_only.format(promotion, renderer).payload["references"] == []
    store.close()


def test_a_promotion_finds_its_thread_parents_without_loading_the_history(tmp_path: Path) -> None:
    """Per event, the mail sink asks the store one indexed question — (list, source, major) — however
    many mails the list has had; it never reads the outbox or the events."""
    store = Store(":memory:")
    sink = mail_sink(tmp_path)
    sink.attach(StoreHooks(store))
    renderer = Renderer()
    alpha = alpha_opening_event()
    history = [
        Event("release", _release("alpha", f"{4000 + n}.0.0"), previous=_release("alpha", f"{3999 + n}.0.0"))
        for n in range(200)
    ]
    for event in [*history, alpha]:
        message = sink.format(event, renderer)
        store.commit_poll(
            PollRecord("flatcar", now=datetime(2025, 1, 30, tzinfo=UTC), events=[(event, [message])])
        )
    sink._recent.clear()
    promotion = next(e for e in history_events()[2][1] if e.kind == "promotion")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    message = sink.format(promotion, renderer)
    store._db.set_trace_callback(None)
    assert message.payload["references"] == ["<release.flatcar.alpha.4230.0.0.list@example.org>"]
    assert len(statements) == 1 and "FROM threads" in statements[0]
    assert "outbox" not in statements[0] and "events" not in statements[0]
    assert (
        message.thread is not None and message.thread.major == "4230"
    )  # a promotion opens its channel's thread
    store.close()


# --------------------------------------------------------------------------------------------------
# Golden files: the real history, as the list receives it
# --------------------------------------------------------------------------------------------------

POLL_TIMES = {
    "2025-01-30_alpha-4230.0.0": datetime(2025, 1, 30, 17, 0, tzinfo=UTC),
    "2025-01-31_to_2025-02-18": datetime(2025, 2, 18, 12, 0, tzinfo=UTC),
    "2025-02-18_to_2025-03-20": datetime(2025, 3, 20, 18, 0, tzinfo=UTC),
}


def render_history_mails(tmp_path: Path) -> dict[str, str]:
    """Every mail the list gets for the history, through the store as the Bot does it."""
    store = Store(":memory:")
    sink = mail_sink(tmp_path, reply_to="flatcar-dev@lists.example.org")
    sink.attach(StoreHooks(store))
    renderer = Renderer()
    out: dict[str, str] = {}
    seen: set[int] = set()
    for name, events in history_events():
        now = POLL_TIMES[name]
        messages = [(e, [sink.format(e, renderer)]) for e in events if sink.wants(e)]
        store.commit_poll(PollRecord("flatcar", now=now, documents=(), new_releases=(), events=messages))
        chunks = [f"# {name}: {len(messages)} mail(s)"]
        for item in store.pending("list", now=now):
            if item.id in seen:
                continue
            seen.add(item.id)
            raw = flatten_message(sink.build(item)).decode("ascii").replace("\r\n", "\n")
            chunks += ["", f"== {item.event_key}", raw]
        out[name] = "\n".join(chunks)
    store.close()
    return out


def test_history_mails_golden(tmp_path: Path) -> None:
    for name, text in render_history_mails(tmp_path).items():
        check_golden(GOLDEN / f"{name}.eml.txt", text)


def test_history_mails_read_well(tmp_path: Path) -> None:
    mails = render_history_mails(tmp_path)
    raw = mails["2025-02-18_to_2025-03-20"]
    messages = [
        email.message_from_string(chunk.split("\n", 1)[1], policy=default_policy)
        for chunk in raw.split("\n== ")[1:]
    ]
    subjects = [str(m["Subject"]) for m in messages]
    assert subjects == [
        "[Flatcar] beta 4230.1.0 (4230 promoted from alpha): kernel 6.6.83, 69 security fixes",
        "[Flatcar] stable 4152.2.2: kernel 6.6.83, 61 security fixes",
        "[Flatcar] LTS-2024 4081.3.2: kernel 6.6.83, 61 security fixes",
        "[Flatcar] LTS-2023 3510.3.7: kernel 5.15.179, 183 security fixes",
    ]
    assert messages[0]["In-Reply-To"] == "<release.flatcar.alpha.4230.0.0.list@example.org>"
    for message in messages:
        assert isinstance(message, EmailMessage)
        text, html = parts(message)
        for line in text.splitlines():
            # longer only for one long word, or a reference / id line ending in its URL
            head, _, last = line.rpartition(" ")
            assert len(line) <= 72 or " " not in line.strip() or (len(head) <= 72 and "://" in last), line
        assert html is not None and re.search(r"<a href=\"https://www\.flatcar\.org/releases#release-", html)


def test_the_commented_mail_example_in_config_example_toml_is_valid(tmp_path: Path) -> None:
    import tomllib

    from bot.config import parse_config

    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text(encoding="utf-8")
    block = text.split("# --- mail example start\n", 1)[1].split("# --- mail example end", 1)[0]
    toml_lines = []
    for line in block.splitlines():
        body = line.removeprefix("# ").removeprefix("# ")  # "# # key" documents an optional key
        if re.match(r'^(\[|[A-Za-z_"][\w"-]* = )', body):
            toml_lines.append(body)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("", encoding="utf-8")
    example = tomllib.loads("\n".join(toml_lines).replace("/etc/ssl/private-ca.pem", str(ca_file)))
    keys = set(example["outputs"][0])
    assert keys >= {
        "host",
        "port",
        "tls",
        "ca_file",
        "username",
        "password_env",
        "from",
        "to",
        "reply_to",
        "timeout",
        "connect_timeout",
        "local_hostname",
        "message_id_domain",
        "per_release",
        "extra_headers",
        "extra_headers_env",
        "filter",
        "digest",
    }
    config = parse_config(
        {"sources": [{"name": "flatcar", "kind": "flatcar"}], **example}, path=tmp_path / "config.toml"
    )
    mail = mail_of(config)
    assert (mail.host, mail.port, mail.tls) == ("smtp.gmail.com", 587, "starttls")
    assert mail.extra_headers_env == (("Approved", "MAILMAN_LIST_PASSWORD"),)
    assert mail.digest is not None
    assert mail.digest.describe() == "0 9 * * mon (Europe/Berlin)"
