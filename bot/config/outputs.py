"""`[[outputs]]`: one frozen dataclass per kind, a tagged union on `kind`. Every kind has `name` and
`filter` (which events it receives).

The kinds with their own module (mail, irc, matrix, discord, mastodon, apprise) are a registry,
`OUTPUT_KIND_MODULES`: a kind's module is imported when a table of that kind is parsed (a config
with only a console output never imports `email.headerregistry` or the IRC checks). `OutputConfig`,
the union of every kind, is for annotations; asked for at run time it imports every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.config.filters import Filter, parse_filter
from bot.config.table import Table
from bot.paths import data_base

if TYPE_CHECKING:
    from bot.config.apprise import AppriseOutput
    from bot.config.discord import DiscordOutput
    from bot.config.irc import IrcOutput
    from bot.config.mail import MailConfig
    from bot.config.mastodon import MastodonOutput
    from bot.config.matrix import MatrixOutput

OutputKind = Literal["console", "mbox", "mail", "irc", "matrix", "discord", "mastodon", "apprise"]
OUTPUT_KINDS: tuple[OutputKind, ...] = (
    "console",
    "mbox",
    "mail",
    "irc",
    "matrix",
    "discord",
    "mastodon",
    "apprise",
)


@dataclass(frozen=True, kw_only=True)
class ConsoleOutput:
    """One line per announcement on standard output."""

    name: str
    filter: Filter = field(default_factory=Filter)
    kind: Literal["console"] = "console"


@dataclass(frozen=True, kw_only=True)
class MboxOutput:
    """Each announcement appended as a mail to an mbox file."""

    name: str
    filter: Filter = field(default_factory=Filter)
    kind: Literal["mbox"] = "mbox"
    path: Path
    sender: str = "release-bot <release-bot@localhost>"  # the `from` key
    to: str = "announce@localhost"


@dataclass(frozen=True, kw_only=True)
class MailOutput:
    """One mailing list over SMTP."""

    name: str
    filter: Filter = field(default_factory=Filter)
    kind: Literal["mail"] = "mail"
    mail: MailConfig


if TYPE_CHECKING:
    #: One `[[outputs]]` table.
    OutputConfig = (
        ConsoleOutput
        | MboxOutput
        | MailOutput
        | IrcOutput
        | MatrixOutput
        | DiscordOutput
        | MastodonOutput
        | AppriseOutput
    )

#: The module of each kind that has one, imported when a table of that kind is first parsed.
OUTPUT_KIND_MODULES: dict[str, str] = {
    "mail": "bot.config.mail",
    "irc": "bot.config.irc",
    "matrix": "bot.config.matrix",
    "discord": "bot.config.discord",
    "mastodon": "bot.config.mastodon",
    "apprise": "bot.config.apprise",
}


def __getattr__(name: str) -> object:
    if name == "OutputConfig":  # the run-time union (`from bot.config import OutputConfig`): every kind
        from bot.config.apprise import AppriseOutput
        from bot.config.discord import DiscordOutput
        from bot.config.irc import IrcOutput
        from bot.config.mastodon import MastodonOutput
        from bot.config.matrix import MatrixOutput

        union: object = (
            ConsoleOutput
            | MboxOutput
            | MailOutput
            | IrcOutput
            | MatrixOutput
            | DiscordOutput
            | MastodonOutput
            | AppriseOutput
        )
        globals()["OutputConfig"] = union
        return union
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Parses the kind's own keys: (table, base folder, name, source names, filter) -> the output.
_Parser = Callable[[Table, Path, str, list[str], Filter], "OutputConfig"]


def _console(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    return ConsoleOutput(name=name, filter=found)


def _mbox(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    return MboxOutput(
        name=name,
        filter=found,
        path=table.path("path", data_base(base)),
        sender=table.string("from", "release-bot <release-bot@localhost>"),
        to=table.string("to", "announce@localhost"),
    )


def _mail(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.mail import parse_mail

    return MailOutput(name=name, filter=found, mail=parse_mail(table, base, source_names=source_names))


def _irc(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.irc import parse_irc

    return parse_irc(table, base, name=name, source_names=source_names, filter=found)


def _matrix(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.matrix import parse_matrix

    return parse_matrix(table, base, name=name, source_names=source_names, filter=found)


def _discord(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.discord import parse_discord

    return parse_discord(table, name=name, filter=found, base=base)


def _mastodon(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.mastodon import parse_mastodon

    return parse_mastodon(table, name=name, filter=found)


def _apprise(table: Table, base: Path, name: str, source_names: list[str], found: Filter) -> OutputConfig:
    from bot.config.apprise import parse_apprise

    return parse_apprise(table, name=name, filter=found)


_PARSERS: dict[OutputKind, _Parser] = {
    "console": _console,
    "mbox": _mbox,
    "mail": _mail,
    "irc": _irc,
    "matrix": _matrix,
    "discord": _discord,
    "mastodon": _mastodon,
    "apprise": _apprise,
}


def parse_output(table: Table, base: Path, *, source_names: list[str]) -> OutputConfig:
    """One `[[outputs]]` table (unknown keys are errors)."""
    name = table.name()
    kind = table.choice("kind", OUTPUT_KINDS)
    found = parse_filter(table, source_names)
    output = _PARSERS[kind](table, base, name, source_names, found)
    table.finish()
    return output
