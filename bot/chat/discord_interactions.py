"""Discord slash commands over the HTTP interactions endpoint: self-contained, mounted by the bot's
HTTP server (`interactions_handler(...)` returns an aiohttp handler).

- every request is verified: `X-Signature-Ed25519` over `X-Signature-Timestamp` + body with the
  application's public key (cryptography's Ed25519); a bad signature, a missing header or a timestamp
  more than `MAX_SKEW` seconds away → 401 (Discord tests this with forged requests before it accepts
  the endpoint URL);
- PING (type 1) → PONG (type 1);
- an application command (type 2) — `/release channel:stable`, `/changes`, `/deprecations`,
  `/roadmap`, `/cve`, `/security`, `/help` — is answered at once from the stored state through
  `bot.chat.replies` (the same answers as `!release stable` on IRC, help and hints naming `/help`,
  `/release` …; at most 10 lines and 2,000 characters), ephemeral unless configured otherwise,
  mentions never parsed. A slash command is addressed to the bot: an unknown one (a stale
  registration) gets IRC's hint.

Docs: https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint,
https://discord.com/developers/docs/interactions/receiving-and-responding,
https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-guild-application-commands
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.chat.discord_protocol import CONTENT_MAX, NO_MENTIONS
from bot.chat.replies import Asked, chat_answer
from bot.commands import StateView

if TYPE_CHECKING:
    from aiohttp import web

MAX_SKEW = 300.0
EPHEMERAL = 64
PING, APPLICATION_COMMAND = 1, 2
PONG, CHANNEL_MESSAGE = 1, 4
STRING = 3
#: how the commands are typed on Discord (help texts and hints name them so)
PREFIX = "/"

#: The command set `release-bot discord register-commands` registers: (name, description, option,
#: option description). Each maps to the channel command of the same name.
COMMANDS: tuple[tuple[str, str, str | None, str], ...] = (
    (
        "release",
        "current release of a channel, LTS stream or version",
        "channel",
        "stable, beta, lts, 4152.2.2 …",
    ),
    ("changes", "what changed since the previous release", "channel", "a channel or a version"),
    ("deprecations", "deprecations and removals on their way", "channel", "a channel (optional)"),
    ("roadmap", "the project's plans", "status", "planned, in-progress, done … (optional)"),
    ("cve", "which release of each channel first lists the fix", "id", "CVE-… or GHSA-…"),
    ("security", "the security fixes of the current release", "channel", "a channel or a version"),
    ("help", "the commands", None, ""),
)


def command_definitions() -> list[dict[str, object]]:
    """The JSON of the command set (CHAT_INPUT commands with one optional string option)."""
    out: list[dict[str, object]] = []
    for name, description, option, option_description in COMMANDS:
        command: dict[str, object] = {"name": name, "type": 1, "description": description}
        if option is not None:
            command["options"] = [
                {"type": STRING, "name": option, "description": option_description, "required": name == "cve"}
            ]
        out.append(command)
    return out


def verify(public_key: str, signature: str, timestamp: str, body: bytes, *, now: float) -> bool:
    """True when `signature` (hex) is the application's Ed25519 signature of timestamp + body and the
    timestamp is within MAX_SKEW of `now`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        stamp = float(timestamp)
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), timestamp.encode() + body)
    except (ValueError, InvalidSignature):
        return False
    return abs(now - stamp) <= MAX_SKEW


def command_line(data: Mapping[str, Any]) -> str:
    """`/release channel:stable` as the command line `/release stable`."""
    words = [str(data.get("name") or "")]
    for option in data.get("options") or []:
        if isinstance(option, Mapping) and option.get("value") not in (None, ""):
            words.append(str(option["value"]))
    return PREFIX + " ".join(words)


def respond(
    *,
    headers: Mapping[str, str],
    body: bytes,
    public_key: str,
    state: Callable[[], StateView],
    ephemeral: bool,
    now: float,
) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) for one request to the interactions endpoint."""
    signature = headers.get("X-Signature-Ed25519") or headers.get("x-signature-ed25519") or ""
    timestamp = headers.get("X-Signature-Timestamp") or headers.get("x-signature-timestamp") or ""
    if not verify(public_key, signature, timestamp, body, now=now):
        return 401, {"error": "invalid request signature"}
    try:
        interaction = json.loads(body)
    except ValueError:
        return 400, {"error": "not JSON"}
    if not isinstance(interaction, dict):
        return 400, {"error": "not an interaction"}
    if interaction.get("type") == PING:
        return 200, {"type": PONG}
    data = interaction.get("data")
    if interaction.get("type") != APPLICATION_COMMAND or not isinstance(data, Mapping):
        return 400, {"error": "unsupported interaction type"}
    asked = Asked(command_line(data), addressed=True)
    content = (
        chat_answer(asked, state(), prefix=PREFIX, max_chars=CONTENT_MAX) or "unknown command; try /help"
    )
    reply: dict[str, object] = {"content": content, "allowed_mentions": NO_MENTIONS}
    if ephemeral:
        reply["flags"] = EPHEMERAL
    return 200, {"type": CHANNEL_MESSAGE, "data": reply}


def interactions_handler(
    public_key: str,
    state: Callable[[], StateView],
    *,
    ephemeral: bool = True,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler for `POST /discord/interactions` (the route is the server's choice)."""
    from aiohttp import web

    bytes.fromhex(public_key)  # a malformed key is a configuration error, found now

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        status, reply = respond(
            headers=request.headers,
            body=body,
            public_key=public_key,
            state=state,
            ephemeral=ephemeral,
            now=clock(),
        )
        return web.json_response(reply, status=status)

    return handle


__all__ = ["COMMANDS", "command_definitions", "command_line", "interactions_handler", "respond", "verify"]
