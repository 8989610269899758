"""Mail sink: one mailing list, reached over SMTP with aiosmtplib.

`render` runs at enqueue: subject, text and HTML parts and the thread headers go into the outbox in the
same transaction as the state. `deliver` builds the RFC 5322 message from that payload — the same
Message-ID, Date and MIME boundary on every attempt — and sends it. Transport security is explicit
(`tls = "starttls" | "implicit" | "none"`): a server that does not offer STARTTLS when it is required is
an error, never a silent downgrade.

Failures are DeliveryErrors: a 5xx answer to MAIL FROM, RCPT TO or DATA is permanent for that message
(the Bot keeps it as 'failed', visible in `status`); everything else (connection refused, timeouts, TLS
or authentication problems, 4xx answers) is transient and retried with backoff.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib

from bot.config import MailConfig, MailOutput, mail_address, secret
from bot.errors import DeliveryError
from bot.messages import event_context, message_id
from bot.model import AnyEvent, Event
from bot.render import Renderer
from bot.sinks.base import BotHooks, Sink
from bot.store import OutboxItem, OutboxMessage, ThreadKey
from bot.text import sanitize, sanitize_body, wrap_text
from bot.web import metrics

__all__ = [
    "MailSink",
    "build_message",
    "classify_error",
    "safe_link",
    "thread_parents",
    "wrap_mail_text",
]

#: Width of the text part. Longer lines are wrapped; a single word longer than this (a URL) stays whole.
TEXT_WIDTH = 72

Progress = Callable[[str], None]


def safe_link(link: object) -> str | None:
    """A link fit for an HTML href: http(s) only, no whitespace or control characters."""
    if not isinstance(link, str):
        return None
    link = link.strip()
    if re.match(r"^https?://[^\s\x00-\x1f\x7f]+$", link, re.IGNORECASE):
        return link
    return None


def wrap_mail_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap the lines of a text part that are longer than `width` (list items get a hanging indent);
    shorter lines — tables, the "-- " signature separator — are kept exactly."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out.append(line if len(line) <= width else wrap_text(line, width))
    return "\n".join(out).strip("\n") + "\n"


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


def _header(value: object) -> str:
    """A header value from the payload or the config: one line, no control characters."""
    return sanitize(str(value))


def _boundary(mid: str) -> str:
    return "==release-bot-" + hashlib.sha256(mid.encode("utf-8")).hexdigest()[:24] + "=="


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
    message = EmailMessage(policy=policy.default)
    # addresses as Address objects: a display name with a comma or quote is quoted, not split
    message["From"] = mail_address(_header(mail.sender))
    message["To"] = mail_address(_header(to or mail.to))
    if mail.reply_to:
        message["Reply-To"] = mail_address(_header(mail.reply_to))
    message["Subject"] = _header(payload.get("subject", ""))
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _header(message_id)
    parents = [_header(p) for p in payload.get("references") or () if p]
    if parents:
        message["In-Reply-To"] = parents[-1]
        message["References"] = " ".join(parents)
    for name, value in mail.extra_headers:
        message[name] = _header(value)
    for name, env in mail.extra_headers_env:
        hidden = (secrets or {}).get(env)
        if hidden is not None:
            message[name] = _header(hidden)
    # bodies pass the body sanitiser here, at build time, so rows queued by an older release-bot do too
    text = wrap_mail_text(sanitize_body(str(payload.get("text", ""))))
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    html = payload.get("html")
    if html:
        clean_html = sanitize_body(str(html))
        message.add_alternative(clean_html, subtype="html", charset="utf-8", cte="quoted-printable")
        message.set_boundary(_boundary(message_id))
        for part in message.iter_parts():
            del part["MIME-Version"]  # the stdlib repeats it on added parts; it belongs on the top only
    return message


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {sanitize(exc.message)}"


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc` (aiosmtplib wraps a failed implicit-TLS handshake in a connect error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify_error(exc: BaseException, mail: MailConfig) -> tuple[str, bool]:
    """(what went wrong, with the server's answer; whether it is permanent for this message)."""
    tls_error = _tls_cause(exc)
    if tls_error is not None:
        exc = tls_error
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{r.recipient}: {_reply(r)}" for r in exc.recipients)
        return f"recipient refused: {answers}", all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return f"recipient refused: {exc.recipient}: {_reply(exc)}", exc.code >= 500
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"sender {exc.sender} refused (MAIL FROM): {_reply(exc)}", exc.code >= 500
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return f"message refused (DATA): {_reply(exc)}", exc.code >= 500
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return (
            f"authentication as {mail.username!r} failed: {_reply(exc)} "
            f"(check the password in ${mail.password_env})",
            False,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"server answered {_reply(exc)}", False
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "" if mail.ca_file else " (for a private or self-signed CA set ca_file)"
        return f"TLS certificate verification failed: {exc.verify_message or exc}{hint}", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}", False
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return f"timed out: {exc}", False
    if isinstance(exc, aiosmtplib.SMTPException):
        return sanitize(exc.message), False
    return f"{type(exc).__name__}: {exc}", False


class MailSink(Sink):
    kind = "mail"

    def __init__(self, config: MailOutput) -> None:
        super().__init__(config)
        self.mail: MailConfig = config.mail
        self._hooks: BotHooks | None = None
        self._recent: list[tuple[Event, str]] = []  # rendered in this process, maybe not yet stored

    # -- enqueue -----------------------------------------------------------------------------------

    def attach(self, bot: BotHooks) -> None:
        self._hooks = bot

    def wants(self, event: AnyEvent) -> bool:
        return self.mail.per_release and super().wants(event)

    def message_id(self, event: AnyEvent) -> str:
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
        context = event_context(event)
        context["link_href"] = safe_link(context.get("link"))
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

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.mail.ca_file) if self.mail.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def deliver(self, item: OutboxItem) -> None:
        await self.send(self.build(item))

    async def send(
        self,
        message: EmailMessage,
        *,
        recipients: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Send one message over a new SMTP connection; the server's final answer on success.

        Raises DeliveryError naming the step that failed and the server's answer.
        """
        mail = self.mail
        say: Progress = progress or (lambda _text: None)
        password: str | None = None
        if mail.username is not None and mail.password_env is not None:
            password = secret(mail.password_env)
            if password is None:
                raise DeliveryError(
                    f"environment variable ${mail.password_env} (password_env) is not set", sink=self.name
                )
        envelope_from = parseaddr(mail.sender)[1]
        envelope_to = list(recipients) if recipients else [parseaddr(mail.to)[1]]
        smtp = aiosmtplib.SMTP(
            hostname=mail.host,
            port=mail.port,
            use_tls=mail.tls == "implicit",
            start_tls=False,  # never aiosmtplib's "if offered": STARTTLS is explicit below
            timeout=mail.timeout,
            tls_context=self.tls_context() if mail.tls != "none" else None,
            local_hostname=mail.local_hostname,
        )
        step = "connect"
        try:
            security = {"implicit": "implicit TLS", "starttls": "then STARTTLS", "none": "no TLS"}[mail.tls]
            say(f"connecting to {mail.host}:{mail.port} ({security}, timeout {mail.connect_timeout:g}s)")
            metrics.count_smtp_connection(self.group)
            await smtp.connect(timeout=mail.connect_timeout)
            if mail.tls == "starttls":
                step = "STARTTLS"
                say("STARTTLS")
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    raise DeliveryError(
                        f'STARTTLS: {mail.host}:{mail.port} does not offer STARTTLS and tls = "starttls": '
                        "refusing to send without encryption",
                        sink=self.name,
                    )
                await smtp.starttls()
            if mail.username is not None:
                step = "AUTH"
                say(f"logging in as {mail.username}")
                if password is None:  # pragma: no cover - checked above
                    raise DeliveryError("no password", sink=self.name)
                await smtp.login(mail.username, password)
            step = "send"
            say(f"sending {message['Message-ID']} from {envelope_from} to {', '.join(envelope_to)}")
            _refused, answer = await smtp.send_message(message, sender=envelope_from, recipients=envelope_to)
            with suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
            return sanitize(answer)
        except DeliveryError:
            raise
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            what, permanent = classify_error(exc, mail)
            raise DeliveryError(f"{step}: {what}", sink=self.name, permanent=permanent) from exc
        finally:
            smtp.close()
