"""The argument parser: global options before or after the verb, each verb's purpose and example.

Verbs are named here as "module:function" and imported only when they run, so `--help` and quick
verbs do not pay for the daemon's imports.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import __version__

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["VERBS", "build_parser", "verb_named"]

Verb = Callable[[argparse.Namespace], int]

DESCRIPTION = (
    "Announces releases of Flatcar Container Linux (and any release feed) on IRC, mail and the console."
)
EPILOG = """\
examples:
  release-bot demo                          offline demo over real Flatcar data
  release-bot -c config.toml check-config   validate the config, show it with defaults
  release-bot run                           the daemon (config: see -c)
  release-bot status --check                health for scripts and containers (exit 0/1/2)

`release-bot VERB --help` describes each verb. Exit codes: 0 ok, 1 failed or degraded, 2 config or
state unusable, 130/143 interrupted (Ctrl-C/SIGTERM; `run` stops with 0), 141 output closed early.
"""


def _lazy(target: str) -> Verb:
    module, _, name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        func: Verb = getattr(importlib.import_module(module), name)
        return func(args)

    return run


def _common(default: object) -> argparse.ArgumentParser:
    """The global options, for the main parser (`default` None) and every verb (SUPPRESS: given after
    the verb they override, absent they leave the main parser's value). Two parsers, not one: a parent
    parser shares its actions, and so their defaults."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        default=default,
        metavar="FILE",
        help="TOML config file (default: $RELEASE_BOT_CONFIG, else the first config.toml found in "
        "$CONFIGURATION_DIRECTORY, ./, ~/.config/release-bot/, /etc/release-bot/)",
    )
    common.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=default,
        help="override bot.log_level",
    )
    return common


