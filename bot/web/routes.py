"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.web import metrics
from bot.web.respond import bot_of, json_response
from bot.web.views import readiness

__all__ = ["STATE_REGISTRY", "routes"]

routes = web.RouteTableDef()
STATE_REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("state-registry")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process and its event loop are alive: this is answered on the loop the daemon runs on."""
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """The verdict of `release-bot status --check`, with each source and output: 200 or 503."""
    status, body = readiness(bot_of(request))
    return json_response(request, body, status=status, cache="no-store")


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    body = generate_latest(metrics.REGISTRY) + generate_latest(request.app[STATE_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
