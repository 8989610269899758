"""Chat verbs: `send-test-message OUTPUT` (a test announcement through a Matrix, Discord, Mastodon or
Apprise output, each step printed) and `discord register-commands` (the slash command set)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import ConfigError, DeliveryError

if TYPE_CHECKING:
    from bot.config import Config

# imported where used (asyncio, the config classes): `release-bot --help` builds this verb's parser
ConfigLoader = Callable[[argparse.Namespace], "Config"]
CHAT_KINDS = ("matrix", "discord", "mastodon", "apprise")


def add_chat_verbs(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: ConfigLoader) -> None:
    p = sub.add_parser(
        "send-test-message",
        help="post a test announcement through a chat output (matrix, discord, mastodon, apprise)",
        epilog="example:\n  release-bot send-test-message matrix",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output", help="the output's name")
    p.set_defaults(func=lambda args: cmd_send_test_message(args, load))
    p = sub.add_parser(
        "discord",
        help="Discord application tasks: register-commands",
        epilog="example:\n  release-bot discord register-commands --application-id 123 --guild-id 456",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", choices=["register-commands"], help="register the slash command set")
    p.add_argument("--application-id", required=True, help="the application's id (Developer Portal)")
    p.add_argument("--guild-id", help="register for this server only (immediate); default: global commands")
    p.add_argument("--token-env", default="DISCORD_BOT_TOKEN", help="variable holding the bot token")
    p.add_argument("--api", default=None, help=argparse.SUPPRESS)  # a local stand-in in tests
    p.set_defaults(func=cmd_register_commands)


def cmd_send_test_message(args: argparse.Namespace, load: ConfigLoader) -> int:
    config = load(args)
    found = [o for o in config.outputs if o.name == args.output]
    if not found or found[0].kind not in CHAT_KINDS:
        names = ", ".join(o.name for o in config.outputs if o.kind in CHAT_KINDS) or "none"
        raise ConfigError(
            f"no chat output named {args.output!r} (chat outputs: {names})", path=str(config.path)
        )
    output = found[0]
    import asyncio
    import dataclasses

    from bot.config.matrix import MatrixOutput

    if isinstance(output, MatrixOutput):
        output = dataclasses.replace(output, answer_commands=False)  # post only: no sync loop
    return asyncio.run(_send_test(output, config))


async def _send_test(output: object, config: Config) -> int:
    from bot.messages import sample_events
    from bot.render import Renderer
    from bot.sinks import build_sinks
    from bot.store import OutboxItem

    renderer = Renderer(override_dir=config.templates)
    event = sample_events()[0]
    failed = 0
    for sink in build_sinks((output,)):  # type: ignore[arg-type]
        message = sink.format(event, renderer)
        stamp = time.time_ns()  # each run its own message (ids are idempotency keys)
        item = OutboxItem(
            0,
            0,
            "test",
            sink.name,
            f"test-{stamp}-{message.message_id}",
            message.payload,
            0,
            datetime.now(UTC),
        )
        print(
            f"{sink.name}: rendered a sample announcement ({event.release.project} {event.release.version})"
        )
        try:
            print(f"{sink.name}: connecting")
            await sink.open()
            if not sink.ready():
                raise DeliveryError("not ready: is the secret's environment variable set?", sink=sink.name)
            print(f"{sink.name}: sending")
            await sink.deliver(item)
            print(f"{sink.name}: delivered")
        except DeliveryError as exc:
            failed += 1
            print(f"{sink.name}: FAILED: {exc}")
        finally:
            await sink.close()
    return 1 if failed else 0


def cmd_register_commands(args: argparse.Namespace) -> int:
    import httpx

    from bot.chat.discord_interactions import command_definitions
    from bot.config.discord import DISCORD_API

    token = os.environ.get(args.token_env)
    if not token:
        raise ConfigError(f"environment variable {args.token_env} is not set (the bot token)")
    path = (
        f"/applications/{args.application_id}"
        + (f"/guilds/{args.guild_id}" if args.guild_id else "")
        + "/commands"
    )
    try:
        response = httpx.put(
            (args.api or DISCORD_API).rstrip("/") + path,
            json=command_definitions(),
            headers={"Authorization": f"Bot {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"release-bot: error: PUT {path}: {type(exc).__name__}")
        return 1
    if response.status_code >= 300:
        print(f"release-bot: error: PUT {path}: HTTP {response.status_code} {response.text[:300]}")
        return 1
    names = ", ".join("/" + str(c.get("name")) for c in response.json() if isinstance(c, dict))
    where = f"guild {args.guild_id}" if args.guild_id else "every server (global; may take a while to appear)"
    print(f"registered {names} for {where}")
    return 0
