"""The command line: release-bot [-c CONFIG] run|once|check-config|preview|query|status|demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot import __version__
from bot.config import Config, load_config, masked
from bot.errors import BotError, ConfigError
from bot.logsafe import SafeFormatter
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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of the record, not at set-up (it may have been
    replaced since, e.g. by a test runner's capture)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(level: str) -> None:
    handler = _StderrHandler()
    # untrusted text (titles, channel names, server answers) never reaches the log raw
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)
    # httpx logs every request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _config(args: argparse.Namespace) -> Config:
    config = load_config(config_path(args.config))
    setup_logging(args.log_level or config.log_level)
    return config


# -- verbs -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import Bot

    config = _config(args)
    log.info("config %s, state %s", config.path.resolve(), config.state)

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
    from bot.app import Bot

    config = _config(args)

    async def main() -> int:
        bot = Bot(config)
        try:
            polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        failed = [p for p in polls if not p.ok]
        for poll in polls:
            state = "ok" if poll.ok else f"FAILED: {poll.error}"
            extra = f", baseline {', '.join(poll.baselined)}" if poll.baselined else ""
            print(
                f"{poll.source}: {state}; {len(poll.events)} announced, {poll.new_releases} new{extra}",
                file=sys.stderr,
            )
        print(f"delivered {delivery.delivered}, failed {delivery.failed}", file=sys.stderr)
        return 1 if failed or delivery.failed else 0

    return asyncio.run(main())


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.messages import sample_events, sample_plan_events
    from bot.render import Renderer
    from bot.sinks import build_sinks

    config = _config(args)
    renderer = Renderer(override_dir=config.templates)
    for sink in build_sinks(config.outputs):
        for event in [*sample_events(), *sample_plan_events()]:
            sink.format(event, renderer)  # raises RenderError naming the template
    from bot.digest import check_templates

    check_templates(build_sinks(config.outputs), renderer)  # mail digest templates
    print(f"# {config.path}: OK ({len(config.sources)} source(s), {len(config.outputs)} output(s))")
    print(f"# state: {config.state}")
    from bot.sources import kind_of

    for source in config.sources:
        print(f"# source {source.name} ({source.kind}), every {source.interval:g}s:")
        for name, url in kind_of(source).documents(source):
            print(f"#   {name}: {url}")
    print(json.dumps(masked(dict(config.raw)), indent=2, default=str))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from bot.preview import preview

    config = _config(args)
    lines = asyncio.run(preview(config, args.source, last=args.last))
    for line in lines:
        print(line)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from bot.commands import answer, load_state_view
    from bot.store import Store

    config = _config(args)
    line = " ".join(args.line).strip()
    if not line.startswith("!"):
        line = "!" + line
    if not config.state.exists():
        print(f"no state yet at {config.state}: run `release-bot once` first", file=sys.stderr)
        return 1
    with Store(config.state) as store:
        replies = answer(line, load_state_view(store))
    for reply in replies or ["(no reply)"]:
        print(reply)
    return 0


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{when:%Y-%m-%d %H:%M:%S}Z ({seconds / size:.0f} {unit} ago)"
    return f"{when:%Y-%m-%d %H:%M:%S}Z ({seconds:.0f} s ago)"


def cmd_status(args: argparse.Namespace) -> int:
    from bot.sources import kind_of
    from bot.store import Store, describe_size

    config = _config(args)
    if not config.state.exists():
        print(f"no state yet at {config.state}: the bot has not run")
        return 0
    with Store(config.state) as store:
        print(f"state: {config.state} (schema {store.schema_version}); {describe_size(store.state_size())}")
        for source in config.sources:
            status = store.source_status(source.name)
            if kind_of(source).roadmap:
                items = store.roadmap_items(source.name, present_only=True)
                print(f"source {source.name}: {len(items)} roadmap items listed")
            else:
                known = len(store.known_releases(source.name))
                notices = len(store.notices(source.name))
                extra = f", {notices} deprecation notices" if notices else ""
                print(f"source {source.name}: {known} releases known{extra}")
            if status is None:
                print("  never polled")
                continue
            print(f"  last fetch:   {_ago(status.last_attempt_at)}")
            print(f"  last success: {_ago(status.last_success_at)}")
            print(f"  last change:  {_ago(status.last_change_at)}")
            if status.last_error:
                print(
                    f"  last error:   {status.last_error} ({status.error_streak} failure(s) in a row, "
                    f"{_ago(status.last_error_at)})"
                )
            else:
                print("  last error:   none")
        groups = store.outbox_groups()
        for output in config.outputs:
            # an IRC output has one sink per channel ("OUTPUT/#channel"), all in the output's group
            counts = groups.get(output.name, {})
            c = {
                state: sum(sink.get(state, 0) for sink in counts.values())
                for state in ("queued", "delivered", "failed")
            }
            print(
                f"output {output.name} ({output.kind}): {c.get('queued', 0)} queued, "
                f"{c.get('delivered', 0)} delivered, {c.get('failed', 0)} failed permanently"
            )
            for name in sorted(n for n in counts if n != output.name):
                s = counts[name]
                print(
                    f"  {name}: {s.get('queued', 0)} queued, {s.get('delivered', 0)} delivered, "
                    f"{s.get('failed', 0)} failed permanently"
                )
        for sink, key, state, error in store.outbox_errors():
            print(f"  {sink} {key} [{state}]: {error}")
        from bot.digest import status_lines

        for line in status_lines(config, store):
            print(line)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from bot.store import Store

    config = _config(args)
    names = {o.name for o in config.outputs}
    if args.output is not None and args.output not in names:
        print(
            f"release-bot: error: no output named {args.output!r} (known: {', '.join(sorted(names))})",
            file=sys.stderr,
        )
        return 2
    if not config.state.exists():
        print(f"no state yet at {config.state}: nothing to retry")
        return 0
    with Store(config.state) as store:
        count = store.requeue_failed(args.output)
    print(f"{count} failed message(s) queued again; the running bot (or `release-bot once`) delivers them")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    setup_logging(args.log_level or "warning")
    return asyncio.run(run_demo(keep=args.keep))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="release-bot",
        description="Announces releases of Flatcar Container Linux (and any release feed) on IRC, mail "
        "and the console.",
    )
    parser.add_argument("--version", action="version", version=f"release-bot {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help="TOML config file (default: $RELEASE_BOT_CONFIG, else the first config.toml found in "
        "$CONFIGURATION_DIRECTORY, ./, ~/.config/release-bot/, /etc/release-bot/)",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="override bot.log_level"
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    sub.add_parser("run", help="the daemon: poll on schedule and deliver, until SIGTERM/SIGINT").set_defaults(
        func=cmd_run
    )
    sub.add_parser(
        "once", help="one poll and delivery cycle, then exit (exit 1 when a source failed)"
    ).set_defaults(func=cmd_once)
    sub.add_parser(
        "check-config", help="validate the config and templates; print it with secrets masked"
    ).set_defaults(func=cmd_check_config)
    p = sub.add_parser(
        "preview",
        help="render what would be announced from a source's current data, without touching state or sending",
    )
    p.add_argument("source", help="source name from the config")
    p.add_argument(
        "--last",
        type=int,
        default=1,
        help="when nothing is new, render the newest N releases per document (default 1)",
    )
    p.set_defaults(func=cmd_preview)
    p = sub.add_parser("query", help="answer a channel command from state, e.g. '!release stable'")
    p.add_argument("line", nargs="+")
    p.set_defaults(func=cmd_query)
    sub.add_parser("status", help="each source's last fetch/change/error; outbox per output").set_defaults(
        func=cmd_status
    )
    p = sub.add_parser("retry", help="queue permanently failed messages again (after fixing the cause)")
    p.add_argument("output", nargs="?", help="only this output (default: all)")
    p.set_defaults(func=cmd_retry)
    p = sub.add_parser("demo", help="offline demo over bundled real Flatcar snapshots")
    p.add_argument("--keep", metavar="DIR", help="keep the demo's state, mbox and config in DIR")
    p.set_defaults(func=cmd_demo)
    from bot.mailcli import add_mail_verbs

    add_mail_verbs(sub, _config)  # send-test-mail, digest
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BotError as exc:
        print(f"release-bot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
