"""The verbs of the command line (each imported only when it runs; see `bot.cli.parser`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import signal
import sys
from enum import Enum
from pathlib import Path

from bot.config import Config, load_config, masked
from bot.errors import ConfigError, StoreError
from bot.logsetup import setup_logging
from bot.paths import find_config

log = logging.getLogger("release-bot")


def config_path(given: str | None) -> Path:
    """The config file: -c FILE, else the first found of $RELEASE_BOT_CONFIG and the places in
    `bot.paths.find_config`. The source checkout's config.example.toml is used only when running in
    that checkout, and says so; with nothing found the error names every place looked."""
    if given is not None:
        return Path(given)
    choice = find_config()
    if choice.path is None:
        looked = ", ".join(["$RELEASE_BOT_CONFIG (unset)", *choice.looked])
        raise ConfigError(
            f"no config file found; looked at {looked}. Pass -c FILE or set RELEASE_BOT_CONFIG "
            "(start from config.example.toml of the source or the README's Deploy section)"
        )
    if choice.is_example:
        print(
            f"release-bot: no config.toml; using the example {choice.path} "
            "(copy it to config.toml to make it yours)",
            file=sys.stderr,
        )
    return choice.path


def load(args: argparse.Namespace) -> Config:
    """The config of -c (or the places looked at), with logging set up as it asks."""
    config = load_config(config_path(args.config))
    setup_logging(args.log_level or config.log_level, config.log_format)
    return config


def _writable_state(config: Config) -> None:
    """`run` and `once` write the state: refuse at once, with the reason, when they cannot."""
    state = config.state
    if config.database is not None:  # PostgreSQL: the server says what this role may do
        return
    if state.exists():
        if not os.access(state, os.R_OK | os.W_OK):
            raise StoreError(f"{state}: the state file is read-only for this user; `run` and `once` write it")
        return
    folder = state.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{state}: cannot create the state here ({folder} is not writable for this user)")


# -- verbs -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.app import Bot

    config = load(args)
    log.info("config %s, state %s", config.path.resolve(), config.state_label)
    _writable_state(config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        bot = Bot(config)
        try:
            await bot.run(stop)
        finally:
            await bot.aclose()

    asyncio.run(main())
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    import asyncio

    from bot.app import Bot
    from bot.failures import summarise_errors

    config = load(args)
    _writable_state(config)

    async def main() -> int:
        bot = Bot(config)
        try:
            polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        failed = [p for p in polls if not p.ok]
        for poll in polls:
            error = summarise_errors(poll.source, poll.error or "unknown error").split(": ", 1)[-1]
            state = "ok" if poll.ok else f"FAILED: {error}"
            extra = f", baseline {', '.join(poll.baselined)}" if poll.baselined else ""
            print(
                f"{poll.source}: {state}; {len(poll.announced)} announced, {poll.new_releases} new{extra}",
                file=sys.stderr,
            )
        print(f"delivered {delivery.delivered}, failed {delivery.failed}", file=sys.stderr)
        for name, held in delivery.held.items():  # queued because of failures: not a success
            print(f"output {name}: {held} message(s) held back by failures (see `status`)", file=sys.stderr)
        return 1 if failed or delivery.failed or delivery.held else 0

    return asyncio.run(main())


def effective(value: object) -> object:
    """A typed config object as plain data (dataclasses → dicts, paths → strings), for display."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: effective(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "raw" and not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): effective(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [effective(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, re.Pattern):
        return value.pattern
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def unset_secrets(shown: object, where: str = "") -> list[str]:
    """Key paths of `*_env` keys whose variable is not set, in the masked config."""
    out: list[str] = []
    if isinstance(shown, dict):
        for key, value in shown.items():
            out += unset_secrets(value, f"{where}.{key}" if where else str(key))
    elif isinstance(shown, list):
        for i, value in enumerate(shown):
            out += unset_secrets(value, f"{where}[{i}]")
    elif isinstance(shown, str) and shown.endswith(" (NOT SET)"):
        out.append(f"{where} = {shown.removesuffix(' (NOT SET)')}")
    return out


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.digest import check_templates
    from bot.messages import sample_events, sample_plan_events, sample_summary
    from bot.render import Renderer
    from bot.sinks import build_sinks
    from bot.sources import kind_of

    config = load(args)
    if config.templates is not None and not config.templates.is_dir():
        raise ConfigError(f"folder not found: {config.templates}", path=str(config.path), key="bot.templates")
    renderer = Renderer(override_dir=config.templates)
    for sink in build_sinks(config.outputs):
        for event in [*sample_events(), *sample_plan_events(), sample_summary()]:
            sink.format(event, renderer)  # raises RenderError naming the template
    check_templates(build_sinks(config.outputs), renderer)  # mail digest templates
    print(f"# {config.path}: OK ({len(config.sources)} source(s), {len(config.outputs)} output(s))")
    print(f"# state: {config.state}")
    for source in config.sources:
        print(f"# source {source.name} ({source.kind}), every {source.interval:g}s:")
        for name, url in kind_of(source).documents(source):
            print(f"#   {name}: {url}")
    shown = masked(effective(config))
    print("# effective config (defaults filled in, secrets masked):")
    print(json.dumps(shown, indent=2, default=str))
    for key in unset_secrets(shown):
        print(
            f"release-bot: warning: {config.path}: {key}: the environment variable is not set",
            file=sys.stderr,
        )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    import asyncio

    from bot.preview import preview

    config = load(args)
    lines = asyncio.run(preview(config, args.source, last=args.last))
    for line in lines:
        print(line)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from bot.cli.state import open_readonly_state, state_exists
    from bot.commands import answer, load_state_view

    config = load(args)
    line = " ".join(args.line).strip()
    if not line.startswith("!"):
        line = "!" + line
    if not state_exists(config):
        print(f"no state yet at {config.state}: run `release-bot once` first", file=sys.stderr)
        return 1
    with open_readonly_state(config) as store:
        replies = answer(line, load_state_view(store))
    for reply in replies or ["(no reply)"]:
        print(reply)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from bot.cli.state import state_exists
    from bot.store.backend import open_state

    config = load(args)
    names = {o.name for o in config.outputs}
    if args.output is not None and args.output not in names:
        print(
            f"release-bot: error: no output named {args.output!r} (known: {', '.join(sorted(names))})",
            file=sys.stderr,
        )
        return 2
    if not state_exists(config):
        print(f"no state yet at {config.state}: nothing to retry")
        return 0
    with open_state(config) as store:
        count = store.requeue_failed(args.output)
    print(f"{count} failed message(s) queued again; the running bot (or `release-bot once`) delivers them")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from bot.demo import run_demo

    setup_logging(args.log_level or "warning")
    return asyncio.run(run_demo(keep=args.keep))
