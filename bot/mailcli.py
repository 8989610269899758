"""Mail verbs of the command line: `send-test-mail` and `digest --preview | --send-now` (and `deliver`,
from `bot.delivercli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import ConfigError, DeliveryError

if TYPE_CHECKING:  # imported where used: `release-bot --help` must not load the mail stack
    from email.message import EmailMessage

    from bot.config import Config, MailConfig
    from bot.presentation import Renderer
    from bot.sinks.mail import MailSink

ConfigLoader = Callable[[argparse.Namespace], "Config"]

_HINTS = {
    "connect": "is host/port right, is the server reachable from here, does `tls` match the port "
    '(587: "starttls", 465: "implicit")?',
    "STARTTLS": 'the server must offer STARTTLS for tls = "starttls"; on port 465 use tls = "implicit"; '
    'a relay on this machine without TLS: tls = "none"',
    "AUTH": "check `username` and the password in the environment variable named by `password_env` "
    "(Gmail/Google Workspace: an app password)",
    "certificate": "the server's certificate is not trusted: is `host` the name the certificate is for? "
    "For a private or self-signed CA set `ca_file` to its PEM bundle (verification is never turned off)",
    "send": "the server refused the sender, the list address or the message: is `from` allowed to post "
    "to the list, is `to` right?",
}


def mail_sinks(config: Config, name: str | None) -> list[MailSink]:
    from bot.config import MailOutput
    from bot.sinks.mail import MailSink

    outputs = [o for o in config.outputs if isinstance(o, MailOutput)]
    if name is not None:
        outputs = [o for o in outputs if o.name == name]
        if not outputs:
            known = ", ".join(o.name for o in config.outputs if o.kind == "mail") or "none"
            raise ConfigError(f"no mail output named {name!r} (mail outputs: {known})", path=str(config.path))
    if not outputs:
        raise ConfigError('no [[outputs]] with kind = "mail" in this config', path=str(config.path))
    return [MailSink(o) for o in outputs]


def _test_message(
    sink: MailSink, *, to: str | None, renderer: Renderer | None = None
) -> tuple[EmailMessage, list[str] | None]:
    """A test mail shaped like a real announcement: a note on where it comes from, then a sample
    release mail rendered by the list's templates (text and HTML parts)."""
    import html
    from email.utils import make_msgid, parseaddr

    from bot.presentation import Renderer, sample_events
    from bot.sinks.mail import build_message

    mail: MailConfig = sink.mail
    now = datetime.now(UTC)
    lines = [
        f"This is a test mail from release-bot's output {sink.name!r}.",
        "",
        f"SMTP server: {mail.host}:{mail.port} (tls = {mail.tls})",
        f"From: {mail.sender}",
        f"To: {to or mail.to}",
        f"Per-release mails: {'yes' if mail.per_release else 'no'}",
        f"Digest: {mail.digest.describe() if mail.digest else 'no'}",
        f"Sent: {now:%Y-%m-%d %H:%M:%S} UTC",
        "",
        "If the list shows it, announcements will reach it the same way. Below, a sample",
        "announcement (made-up data, not a real release) as the list will receive them:",
        "",
    ]
    sample = sink.render(sample_events()[0], renderer or Renderer())
    intro = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    sample_html = str(sample.get("html") or "")
    payload = {
        "subject": f"[release-bot] Test mail from output {sink.name}",
        "text": "\n".join(lines) + "\n" + str(sample["text"]),
        "html": sample_html.replace("<body>", "<body>\n" + intro + "<hr>", 1) if sample_html else None,
    }
    missing = [env for _, env in mail.extra_headers_env if env not in sink.secrets()]
    if missing:
        raise DeliveryError(
            f"environment variable ${missing[0]} (extra_headers_env) is not set", sink=sink.name
        )
    message = build_message(
        mail,
        payload,
        message_id=make_msgid("release-bot-test", domain=mail.message_id_domain),
        date=now,
        secrets=sink.secrets(),
        to=to,
    )
    return message, [parseaddr(to)[1]] if to else None


async def send_test_mail(
    sinks: list[MailSink], *, to: str | None = None, renderer: Renderer | None = None
) -> int:
    failed = 0
    for sink in sinks:

        def say(text: str, sink: MailSink = sink) -> None:
            print(f"{sink.name}: {text} …", flush=True)

        try:
            message, recipients = _test_message(sink, to=to, renderer=renderer)
            answer = await sink.send(message, recipients=recipients, progress=say)
        except ValueError as exc:  # --to is not an address
            failed += 1
            print(f"{sink.name}: FAILED: {exc}")
            continue
        except DeliveryError as exc:
            failed += 1
            detail = str(exc).removeprefix(f"sink {sink.name!r}: ")
            print(f"{sink.name}: FAILED: {detail}")
            step = detail.split(":", 1)[0]
            if "certificate" in detail:  # after STARTTLS or with implicit TLS: the certificate is the cause
                step = "certificate"
            if step in _HINTS:
                print(f"{sink.name}: hint: {_HINTS[step]}")
            continue
        print(f"{sink.name}: OK: the server accepted the test mail ({answer})")
    return 1 if failed else 0