class _VerbAction(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Every verb gets the global options and a help layout that keeps its example as written."""

    common: argparse.ArgumentParser

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [self.common])
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if "help" in kwargs and "description" not in kwargs:
            kwargs["description"] = kwargs["help"][:1].upper() + kwargs["help"][1:] + "."
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]


def _verb(
    sub: Any, name: str, target: str, purpose: str, example: str, **kwargs: Any
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=purpose, epilog=f"example:\n  {example}", **kwargs)
    p.set_defaults(func=_lazy(target))
    return p


#: Verbs other modules add, by the function that adds them (their module is imported only when the
#: parser is built for one of its verbs, or for every verb).
_ADDED_BY = {
    "send-test-mail": "mail",
    "digest": "mail",
    "deliver": "mail",
    "send-test-message": "chat",
    "discord": "chat",
    "migrate": "migrate",
    "migrate-state": "migrate",
}
#: Every verb, in the order of `--help`.
VERBS = ("run", "once", "check-config", "preview", "query", "status", "retry", "demo", *_ADDED_BY)


def verb_named(argv: Sequence[str]) -> str | None:
    """The verb a command line names, when that is certain without parsing it (the global options
    before it skipped, with their values); else None. `main` then builds only that verb's parser:
    the same parse, without building — and importing — every other verb's. Anything unusual (an
    unknown option before the verb, `--help`, `--version`, an unknown verb) gives None: every verb."""
    tokens = iter(argv)
    for token in tokens:
        if token == "-c":
            next(tokens, None)  # its value
            continue
        if token.startswith("-c") and not token.startswith("--"):
            continue  # -cFILE
        if token.startswith("--") and len(token) > 2:
            name, equals, _ = token.partition("=")
            # a long option may be abbreviated (argparse's allow_abbrev); --c… and --l… are unique
            if len(name) > 2 and ("--config".startswith(name) or "--log-level".startswith(name)):
                if not equals:
                    next(tokens, None)  # its value
                continue
            return None
        if token.startswith("-"):
            return None
        return token if token in VERBS else None
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with `verb` (one of `VERBS`), only that verb's; else every verb's."""

    def wanted(name: str) -> bool:
        return verb is None or verb == name

    parser = argparse.ArgumentParser(
        prog="release-bot",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(None)],
    )
    parser.add_argument("--version", action="version", version=f"release-bot {__version__}")
    parser.register("action", "parsers", _VerbAction)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    assert isinstance(sub, _VerbAction)
    sub.common = _common(argparse.SUPPRESS)
    verbs = "bot.cli.verbs"
    if wanted("run"):
        _verb(
            sub,
            "run",
            f"{verbs}:cmd_run",
            "the daemon: poll every source on its interval and deliver, until SIGTERM/SIGINT",
            "release-bot -c /etc/release-bot/config.toml run",
        )
    if wanted("once"):
        _verb(
            sub,
            "once",
            f"{verbs}:cmd_once",
            "one poll of every source and one delivery pass, then exit (1 when something failed)",
            "release-bot once --log-level debug",
        )
    if wanted("check-config"):
        _verb(
            sub,
            "check-config",
            f"{verbs}:cmd_check_config",
            "validate the config and templates; print the effective config "
            "(defaults filled in, secrets masked)",
            "release-bot -c config.toml check-config",
        )
    if wanted("preview"):
        p = _verb(
            sub,
            "preview",
            f"{verbs}:cmd_preview",
            "fetch a source now and show what would be announced; nothing is written or sent",
            "release-bot preview flatcar --last 2",
        )
        p.add_argument("source", help="a source name from the config ([[sources]] name)")
        p.add_argument(
            "--last",
            type=int,
            default=1,
            help="when nothing is new, render the newest N releases per document (default 1)",
        )
    if wanted("query"):
        p = _verb(
            sub,
            "query",
            f"{verbs}:cmd_query",
            "answer a channel command from the stored state, as the bot would in a channel",
            "release-bot query '!release stable'",
        )
        p.add_argument(
            "line",
            nargs="+",
            metavar="COMMAND",
            help="a channel command with its arguments, e.g. '!release stable', '!changes beta', "
            "'!deprecations', '!roadmap', '!help' (the leading ! is optional; quote it in the shell)",
        )
    if wanted("status"):
        p = _verb(
            sub,
            "status",
            "bot.cli.status:cmd_status",
            "per source: last fetch, success, change and error; per output: queued, delivered, failed",
            "release-bot status --check || echo unhealthy",
        )
        mode = p.add_mutually_exclusive_group()
        mode.add_argument(
            "--check",
            action="store_true",
            help="print only the health verdict and why; exit 0 healthy, 1 degraded, 2 unusable",
        )
        mode.add_argument("--json", action="store_true", help="the status and the health verdict as JSON")
    if wanted("retry"):
        p = _verb(
            sub,
            "retry",
            f"{verbs}:cmd_retry",
            "queue messages that failed permanently again, after the cause is fixed",
            "release-bot retry mailing-list",
        )
        p.add_argument("output", nargs="?", help="only this output (default: all)")
    if wanted("demo"):
        p = _verb(
            sub,
            "demo",
            f"{verbs}:cmd_demo",
            "the offline demo over two bundled real Flatcar snapshots",
            "release-bot demo --keep /tmp/release-bot-demo",
        )
        p.add_argument("--keep", metavar="DIR", help="keep the demo's state, mbox and config in DIR")
    added = set(_ADDED_BY.values()) if verb is None else {_ADDED_BY.get(verb)}
    if "mail" in added:
        from bot.mailcli import add_mail_verbs

        add_mail_verbs(sub, _load_config)  # send-test-mail, digest, deliver
    if "chat" in added:
        from bot.chat.cli import add_chat_verbs

        add_chat_verbs(sub, _load_config)  # send-test-message, discord register-commands
    if "migrate" in added:
        from bot.cli.migrate import add_migrate_verbs

        add_migrate_verbs(sub, _verb)  # migrate, migrate-state
    for name, example in MAIL_EXAMPLES.items():
        if name in sub.choices:
            sub.choices[name].epilog = f"example:\n  {example}"
    return parser


MAIL_EXAMPLES = {
    "send-test-mail": "release-bot send-test-mail mailing-list --to me@example.org",
    "digest": "release-bot digest --preview",
}


def _load_config(args: argparse.Namespace) -> Config:
    from bot.cli.verbs import load

    return load(args)
