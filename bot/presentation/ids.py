"""The stable identity of each message (RFC 5322 Message-IDs). Pure."""

from __future__ import annotations

import hashlib
import re

from bot.model import AnyEvent, Event

_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


def message_id(event: AnyEvent, sink: str, *, domain: str = "release-bot.invalid") -> str:
    """An RFC 5322 Message-ID that is the same every time for this event and sink."""
    if isinstance(event, Event):
        source, stream, version = event.release.key
        parts = [event.kind, source, stream, version]
    else:
        # "deprecation:flatcar/4722.0.0-20e239d3/beta", "roadmap:plans/flatcar/Flatcar#1234/in-progress"
        kind, _, rest = event.key.partition(":")
        parts = [kind, *rest.split("/")]
    local = ".".join(_id_part(part) for part in (*parts, sink))
    return fit_message_id(local, domain)


#: The longest "Message-ID: <…>" header line that is never folded (RFC 5322's 78 characters).
MAX_HEADER_LINE = 78


def fit_message_id(local: str, domain: str) -> str:
    """`<local@domain>`, short enough that "Message-ID: " and it fit one 78-character line: a header
    folded onto its own line is hashed wrongly by Mailman 3. A longer left side is cut to what fits
    and ends in a 12-digit hash of the whole: the same every time, different for different values.
    (Only a domain of more than 50 characters leaves no room for that.)"""
    mid = f"<{local}@{domain}>"
    if len("Message-ID: ") + len(mid) <= MAX_HEADER_LINE:
        return mid
    digest = hashlib.sha256(local.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    room = MAX_HEADER_LINE - len("Message-ID: <@>") - len(domain) - len(digest) - 1
    head = local[:room].rstrip(".-_") if room > 0 else ""
    return f"<{head}.{digest}@{domain}>" if head else f"<{digest}@{domain}>"


def _id_part(part: str) -> str:
    """One dot-separated piece of a Message-ID's left side. Where characters had to be replaced (or the
    piece was empty), a short hash of the original keeps different values apart ("1.0 beta" vs
    "1.0/beta")."""
    clean = _UNSAFE.sub("_", part).strip(".")
    if clean == part and clean and ".." not in clean:
        return clean
    digest = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean.replace('..', '.')}_{digest}" if clean else f"_{digest}"
