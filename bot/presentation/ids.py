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
    return f"<{local}@{domain}>"


def _id_part(part: str) -> str:
    """One dot-separated piece of a Message-ID's left side. Where characters had to be replaced (or the
    piece was empty), a short hash of the original keeps different values apart ("1.0 beta" vs
    "1.0/beta")."""
    clean = _UNSAFE.sub("_", part).strip(".")
    if clean == part and clean and ".." not in clean:
        return clean
    digest = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean.replace('..', '.')}_{digest}" if clean else f"_{digest}"
