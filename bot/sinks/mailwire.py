"""The bytes of a mail as they go over SMTP, written without building an `email` message object.

`build_message` (bot.sinks.mail) builds an `EmailMessage` and aiosmtplib flattens it: per mail that is
a dozen header objects parsed and folded again, two MIME parts and a generator pass — most of the CPU
of a delivery pass. `WireWriter` writes the same bytes directly:

- the headers that are the same for every mail of a list (From, To, Reply-To, Sender, Auto-Submitted,
  `extra_headers`, the `extra_headers_env` values) are folded once per writer by the `email` package
  itself, and reused;
- a per-mail header (Subject, Date, Message-ID, In-Reply-To, References) that is printable ASCII,
  needs no folding and holds nothing the header parser would read differently ("=?", runs of
  spaces) is written as "Name: value"; any other goes through the `email` package (header registry
  and fold), as `build_message` does;
- the text and HTML parts are quoted-printable by the stdlib's own encoder (`quoprimime`), with
  the same part headers and MIME boundary.

The result is byte for byte what `flatten_message(build_message(...))` gives (tests/unit/
test_mailwire.py compares them over the golden history and generated payloads). It is 7-bit: header
values outside ASCII are RFC 2047 encoded words, bodies quoted-printable — so it suits any server,
8BITMIME or not. An envelope outside ASCII (an internationalised domain: SMTPUTF8, UTF-8 headers) is
not handled here: the sink sends such mail through the `email` package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy, quoprimime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from bot.config import MailConfig, mail_address
from bot.presentation.columns import display_width, wrap_columns
from bot.text import sanitize, sanitize_body

__all__ = ["TEXT_WIDTH", "WireMessage", "WireWriter", "boundary", "header_value", "wrap_mail_text"]

#: Width of the text part. Longer lines are wrapped; a single word longer than this (a URL) stays whole.
TEXT_WIDTH = 72

_WIRE = policy.SMTP  # what aiosmtplib flattens with (ASCII headers, CRLF)
_MAX_LINE = 78
#: a value the unstructured-header parser gives back unchanged: printable ASCII, single spaces
#: between words, no encoded word
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ID = re.compile(rf"<{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>\Z")
_BOUNDARY = re.compile(r"==release-bot-[0-9a-f]{24}==\Z")


def wrap_mail_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap the lines of a text part that are wider than `width` display columns (East Asian wide
    characters count two; list items get a hanging indent); narrower lines — tables, the "-- "
    signature separator — are kept exactly."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out.append(line if display_width(line) <= width else wrap_columns(line, width))
    return "\n".join(out).strip("\n") + "\n"


def boundary(message_id: str) -> str:
    """The MIME boundary of a mail: derived from its Message-ID, so every attempt sends the same bytes."""
    return "==release-bot-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:24] + "=="


@dataclass(frozen=True)
class WireMessage:
    """A mail ready for SMTP DATA: its Message-ID (for log lines) and its bytes (CRLF line ends)."""

    message_id: str
    data: bytes


def header_value(value: object) -> str:
    """A header value from the payload or the config: one line, no control characters."""
    return sanitize(str(value))


def _fold(name: str, value: str) -> bytes:
    """One header line (folded if needed), as the `email` package writes it for `message[name] = value`."""
    if len(name) + 2 + len(value) <= _MAX_LINE and "=?" not in value:
        plain = _PLAIN_ID if name == "Message-ID" else _PLAIN
        if plain.match(value):
            return f"{name}: {value}\r\n".encode("ascii")
    header = policy.default.header_factory(name, value)
    return _WIRE.fold_binary(name, header)


def _quoted_printable(text: str) -> bytes:
    """A text part's body as `EmailMessage.set_content(text, charset="utf-8", cte="quoted-printable")`
    stores it and the generator writes it (CRLF line ends)."""
    lines = text.encode("utf-8").splitlines()
    body = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _MAX_LINE)
    return body.replace("\n", "\r\n").encode("ascii")


_PART_HEADERS = {
    subtype: (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
    ).encode("ascii")
    for subtype in ("plain", "html")
}


def set_address_headers(message: EmailMessage, mail: MailConfig, to: str | None) -> None:
    """From, To, Reply-To and Sender as address objects: a display name with a comma or quote is
    quoted, not split."""
    message["From"] = mail_address(header_value(mail.sender))
    message["To"] = mail_address(header_value(to or mail.to))
    if mail.reply_to:
        message["Reply-To"] = mail_address(header_value(mail.reply_to))
    if mail.sender_header:
        message["Sender"] = mail_address(header_value(mail.sender_header))


def set_extra_headers(message: EmailMessage, mail: MailConfig, secrets: Mapping[str, str] | None) -> None:
    """The list's `extra_headers`, then those of `extra_headers_env` whose variable is set."""
    for name, value in mail.extra_headers:
        message[name] = header_value(value)
    for name, env in mail.extra_headers_env:
        hidden = (secrets or {}).get(env)
        if hidden is not None:
            message[name] = header_value(hidden)


