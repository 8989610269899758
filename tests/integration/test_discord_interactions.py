"""The interactions handler served by aiohttp on loopback (as bot/web/ will mount it): a signed
`/release channel:stable` answered, a forged signature refused, PING answered with PONG."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.chat.discord_interactions import interactions_handler
from bot.commands import StateView, answer
from tests.helpers import SNAPSHOTS, history_snapshot


def test_signed_interactions_over_http() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    state = StateView.of(r for d in history_snapshot(SNAPSHOTS[-1]).documents for r in d.releases)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/discord/interactions", interactions_handler(public, lambda: state))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/discord/interactions"
        try:
            async with httpx.AsyncClient() as client:

                async def post(body: dict[str, object], *, forge: bool = False) -> httpx.Response:
                    raw = json.dumps(body).encode()
                    stamp = str(int(time.time()))
                    signer = Ed25519PrivateKey.generate() if forge else key
                    signature = signer.sign(stamp.encode() + raw).hex()
                    headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp}
                    return await client.post(
                        url, content=raw, headers={**headers, "Content-Type": "application/json"}
                    )

                assert (await post({"type": 1})).json() == {"type": 1}
                assert (await post({"type": 1}, forge=True)).status_code == 401
                command = {
                    "type": 2,
                    "data": {"name": "release", "options": [{"name": "channel", "value": "stable"}]},
                }
                reply = (await post(command)).json()
                assert reply["type"] == 4
                assert reply["data"]["content"] == "\n".join(answer("!release stable", state) or [])
                assert reply["data"]["flags"] == 64
        finally:
            await runner.cleanup()

    asyncio.run(main())
