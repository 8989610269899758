"""`/`: the status page, rendered on the server (`templates/web/status.html.j2`, autoescaped; an
operator's `bot.templates` folder may override it): the current release of every channel and LTS
stream, the latest announcements, each source's health and each output's queue. No JavaScript."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import __version__
from bot.channels import stream_label
from bot.errors import RenderError
from bot.health_state import health
from bot.presentation.contexts import key_packages
from bot.web.feed import feed_entries
from bot.web.respond import SETTINGS, bot_of, conditional, error
from bot.web.views import heads, output_views, source_views

__all__ = ["routes", "status_context"]

log = logging.getLogger("release-bot")
routes = web.RouteTableDef()
#: Announcements shown on the page
LATEST = 10


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max((now - when).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def status_context(request: web.Request, *, now: datetime) -> dict[str, Any]:
    bot = bot_of(request)
    settings = request.app[SETTINGS]
    from bot.config.filters import Filter

    projects: dict[str, list[dict[str, Any]]] = {}
    for r in heads(bot.state_view()):
        projects.setdefault(r.project, []).append(
            {
                "label": stream_label(r.channel, r.stream),
                "channel": r.channel,
                "version": r.version,
                "date": r.published.strftime("%Y-%m-%d") if r.published else "unknown",
                "kernel": r.packages.get("kernel"),
                "packages": [(n, v) for n, v in key_packages(r.packages) if n != "kernel"],
                "link": r.link,
            }
        )
    latest = feed_entries(bot, wanted=Filter(), limit=LATEST, authority=settings.feed_authority)
    verdict = health(bot.config, bot.store, now=now)
    return {
        "version": __version__,
        "now": now.strftime("%Y-%m-%d %H:%M UTC"),
        "verdict": verdict,
        "projects": projects,
        "announcements": [
            {
                "title": e.title,
                "link": e.link,
                "kind": e.kind,
                "when": e.announced_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                "ago": _ago(e.announced_at, now),
            }
            for e in latest
        ],
        "sources": [
            {
                **s.as_json(),
                "success_ago": _ago(s.last_success_at, now),
                "attempt_ago": _ago(s.last_attempt_at, now),
            }
            for s in source_views(bot.config, bot.store, now=now)
        ],
        "outputs": [
            {**o.as_json(now), "oldest_ago": _ago(o.oldest_queued_at, now) if o.oldest_queued_at else None}
            for o in output_views(bot.config, bot.store, bot=bot, now=now)
        ],
    }


@routes.get("/")
async def status_page(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    try:
        html = bot_of(request).renderer.render("web/status.html.j2", **status_context(request, now=now))
    except RenderError as exc:  # an operator's override of the template is broken: say which line
        log.error("status page: %s", exc)
        return error(500, f"the status page cannot be rendered: {exc}")
    return conditional(request, html.encode("utf-8"), content_type="text/html", cache="no-cache")