class WireWriter:
    """Writes the mails of one list. Keeps the folded constant headers per recipient (`to`) and
    secret values; build one per MailConfig and reuse it."""

    def __init__(self, mail: MailConfig) -> None:
        self.mail = mail
        self._cache: dict[tuple[str | None, tuple[tuple[str, str], ...]], tuple[bytes, bytes]] = {}

    def _constant(self, to: str | None, secrets: Mapping[str, str]) -> tuple[bytes, bytes]:
        """(the headers before Subject, the headers after References), folded by the `email` package."""
        hidden = tuple((env, secrets[env]) for _, env in self.mail.extra_headers_env if env in secrets)
        key = (to, hidden)
        cached = self._cache.get(key)
        if cached is None:
            head = EmailMessage(policy=policy.default)
            set_address_headers(head, self.mail, to)
            tail = EmailMessage(policy=policy.default)
            set_extra_headers(tail, self.mail, secrets)
            cached = (
                b"".join(_WIRE.fold_binary(n, v) for n, v in head.items()),
                b"".join(_WIRE.fold_binary(n, v) for n, v in tail.items()),
            )
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def write(
        self,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        date: datetime,
        secrets: Mapping[str, str] | None = None,
        to: str | None = None,
    ) -> WireMessage:
        """The bytes `flatten_message(build_message(mail, payload, …))` gives (same arguments)."""
        head, tail = self._constant(to, secrets or {})
        out = [head, _fold("Subject", header_value(payload.get("subject", "")))]
        out.append(_fold("Date", format_datetime(date)))
        out.append(_fold("Message-ID", header_value(message_id)))
        if self.mail.auto_submitted != "no":
            out.append(_fold("Auto-Submitted", self.mail.auto_submitted))
        parents = [header_value(p) for p in payload.get("references") or () if p]
        if parents:
            out.append(_fold("In-Reply-To", parents[-1]))
            out.append(_fold("References", " ".join(parents)))
        out.append(tail)
        text = _quoted_printable(wrap_mail_text(sanitize_body(str(payload.get("text", "")))))
        html = payload.get("html")
        if not html:
            out += [_PART_HEADERS["plain"], b"MIME-Version: 1.0\r\n\r\n", text]
            return WireMessage(message_id, b"".join(out))
        mark = boundary(message_id)
        marker = mark.encode("ascii")
        out += [
            _fold("MIME-Version", "1.0"),
            b'Content-Type: multipart/alternative;\r\n boundary="' + marker + b'"\r\n'
            if _BOUNDARY.match(mark)  # always: the line is too long for one line, folded here
            else _WIRE.fold_binary(
                "Content-Type",
                policy.default.header_factory("Content-Type", f'multipart/alternative; boundary="{mark}"'),
            ),
            b"\r\n--" + marker + b"\r\n",
            _PART_HEADERS["plain"],
            b"\r\n",
            text,
            b"\r\n--" + marker + b"\r\n",
            _PART_HEADERS["html"],
            b"\r\n",
            _quoted_printable(sanitize_body(str(html))),
            b"\r\n--" + marker + b"--\r\n",
        ]
        return WireMessage(message_id, b"".join(out))
