"""The interactions handler served by aiohttp on loopback (as bot/web/ will mount it): a signed
`/release channel:stable` answered, a forged signature refused, PING answered with PONG."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.app import Bot
from bot.chat.discord_interactions import interactions_handler
from bot.commands import StateView, answer
from bot.config import parse_config
from bot.errors import ConfigError
from bot.store import PollRecord, Store
from bot.web.server import WebServer
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


def test_the_http_server_serves_interactions_when_a_public_key_is_configured(tmp_path: Path) -> None:
    """`[http_server] discord_public_key` mounts `POST /discord/interactions` on the bot's own server:
    signed commands answered from the bot's state, forged ones refused; every other POST stays 405."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    releases = [r for d in history_snapshot(SNAPSHOTS[-1]).documents for r in d.releases]
    store = Store(":memory:")
    store.commit_poll(PollRecord("flatcar", now=datetime.now(UTC), new_releases=releases))
    data = {
        "http_server": {"listen": "127.0.0.1:0", "discord_public_key": public, "discord_ephemeral": False},
        "sources": [{"name": "flatcar", "kind": "flatcar"}],
        "outputs": [{"name": "console", "kind": "console"}],
    }
    config = parse_config(data, path=tmp_path / "config.toml")
    settings = config.http_server
    assert settings is not None

    async def main() -> None:
        bot = Bot(config, store=store, sinks=[])
        server = WebServer(bot, settings)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:

                async def post(body: dict[str, object], *, forge: bool = False) -> httpx.Response:
                    raw = json.dumps(body).encode()
                    stamp = str(int(time.time()))
                    signature = (Ed25519PrivateKey.generate() if forge else key).sign(stamp.encode() + raw)
                    headers = {"X-Signature-Ed25519": signature.hex(), "X-Signature-Timestamp": stamp}
                    return await client.post("discord/interactions", content=raw, headers=headers)

                assert (await post({"type": 1})).json() == {"type": 1}
                assert (await post({"type": 1}, forge=True)).status_code == 401
                command = {
                    "type": 2,
                    "data": {"name": "release", "options": [{"name": "channel", "value": "stable"}]},
                }
                reply = (await post(command)).json()
                assert reply["data"]["content"] == "\n".join(
                    answer("!release stable", bot.state_view()) or []
                )
                assert (
                    "4152.2.2" in reply["data"]["content"] and "flags" not in reply["data"]
                )  # not ephemeral
                assert (await client.post("api/v1/releases", content=b"{}")).status_code == 405
        finally:
            await server.stop()
            await bot.aclose()

    asyncio.run(main())


def test_a_malformed_public_key_is_a_config_error(tmp_path: Path) -> None:
    data = {
        "http_server": {"discord_public_key": "not-hex"},
        "sources": [{"name": "flatcar", "kind": "flatcar"}],
        "outputs": [{"name": "console", "kind": "console"}],
    }
    with pytest.raises(ConfigError, match=r"discord_public_key.*64 hex digits"):
        parse_config(data, path=tmp_path / "config.toml")
