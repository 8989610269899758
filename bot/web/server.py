"""The embedded HTTP server (`[http_server]`): aiohttp on the daemon's event loop, read-only.

Bounded: request line and each header at most `max_request_bytes` (a request body too, though no
route reads one), at most 64 headers; a connection that has not sent a whole request within
`header_timeout` (a new one, or an idle keep-alive one) is closed. Only GET and HEAD are answered
(405 otherwise); there are no admin actions over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CollectorRegistry

from bot.errors import ConfigError
from bot.web import api, feed, page, routes
from bot.web.collector import StateCollector
from bot.web.respond import BOT, SETTINGS, error

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import HttpServerConfig

__all__ = ["WebServer", "make_app"]

log = logging.getLogger("release-bot")


class _ClientErrors(logging.Filter):
    """A malformed or oversized request is the client's problem: answered with 400/431, not logged (a
    flood of them must not flood the log). Errors of the bot's own handlers are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


#: aiohttp's request-handling log, under the bot's logger
http_log = logging.getLogger("release-bot.http")
http_log.addFilter(_ClientErrors())
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_METHODS = frozenset({"GET", "HEAD"})
#: Discord's interactions endpoint: the one POST route, served only when a public key is configured
INTERACTIONS_PATH = "/discord/interactions"


class _GuardedHandler(RequestHandler):
    """Closes a connection that does not complete a request's headers within the header timeout
    (slow clients holding connections open), counted from the connection or the previous response."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.busy = 0
        self.guard: asyncio.TimerHandle | None = None
        self.arm()

    def arm(self) -> None:
        if getattr(self, "guard", None) is not None:
            self.guard.cancel()  # type: ignore[union-attr]
        self.guard = asyncio.get_running_loop().call_later(self.header_timeout, self._expire)

    def _expire(self) -> None:
        self.guard = None
        if self.busy == 0 and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        guard = getattr(self, "guard", None)
        if guard is not None:
            guard.cancel()
        super().connection_lost(exc)


class _GuardedServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer
        return server


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """GET and HEAD only; unknown paths and errors as JSON; the header timer paused per request."""
    protocol: Any = request.protocol
    if isinstance(protocol, _GuardedHandler):
        protocol.busy += 1
    try:
        interaction = request.method == "POST" and request.path == INTERACTIONS_PATH
        if request.method not in _METHODS and not (interaction and request.app[SETTINGS].discord_public_key):
            response = error(405, f"{request.method} is not allowed: this server is read-only (GET, HEAD)")
            response.headers["Allow"] = "GET, HEAD"
            return response
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return error(404, f"not found: {request.path[:80]!r}")
        except web.HTTPException as exc:
            return error(exc.status, exc.reason)
    finally:
        if isinstance(protocol, _GuardedHandler):
            protocol.busy -= 1
            protocol.arm()


def make_app(bot: Bot, settings: HttpServerConfig) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=settings.max_request_bytes)
    app[BOT] = bot
    app[SETTINGS] = settings
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StateCollector(bot))
    app[routes.STATE_REGISTRY] = registry
    for table in (routes.routes, api.routes, feed.routes, page.routes):
        app.router.add_routes(table)
    if settings.discord_public_key:  # Discord's slash commands, answered from the same state
        from bot.chat.discord_interactions import interactions_handler

        handler = interactions_handler(
            settings.discord_public_key, bot.state_view, ephemeral=settings.discord_ephemeral
        )
        app.router.add_post(INTERACTIONS_PATH, handler)
    return app


class WebServer:
    """`start()` binds and serves on the running loop; `stop()` closes it. `url` is where it listens."""

    def __init__(self, bot: Bot, settings: HttpServerConfig) -> None:
        self.bot = bot
        self.settings = settings
        self._runner: _Runner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port if self.port is not None else self.settings.port}/"

    async def start(self) -> None:
        _GuardedHandler.header_timeout = self.settings.header_timeout
        limit = self.settings.max_request_bytes
        runner = _Runner(
            make_app(self.bot, self.settings),
            access_log=None,
            logger=http_log,
            handle_signals=False,
            keepalive_timeout=self.settings.header_timeout,
            max_line_size=limit,
            max_field_size=limit,
            max_headers=64,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            cause = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"cannot listen on {self.settings.listen}: {cause}",
                path=str(self.bot.config.path),
                key="http_server.listen",
            ) from exc
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.settings.port
        log.info("http server listening on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