def cmd_send_test_mail(args: argparse.Namespace, load: ConfigLoader) -> int:
    import asyncio

    from bot.presentation import Renderer

    config = load(args)
    sinks = mail_sinks(config, args.output)
    return asyncio.run(send_test_mail(sinks, to=args.to, renderer=Renderer(override_dir=config.templates)))


def cmd_digest(args: argparse.Namespace, load: ConfigLoader) -> int:
    import asyncio

    from bot import digest as digests
    from bot.render import Renderer
    from bot.store import Store
    from bot.store.backend import open_state

    config = load(args)
    sinks = [s for s in mail_sinks(config, args.output) if s.has_digest]
    if not sinks:
        raise ConfigError("no mail output with an [outputs.digest] table", path=str(config.path))
    renderer = Renderer(override_dir=config.templates)
    now = datetime.now(UTC)
    if args.preview:
        store = (  # PostgreSQL: the shared state, read as it is (not migrated)
            open_state(config, migrate=False)
            if config.database is not None
            else Store(config.state if config.state.exists() else ":memory:")
        )
        try:
            for sink in sinks:
                digest = sink.mail.digest
                assert digest is not None
                plan = digests.plan(store, sink, period_end=now)
                message = digests.render(sink, plan, renderer)
                since = digests.local_time(plan.period_start, digest.timezone)
                why = (
                    "no digest recorded yet: the schedule's previous time"
                    if plan.baseline
                    else "previous digest"
                )
                print(f"# output {sink.name}: {len(plan.events)} announcement(s) since {since} ({why})")
                upcoming = digests.local_time(digests.next_fire(digest.trigger(), now), digest.timezone)
                print(
                    f"# schedule {digest.describe()}: next digest {upcoming}; this is what it would say now"
                )
                if not plan.events and not digest.send_empty:
                    print("# (empty: a scheduled digest would not be sent; send_empty = false)")
                print(f"Subject: {message.payload['subject']}")
                print(f"Message-ID: {message.message_id}")
                print()
                print(message.payload["text"], end="")
                if args.html:
                    print()
                    print(message.payload["html"], end="")
        finally:
            store.close()
        return 0

    from bot.app import Bot

    async def send_now() -> int:
        # only these lists: no other output is opened (an IRC network would be joined) or delivered to
        bot = Bot(config, sinks=sinks, renderer=renderer)
        try:
            for sink in sinks:
                plan = digests.enqueue(bot.store, sink, renderer, now=now, period_end=now, force=True)
                if plan is None:
                    print(f"{sink.name}: a digest ending now is already recorded", file=sys.stderr)
                else:
                    print(f"{sink.name}: digest queued ({len(plan.events)} announcement(s))", file=sys.stderr)
            delivery = await bot.deliver()
            waiting = {
                s.name: len(bot.store.pending(s.name, now=datetime(9999, 1, 1, tzinfo=UTC))) for s in sinks
            }
        finally:
            await bot.aclose()
        print(f"delivered {delivery.delivered}, failed {delivery.failed}", file=sys.stderr)
        for error in delivery.errors:
            print(f"  {error}", file=sys.stderr)
        for name, count in waiting.items():
            if count:
                print(
                    f"{name}: {count} mail(s) still queued; `run` retries them with backoff", file=sys.stderr
                )
        return 1 if delivery.failed else 0

    return asyncio.run(send_now())


def add_mail_verbs(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: ConfigLoader) -> None:
    p = sub.add_parser(
        "send-test-mail",
        help="send a test mail through each mail output (or OUTPUT): checks the whole path, says what failed",
    )
    p.add_argument("output", nargs="?", help="a mail output's name (default: every mail output)")
    p.add_argument("--to", help="send to this address instead of the list")
    p.set_defaults(func=lambda args: cmd_send_test_mail(args, load))
    p = sub.add_parser("digest", help="show (--preview) or send (--send-now) the digest of a mail output now")
    p.add_argument(
        "output", nargs="?", help="a mail output's name (default: every mail output with a digest)"
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--preview", action="store_true", help="print the digest as it would be sent now; writes nothing"
    )
    mode.add_argument(
        "--send-now",
        action="store_true",
        help="queue the digest of everything since the previous one (even if empty) and deliver",
    )
    p.add_argument("--html", action="store_true", help="with --preview: also print the HTML part")
    p.set_defaults(func=lambda args: cmd_digest(args, load))
    from bot.delivercli import add_deliver_verb

    add_deliver_verb(sub, load)
