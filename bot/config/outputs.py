"""`[[outputs]]`: one frozen dataclass per kind, a tagged union on `kind`. Every kind has `name` and
`filter` (which events it receives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.config.apprise import AppriseOutput, parse_apprise
from bot.config.discord import DiscordOutput, parse_discord
from bot.config.filters import Filter, parse_filter
from bot.config.irc import IrcOutput, parse_irc
from bot.config.mail import MailConfig, parse_mail
from bot.config.mastodon import MastodonOutput, parse_mastodon
from bot.config.matrix import MatrixOutput, parse_matrix
from bot.config.table import Table
from bot.paths import data_base

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


def parse_output(table: Table, base: Path, *, source_names: list[str]) -> OutputConfig:
    """One `[[outputs]]` table (unknown keys are errors)."""
    name = table.name()
    kind = table.choice("kind", OUTPUT_KINDS)
    found = parse_filter(table, source_names)
    output: OutputConfig
    if kind == "console":
        output = ConsoleOutput(name=name, filter=found)
    elif kind == "mbox":
        output = MboxOutput(
            name=name,
            filter=found,
            path=table.path("path", data_base(base)),
            sender=table.string("from", "release-bot <release-bot@localhost>"),
            to=table.string("to", "announce@localhost"),
        )
    elif kind == "mail":
        output = MailOutput(name=name, filter=found, mail=parse_mail(table, base, source_names=source_names))
    elif kind == "apprise":
        output = parse_apprise(table, name=name, filter=found)
    elif kind == "mastodon":
        output = parse_mastodon(table, name=name, filter=found)
    elif kind == "discord":
        output = parse_discord(table, name=name, filter=found, base=base)
    elif kind == "matrix":
        output = parse_matrix(table, base, name=name, source_names=source_names, filter=found)
    else:
        output = parse_irc(table, base, name=name, source_names=source_names, filter=found)
    table.finish()
    return output
