"""The JSON API, `/api/v1/…`: from the stored state, what the channel commands answer — the same
functions (`bot.commands`, `bot.security`), each answer as the command's reply lines (`text`) and as
structured data. Read-only; errors are JSON with a message."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from bot.commands import answer, describe, describe_changes
from bot.commands.plans import active_notices, merged
from bot.commands.releases import find_releases
from bot.detect import StreamIndex, package_changes
from bot.security import cve_answer, cve_status
from bot.security_index import normalize_id
from bot.web.openapi import OPENAPI
from bot.web.respond import bot_of, error, json_response
from bot.web.views import heads, iso, release_json

__all__ = ["routes"]

routes = web.RouteTableDef()
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
NO_RELEASES = "no releases known yet — the first poll has not completed"


def _reply(command: str, request: web.Request) -> list[str]:
    """The channel command's own reply lines, as `release-bot query` gives them."""
    return answer(command, bot_of(request).state_view()) or []


def _word(request: web.Request, name: str) -> str | web.Response:
    value = request.match_info[name].lower()
    if not _WORD.match(value):
        return error(400, f"not a channel, stream or version: {value[:40]!r}")
    return value


@routes.get("/api/v1/releases")
async def releases(request: web.Request) -> web.Response:
    state = bot_of(request).state_view()
    current = heads(state)
    if not current:
        return error(503, NO_RELEASES)
    return json_response(
        request,
        {
            "command": "!release",
            "text": _reply("!release", request),
            "releases": [release_json(r) for r in current],
        },
    )


@routes.get("/api/v1/releases/{name}")
async def release(request: web.Request) -> web.Response:
    """`!release <channel|stream|version>`: the current release of a channel (every LTS stream for
    `lts`) or where a version was released."""
    wanted = _word(request, "name")
    if isinstance(wanted, web.Response):
        return wanted
    state = bot_of(request).state_view()
    if not state.releases:
        return error(503, NO_RELEASES)
    found = find_releases(wanted, state)
    if isinstance(found, str):
        return error(404, found)
    command = f"!release {wanted}"
    return json_response(
        request,
        {
            "command": command,
            "text": _reply(command, request),
            "releases": [{**release_json(r, full=True), "summary": describe(r)} for r in found],
        },
    )


@routes.get("/api/v1/changes/{name}")
async def changes(request: web.Request) -> web.Response:
    """`!changes <channel|version>`: what changed against the previous release of the stream."""
    wanted = _word(request, "name")
    if isinstance(wanted, web.Response):
        return wanted
    state = bot_of(request).state_view()
    if not state.releases:
        return error(503, NO_RELEASES)
    found = find_releases(wanted, state)
    if isinstance(found, str):
        return error(404, found)
    out = []
    for r in found:
        previous = StreamIndex(x for x in state.releases if x.source == r.source).previous(r)
        diff = package_changes(previous.packages, r.packages) if previous else []
        out.append(
            {
                "release": release_json(r),
                "previous": release_json(previous) if previous else None,
                "changes": [{"package": c.name, "old": c.old, "new": c.new} for c in diff],
                "summary": describe_changes(r, previous),
            }
        )
    command = f"!changes {wanted}"
    return json_response(request, {"command": command, "text": _reply(command, request), "changes": out})


@routes.get("/api/v1/deprecations")
async def deprecations(request: web.Request) -> web.Response:
    """`!deprecations`: the notices still on their way through the channels, newest first."""
    state = bot_of(request).state_view()
    items = []
    for p in active_notices(state.notices, state.reaches, state.roadmap):
        n = p.notice
        items.append(
            {
                "id": n.id,
                "project": n.project,
                "source": n.source,
                "first_channel": n.channel,
                "first_version": n.version,
                "published": iso(n.published),
                "summary": n.summary,
                "text": n.text,
                "link": n.link,
                "reached": {
                    channel: {"version": reach.version, "stream": reach.stream}
                    for channel, reach in p.reached.items()
                },
                "pending": list(p.pending),
            }
        )
    return json_response(
        request, {"command": "!deprecations", "text": _reply("!deprecations", request), "notices": items}
    )


@routes.get("/api/v1/roadmap")
async def roadmap(request: web.Request) -> web.Response:
    """`!roadmap`: the open roadmap items, most recently updated first."""
    state = bot_of(request).state_view()
    items = sorted(
        (i for i in merged(state.roadmap) if i.state == "open"),
        key=lambda i: (i.updated.timestamp() if i.updated else 0.0, i.id),
        reverse=True,
    )
    return json_response(
        request,
        {
            "command": "!roadmap",
            "text": _reply("!roadmap", request),
            "items": [
                {
                    "project": i.project,
                    "id": i.id,
                    "title": i.title,
                    "status": i.status,
                    "state": i.state,
                    "url": i.url,
                    "updated": iso(i.updated),
                    "labels": list(i.labels),
                }
                for i in items
            ],
        },
    )


@routes.get("/api/v1/cve/{ident}")
async def cve(request: web.Request) -> web.Response:
    """`!cve <id>`: per channel and LTS stream, the first release whose notes list the CVE or GHSA."""
    raw = request.match_info["ident"]
    wanted = normalize_id(raw)
    if wanted is None:
        return error(
            400, f"not a CVE or GHSA id: {raw[:40]!r} (expected CVE-YYYY-NNNN or GHSA-xxxx-xxxx-xxxx)"
        )
    releases = bot_of(request).state_view().releases
    if not releases:
        return error(503, NO_RELEASES)
    # reading every release's notes the first time takes a moment: off the event loop
    status = await asyncio.to_thread(cve_status, wanted, releases)
    text = await asyncio.to_thread(cve_answer, wanted, releases)
    if not status.listed:
        return error(404, text[0])
    streams: list[dict[str, Any]] = [
        {
            "project": s.project,
            "stream": s.stream,
            "current": s.current.version,
            "first_listed": release_json(s.first) if s.first else None,
            "shipped_without_mention": release_json(s.inherited) if s.inherited else None,
        }
        for s in status.streams
    ]
    return json_response(
        request,
        {
            "command": f"!cve {wanted}",
            "text": text,
            "id": wanted,
            "packages": list(status.packages),
            "streams": streams,
        },
    )


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(request, OPENAPI, cache="public, max-age=3600")


@routes.get("/api/v1/{tail:.*}")
async def unknown(request: web.Request) -> web.Response:
    return error(404, f"no such API path: {request.path[:80]!r} (see /api/v1/openapi.json)")
