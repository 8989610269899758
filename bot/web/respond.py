"""Responses shared by the routes: JSON with an ETag and Cache-Control, conditional GET (304), JSON
errors; where the bot is found in a request."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import HttpServerConfig

__all__ = ["BOT", "SETTINGS", "bot_of", "conditional", "error", "json_response"]

BOT: web.AppKey[Bot] = web.AppKey("bot")
SETTINGS: web.AppKey[HttpServerConfig] = web.AppKey("settings")

#: Clients may reuse an answer this long; the bot polls every few minutes at most
API_CACHE = "public, max-age=60"


def bot_of(request: web.Request) -> Bot:
    return request.app[BOT]


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in {part.strip().removeprefix("W/") for part in header.split(",")}


def conditional(
    request: web.Request,
    body: bytes,
    *,
    content_type: str,
    cache: str = API_CACHE,
    status: int = 200,
    last_modified: str | None = None,
) -> web.Response:
    """`body` with ETag and Cache-Control; 304 without a body when the client has it already."""
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": cache}
    if last_modified is not None:
        headers["Last-Modified"] = last_modified
    if status == 200:
        if _matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        since = request.headers.get("If-Modified-Since")
        if last_modified is not None and "If-None-Match" not in request.headers and since == last_modified:
            return web.Response(status=304, headers=headers)
    return web.Response(status=status, body=body, content_type=content_type, charset="utf-8", headers=headers)


def _dumps(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def json_response(
    request: web.Request, data: Any, *, status: int = 200, cache: str = API_CACHE
) -> web.Response:
    return conditional(request, _dumps(data), content_type="application/json", cache=cache, status=status)


def error(status: int, message: str) -> web.Response:
    """A JSON error: {"error": {"status", "message"}}; never cached."""
    body = _dumps({"error": {"status": status, "message": message}})
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
