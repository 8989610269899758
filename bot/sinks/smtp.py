"""SMTP delivery for the mail sink: one session (connection, STARTTLS, login) reused for the messages
of a delivery pass, closed at its end.

- The reply to the final "." of a message is awaited for `data_timeout` (RFC 5321 §4.5.3.2.6: 10
  minutes), not the per-command `timeout`: a server that stores the message and answers late is not
  sent it again. Only when that wait runs out is the message's fate unknown (it is retried: a
  duplicate is possible only in that window — docs/RELIABILITY.md).
- A reused connection is checked with NOOP first; one the server closed is opened again. After a
  failed transaction aiosmtplib sends RSET and the session goes on; after a transport error it is
  closed and the next message opens a new one.
- A refused login raises `AuthenticationFailed` (the Deliverer stops the output after
  `max_auth_failures` of them in a row, until `retry`).
- `max_per_minute` paces the messages of a pass.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
from aiosmtplib.typing import Default

from bot.config import MailConfig, secret
from bot.errors import AuthenticationFailed, DeliveryError
from bot.sinks.mailwire import WireMessage
from bot.text import sanitize
from bot.web import metrics

__all__ = ["Progress", "SmtpSession", "classify_error"]

Progress = Callable[[str], None]

#: A session idle for longer than this is checked with NOOP before it is used again.
IDLE_CHECK = 5.0


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


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, waiting `data_timeout` for the reply to the final "." (DATA)."""

    data_timeout: float = 600.0
    data_timed_out = False  # the last DATA got no reply within data_timeout

    async def greet(self) -> None:
        """EHLO (or HELO) unless done on this connection, as `send_message` does before its checks."""
        await self._ehlo_or_helo_if_needed()

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,  # noqa: ASYNC109 - aiosmtplib's signature
    ) -> aiosmtplib.SMTPResponse:
        self.data_timed_out = False
        try:
            return await super().data(message, timeout=self.data_timeout)
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            self.data_timed_out = True
            raise


class SmtpSession:
    """One mail output's SMTP session, reused across `send` calls until `close`."""

    def __init__(self, name: str, mail: MailConfig, tls_context: Callable[[], ssl.SSLContext]) -> None:
        self.name = name
        self.mail = mail
        self._tls_context = tls_context
        self._smtp: _Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_sent: float | None = None  # monotonic time of the last message of this pass
        self.connections = 0  # opened so far (for tests and the benchmark)
        # the envelope, parsed once (not per message)
        self._envelope_from = mail.envelope_sender
        self._envelope_to = [parseaddr(mail.to)[1]]

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    def _password(self) -> str | None:
        mail = self.mail
        if mail.username is None or mail.password_env is None:
            return None
        password = secret(mail.password_env)
        if password is None:
            raise DeliveryError(
                f"environment variable ${mail.password_env} (password_env) is not set", sink=self.name
            )
        return password

    async def _open(self, say: Progress, password: str | None) -> _Client:
        mail = self.mail
        smtp = _Client(
            hostname=mail.host,
            port=mail.port,
            use_tls=mail.tls == "implicit",
            start_tls=False,  # never aiosmtplib's "if offered": STARTTLS is explicit below
            timeout=mail.timeout,
            tls_context=self._tls_context() if mail.tls != "none" else None,
            local_hostname=mail.local_hostname,
        )
        smtp.data_timeout = mail.data_timeout
        step = "connect"
        try:
            security = {"implicit": "implicit TLS", "starttls": "then STARTTLS", "none": "no TLS"}[mail.tls]
            say(f"connecting to {mail.host}:{mail.port} ({security}, timeout {mail.connect_timeout:g}s)")
            metrics.count_smtp_connection(self.name)
            await smtp.connect(timeout=mail.connect_timeout)
            self.connections += 1
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
                if password is None:  # pragma: no cover - checked by _password
                    raise DeliveryError("no password", sink=self.name)
                await smtp.login(mail.username, password)
        except DeliveryError:
            smtp.close()
            raise
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            smtp.close()
            what, permanent = classify_error(exc, mail)
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                raise AuthenticationFailed(f"{step}: {what}", sink=self.name) from exc
            raise DeliveryError(f"{step}: {what}", sink=self.name, permanent=permanent) from exc
        return smtp

    async def _session(self, say: Progress, password: str | None) -> _Client:
        smtp = self._smtp
        if smtp is not None and self._loop is not asyncio.get_running_loop():
            smtp = self._smtp = None  # opened under another event loop (a finished `asyncio.run`)
        if smtp is not None and smtp.is_connected:
            if self._last_sent is not None and time.monotonic() - self._last_sent < IDLE_CHECK:
                return smtp  # busy within this pass: no extra round trip
            try:
                await smtp.noop()  # the server may have closed an idle session
                return smtp
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
        self._smtp = None
        self._smtp = await self._open(say, password)
        self._loop = asyncio.get_running_loop()
        return self._smtp

    async def _pace(self) -> None:
        if self.mail.max_per_minute <= 0 or self._last_sent is None:
            return
        wait = self._last_sent + 60.0 / self.mail.max_per_minute - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def send(
        self,
        message: EmailMessage | WireMessage,
        *,
        recipients: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Send one message over the session (opened when needed); the server's final answer.
        Raises DeliveryError naming the step that failed and the server's answer."""
        say: Progress = progress or (lambda _text: None)
        password = self._password()
        envelope_from = self._envelope_from
        envelope_to = list(recipients) if recipients else self._envelope_to
        await self._pace()
        smtp = await self._session(say, password)
        mid = message.message_id if isinstance(message, WireMessage) else message["Message-ID"]
        say(f"sending {mid} from {envelope_from} to {', '.join(envelope_to)}")
        try:
            if isinstance(message, WireMessage):  # ready bytes, 7-bit: what send_message would send
                await smtp.greet()
                options = ["BODY=8BITMIME"] if smtp.supports_extension("8BITMIME") else []
                _refused, answer = await smtp.sendmail(
                    envelope_from, envelope_to, message.data, mail_options=options
                )
            else:
                _refused, answer = await smtp.send_message(
                    message, sender=envelope_from, recipients=envelope_to
                )
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            late = smtp.data_timed_out
            answered = isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused)
            if not answered or getattr(exc, "code", None) == 421 or not smtp.is_connected:
                smtp.close()  # transport trouble: the next message opens a new session
                self._smtp = None
            what, permanent = classify_error(exc, self.mail)
            if late:
                what = (
                    f'no reply to the final "." within data_timeout ({self.mail.data_timeout:g}s): the '
                    "server may have stored the message; it will be sent again"
                )
            raise DeliveryError(f"send: {what}", sink=self.name, permanent=permanent) from exc
        finally:
            self._last_sent = time.monotonic()
        return sanitize(answer)

    async def close(self) -> None:
        """QUIT and close the session (the end of a delivery pass)."""
        smtp, self._smtp = self._smtp, None
        self._last_sent = None
        if smtp is None:
            return
        if self._loop is not asyncio.get_running_loop():
            with suppress(RuntimeError):  # its loop is gone, and its transport with it
                smtp.close()
            return
        if smtp.is_connected:
            with suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
        smtp.close()
