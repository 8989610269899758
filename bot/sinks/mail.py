"""Mail sink: one mailing list, reached over SMTP with aiosmtplib.

`render` runs at enqueue: subject, text and HTML parts and the thread headers go into the outbox in the
same transaction as the state. `deliver` builds the RFC 5322 message from that payload — the same
Message-ID, Date and MIME boundary on every attempt — and sends it. Transport security is explicit
(`tls = "starttls" | "implicit" | "none"`): a server that does not offer STARTTLS when it is required is
an error, never a silent downgrade.

SMTP delivery is `bot.sinks.smtp` (one session per delivery pass). Failures are DeliveryErrors: a 5xx
answer to MAIL FROM, RCPT TO or DATA is permanent for that message (the Bot keeps it as 'failed',
visible in `status`); a refused login stops the output after `max_auth_failures` in a row; everything
else (connection refused, timeouts, TLS problems, 4xx answers) is transient and retried with backoff.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any

from bot.config import MailConfig, MailOutput, secret
from bot.errors import DeliveryError
from bot.model import AnyEvent, DeprecationEvent, Event
from bot.routing import passes
from bot.sinks.base import BotHooks, Sink
from bot.store import OutboxItem, OutboxMessage, ThreadKey
from bot.text import sanitize, sanitize_body

if TYPE_CHECKING:
    from email.message import EmailMessage

    from bot.presentation.render import Renderer
    from bot.sinks.mailwire import TEXT_WIDTH, WireMessage, WireWriter, wrap_mail_text
    from bot.sinks.smtp import Progress, SmtpSession

# Imported when first used, not with the sink: the message builders (`bot.sinks.mailwire`, the
# stdlib's `email.message` and `email.policy`) when a mail is first rendered or sent, the SMTP client
# (aiosmtplib) when one is first sent — a `once` in which nothing changed loads none of them.


def __getattr__(name: str) -> object:
    if name in ("TEXT_WIDTH", "wrap_mail_text"):  # re-exported from bot.sinks.mailwire
        from bot.sinks import mailwire

        return getattr(mailwire, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TEXT_WIDTH",
    "MailSink",
    "build_message",
    "thread_parents",
    "wrap_mail_text",
]


def opens_major(event: Event) -> bool:
    """True for the first mail about a major version in a stream: a promotion, or a release whose
    stream had no earlier release of that major (Flatcar's alpha N.0.0)."""
    if event.kind == "promotion":
        return True
    previous = event.previous
    return event.kind == "release" and (previous is None or previous.major != event.release.major)


def thread_parents(event: Event, history: Sequence[tuple[Event, str]]) -> list[str]:
    """Message-IDs a promotion mail threads under: the earlier mails on the same list that opened the
    same major version of the same source (alpha N.0.0, then beta N.1.0 …), oldest first."""
    if event.kind != "promotion":
        return []
    release = event.release
    parents: list[str] = []
    for earlier, mid in history:
        if not isinstance(earlier, Event) or earlier.key == event.key or mid in parents:
            continue
        other = earlier.release
        if other.source == release.source and other.major == release.major and opens_major(earlier):
            parents.append(mid)
    return parents


def build_message(
    mail: MailConfig,
    payload: Mapping[str, Any],
    *,
    message_id: str,
    date: datetime,
    secrets: Mapping[str, str] | None = None,
    to: str | None = None,
) -> EmailMessage:
    """The RFC 5322 message for one outbox payload. Pure and deterministic: the same payload, id and
    date give the same bytes (the MIME boundary derives from the Message-ID).

    Every header value passes the sanitiser and the stdlib header registry, so nothing from a feed can
    add a header; the text and HTML parts pass `sanitize_body` (no control, bidi or IRC formatting
    characters; layout kept). `secrets` are the values of `extra_headers_env` (e.g. Mailman's Approved:).
    """
    from email import policy
    from email.message import EmailMessage

    from bot.sinks.mailwire import (
        boundary,
        header_value,
        set_address_headers,
        set_extra_headers,
        wrap_mail_text,
    )

    message = EmailMessage(policy=policy.default)
    set_address_headers(message, mail, to)
    message["Subject"] = header_value(payload.get("subject", ""))
    message["Date"] = format_datetime(date)
    message["Message-ID"] = header_value(message_id)
    if mail.auto_submitted != "no":
        message["Auto-Submitted"] = mail.auto_submitted  # RFC 3834: no auto-replies to an announcement
    parents = [header_value(p) for p in payload.get("references") or () if p]
    if parents:
        message["In-Reply-To"] = parents[-1]
        message["References"] = " ".join(parents)
    set_extra_headers(message, mail, secrets)
    # bodies pass the body sanitiser here, at build time, so rows queued by an older release-bot do too
    text = wrap_mail_text(sanitize_body(str(payload.get("text", ""))))
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    html = payload.get("html")
    if html:
        clean_html = sanitize_body(str(html))
        message.add_alternative(clean_html, subtype="html", charset="utf-8", cte="quoted-printable")
        message.set_boundary(boundary(message_id))
        for part in message.iter_parts():
            del part["MIME-Version"]  # the stdlib repeats it on added parts; it belongs on the top only
    return message


class MailSink(Sink):
    kind = "mail"

    def __init__(self, config: MailOutput) -> None:
        super().__init__(config)
        self.mail: MailConfig = config.mail
        self.has_digest = self.mail.digest is not None
        self._hooks: BotHooks | None = None
        self._recent: list[tuple[Event, str]] = []  # rendered in this process, maybe not yet stored
        self._session: SmtpSession | None = None  # reused within a pass; made when first needed
        self._wire: WireWriter | None = None  # made when a first mail is written
        # an envelope outside ASCII needs SMTPUTF8 and UTF-8 headers: those mails go through `build`
        self._wire_ok = (self.mail.envelope_sender + parseaddr(self.mail.to)[1]).isascii()
        self.max_auth_failures = self.mail.max_auth_failures  # then the Deliverer stops the output

    @property
    def session(self) -> SmtpSession:
        """The SMTP session delivery passes reuse (aiosmtplib is imported when it is first asked for)."""
        if self._session is None:
            from bot.sinks.smtp import SmtpSession

            self._session = SmtpSession(self.name, self.mail, self.tls_context)
        return self._session

    @property
    def wire(self) -> WireWriter:
        """The writer of this list's mails (`bot.sinks.mailwire`, imported when first asked for)."""
        if self._wire is None:
            from bot.sinks.mailwire import WireWriter

            self._wire = WireWriter(self.mail)
        return self._wire

    # -- enqueue -----------------------------------------------------------------------------------

    def attach(self, bot: BotHooks) -> None:
        self._hooks = bot

    def wants(self, event: AnyEvent) -> bool:
        """Per-release mails that pass the filter — except a deprecation notice that arrives with a
        release this list gets a mail about: the notice is in that mail (one mail per release)."""
        if not (self.mail.per_release and super().wants(event)):
            return False
        if isinstance(event, DeprecationEvent):
            from bot.presentation.batch import current as current_batch
            from bot.presentation.mailcontext import release_of

            release = release_of(event, current_batch())
            return release is None or not passes(self.config.filter, release)
        return True

    def message_id(self, event: AnyEvent) -> str:
        from bot.presentation.ids import message_id

        return message_id(event, self.name, domain=self.mail.message_id_domain)

    def format(self, event: AnyEvent, renderer: Renderer) -> OutboxMessage:
        thread = None
        if isinstance(event, Event) and opens_major(event):  # later promotions thread under it
            thread = ThreadKey(
                source=event.release.source, stream=event.release.stream, major=event.release.major
            )
        message = OutboxMessage(
            sink=self.name,
            message_id=self.message_id(event),
            payload=self.render(event, renderer),
            group=self.group,
            thread=thread,
        )
        if isinstance(event, Event):  # only release mails thread (deprecation/roadmap mails stand alone)
            self._recent = [*self._recent[-49:], (event, message.message_id)]
        return message

    def _parents(self, event: Event) -> list[str]:
        """The thread parents of `event`: the stored mails that opened its major (an indexed lookup by
        (list, source, major)), then those rendered in this process but maybe not stored yet."""
        if event.kind != "promotion":
            return []
        parents: list[str] = []
        if self._hooks is not None:
            release = event.release
            for start in self._hooks.thread_starts(self.name, source=release.source, major=release.major):
                if start.event_key != event.key and start.message_id not in parents:
                    parents.append(start.message_id)
        parents.extend(mid for mid in thread_parents(event, self._recent) if mid not in parents)
        return parents

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        # the mail contexts (notes, the security list) are imported when a first mail is rendered
        from bot.presentation.batch import current as current_batch
        from bot.presentation.mailcontext import mail_context
        from bot.sinks.mailwire import wrap_mail_text

        batch = current_batch()
        if isinstance(event, Event):  # the notices it brings, if this list gets them with it
            batch = tuple(
                e for e in batch if not isinstance(e, DeprecationEvent) or passes(self.config.filter, e)
            )
        context = mail_context(event, batch)
        html = f"mail/{event.kind}.html.j2"
        return {
            "kind": event.kind,
            "subject": sanitize(renderer.render(f"mail/{event.kind}.subject.j2", **context)),
            "text": wrap_mail_text(renderer.render(f"mail/{event.kind}.txt.j2", **context)),
            # a kind without an HTML template is sent as text only
            "html": renderer.render(html, **context) if renderer.has(html) else None,
            "references": self._parents(event) if isinstance(event, Event) else [],
        }

    def render_digest(self, context: Mapping[str, Any], renderer: Renderer) -> dict[str, object]:
        from bot.sinks.mailwire import wrap_mail_text

        return {
            "kind": "digest",
            "subject": sanitize(renderer.render("mail/digest.subject.j2", **context)),
            "text": wrap_mail_text(renderer.render("mail/digest.txt.j2", **context)),
            "html": renderer.render("mail/digest.html.j2", **context),
            "references": [],
        }

    # -- delivery ----------------------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """The values of `extra_headers_env` that are set."""
        values = {}
        for _, env in self.mail.extra_headers_env:
            value = secret(env)
            if value is not None:
                values[env] = value
        return values

    def build(self, item: OutboxItem, *, to: str | None = None) -> EmailMessage:
        missing = [env for _, env in self.mail.extra_headers_env if secret(env) is None]
        if missing:
            raise DeliveryError(
                f"environment variable ${missing[0]} (extra_headers_env) is not set", sink=self.name
            )
        return build_message(
            self.mail,
            item.payload,
            message_id=item.message_id,
            date=item.created_at,
            secrets=self.secrets(),
            to=to,
        )

    def build_wire(self, item: OutboxItem) -> WireMessage:
        """The bytes `build` gives, flattened as for SMTP, written directly (bot.sinks.mailwire)."""
        missing = [env for _, env in self.mail.extra_headers_env if secret(env) is None]
        if missing:
            raise DeliveryError(
                f"environment variable ${missing[0]} (extra_headers_env) is not set", sink=self.name
            )
        return self.wire.write(
            item.payload, message_id=item.message_id, date=item.created_at, secrets=self.secrets()
        )

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.mail.ca_file) if self.mail.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def deliver(self, item: OutboxItem) -> None:
        await self.session.send(self.build_wire(item) if self._wire_ok else self.build(item))

    async def end_pass(self) -> None:
        """The end of a delivery pass: QUIT the SMTP session it used."""
        if self._session is not None:
            await self._session.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        message: EmailMessage,
        *,
        recipients: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Send one message over a session of its own (`send-test-mail`); the server's final answer.

        Raises DeliveryError naming the step that failed and the server's answer.
        """
        from bot.sinks.smtp import SmtpSession

        session = SmtpSession(self.name, self.mail, self.tls_context)
        try:
            return await session.send(message, recipients=recipients, progress=progress)
        finally:
            await session.close()
