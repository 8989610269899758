"""`/feed.atom`: what the bot announced, as an Atom 1.0 feed (RFC 4287).

Each entry is one event: its id is `tag:<feed_authority>:event:<event key>` (the key is built from
meaning, so the id never changes), `updated` and `published` are when the bot recorded it for
announcement (stored once with the event, never rewritten), the title and text are those of the mail
(the same templates), the link is the release notes. Filters: `?channel=` (a channel or stream, `lts`
for every LTS stream, as output filters) and `?kind=` (release, promotion, deprecation, roadmap).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

from aiohttp import web

from bot import __version__
from bot.config.filters import Filter
from bot.errors import BotError
from bot.messages import event_context
from bot.model import EVENT_KINDS
from bot.presentation.mailcontext import mail_context, safe_link
from bot.presentation.render import irc_line
from bot.routing import passes
from bot.sinks.mail import wrap_mail_text
from bot.store import Announcement
from bot.text import sanitize
from bot.web.respond import SETTINGS, bot_of, conditional, error

if TYPE_CHECKING:
    from bot.app import Bot

__all__ = ["FeedEntry", "atom", "feed_entries", "routes"]

log = logging.getLogger("release-bot")
routes = web.RouteTableDef()
ATOM = "http://www.w3.org/2005/Atom"
#: characters XML 1.0 does not allow
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FILTER_VALUE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
#: the feed of a bot that has announced nothing yet is as old as this
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    text: str
    link: str | None
    announced_at: datetime
    kind: str
    channel: str
    project: str


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _tag(authority: str, key: str) -> str:
    return f"tag:{authority}:event:{quote(key, safe='/:@-._~')}"


def _rendered(bot: Bot, item: Announcement) -> tuple[str, str]:
    """(subject, text) of the event's mail, as the mail output renders it."""
    event = item.event
    context = mail_context(event)
    try:
        subject = sanitize(bot.renderer.render(f"mail/{event.kind}.subject.j2", **context))
        text = wrap_mail_text(bot.renderer.render(f"mail/{event.kind}.txt.j2", **context))
    except BotError as exc:
        log.warning("feed: %s; the entry of %s shows the chat line instead", exc, item.key)
        line = irc_line(event, bot.renderer)
        return line, line
    return subject, text


_cache: dict[tuple[int, str, int], FeedEntry] = {}


def _entry(bot: Bot, item: Announcement, authority: str) -> FeedEntry:
    key = (id(bot), item.key, item.id)
    cached = _cache.get(key)
    if cached is None:
        title, text = _rendered(bot, item)
        event = item.event
        cached = FeedEntry(
            id=_tag(authority, item.key),
            title=title,
            text=text,
            link=safe_link(getattr(event, "link", None) or event_context(event).get("link")),
            announced_at=item.announced_at,
            kind=event.kind,
            channel=event.channel,
            project=event.project,
        )
        if len(_cache) > 2000:
            _cache.clear()
        _cache[key] = cached
    return cached


def feed_entries(bot: Bot, *, wanted: Filter, limit: int, authority: str) -> list[FeedEntry]:
    """The newest `limit` announcements that pass `wanted`, newest first."""
    out: list[FeedEntry] = []
    before: int | None = None
    while len(out) < limit:
        page = bot.store.announcements(limit=200, before_id=before)
        if not page:
            break
        for item in page:
            e = item.event
            if passes(wanted, e):  # a summary matches as the releases it stands for
                out.append(_entry(bot, item, authority))
                if len(out) == limit:
                    break
        before = page[-1].id
    return out


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom(entries: Iterable[FeedEntry], *, feed_id: str, title: str, self_url: str, home: str) -> bytes:
    """The Atom document; `updated` is the newest entry's (stable while nothing new is announced)."""
    items = list(entries)
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        if text is not None:
            node.text = _xml_text(text)
        return node

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "subtitle", "What release-bot announced, as it announced it")
    sub(feed, "updated", _stamp(max((e.announced_at for e in items), default=_EPOCH)))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=home)
    author = sub(feed, "author")
    sub(author, "name", "release-bot")
    sub(feed, "generator", "release-bot", version=__version__)
    for e in items:
        entry = sub(feed, "entry")
        sub(entry, "id", e.id)
        sub(entry, "title", e.title)
        sub(entry, "updated", _stamp(e.announced_at))
        sub(entry, "published", _stamp(e.announced_at))
        if e.link:
            sub(entry, "link", rel="alternate", type="text/html", href=e.link)
        sub(entry, "category", term=e.kind)
        sub(entry, "category", term=e.channel)
        sub(entry, "content", e.text, type="text")
    ET.indent(feed)
    xml: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + xml + b"\n"


def _filter(request: web.Request) -> Filter | web.Response:
    channel = request.query.get("channel", "").strip().lower()
    kind = request.query.get("kind", "").strip().lower()
    if channel and not _FILTER_VALUE.match(channel):
        return error(400, f"channel: not a channel or stream name: {channel[:40]!r}")
    if kind and kind not in EVENT_KINDS:
        return error(400, f"kind: expected one of {', '.join(EVENT_KINDS)}, got {kind[:40]!r}")
    return Filter(channels=(channel,) if channel else (), kinds=(kind,) if kind else ())


def base_url(request: web.Request) -> str:
    """The public base URL: `public_url` from the config, else the request's own scheme and host."""
    configured = request.app[SETTINGS].public_url
    return configured or f"{request.scheme}://{request.host}"


@routes.get("/feed.atom")
async def feed(request: web.Request) -> web.Response:
    wanted = _filter(request)
    if isinstance(wanted, web.Response):
        return wanted
    settings = request.app[SETTINGS]
    bot = bot_of(request)
    entries = feed_entries(bot, wanted=wanted, limit=settings.feed_entries, authority=settings.feed_authority)
    query = {k: v for k, v in (("channel", ",".join(wanted.channels)), ("kind", ",".join(wanted.kinds))) if v}
    suffix = f"?{urlencode(query)}" if query else ""
    base = base_url(request)
    what = " ".join(v for v in (*wanted.channels, *wanted.kinds))
    projects = sorted({e.project for e in entries}) or ["release-bot"]
    body = atom(
        entries,
        feed_id=f"tag:{settings.feed_authority}:feed" + (f":{quote(what.replace(' ', '/'))}" if what else ""),
        title=f"{', '.join(projects)} announcements" + (f" ({what})" if what else ""),
        self_url=f"{base}/feed.atom{suffix}",
        home=f"{base}/",
    )
    newest = max((e.announced_at for e in entries), default=_EPOCH)
    return conditional(
        request,
        body,
        content_type="application/atom+xml",
        cache="public, max-age=300",
        last_modified=format_datetime(newest.astimezone(UTC), usegmt=True),
    )
