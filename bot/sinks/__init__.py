"""Sinks deliver rendered messages from the outbox: console, mbox (IRC, mail and Matrix plug in the same way).

`format` runs when an event is recorded (the rendered text goes into the outbox in the same
transaction); `deliver` runs later, from the outbox, and raises DeliveryError on failure.
The interface is `bot.sinks.base`; each kind of sink is a module beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.sinks.base import BotHooks, Sink, irc_line

if TYPE_CHECKING:  # the union of every output kind: annotation only (kinds load when configured)
    from bot.config import OutputConfig

__all__ = ["BotHooks", "Sink", "build_sinks", "irc_line"]


def build_sinks(outputs: tuple[OutputConfig, ...]) -> list[Sink]:
    """One sink per output (IRC and Matrix: per channel or room); a kind's module is imported only
    when the config has an output of that kind."""
    sinks: list[Sink] = []
    for output in outputs:
        if output.kind == "console":
            from bot.sinks.console import ConsoleSink

            sinks.append(ConsoleSink(output))
        elif output.kind == "mbox":
            from bot.sinks.mbox import MboxSink

            sinks.append(MboxSink(output))
        elif output.kind == "mail":
            from bot.sinks.mail import MailSink

            sinks.append(MailSink(output))
        elif output.kind == "irc":
            from bot.sinks.irc import irc_sinks  # one sink per channel, one connection per output

            for sink in irc_sinks(output):
                sink.group = output.name
                sinks.append(sink)
        elif output.kind == "apprise":
            from bot.sinks.apprise import AppriseSink

            sinks.append(AppriseSink(output))
        elif output.kind == "mastodon":
            from bot.sinks.mastodon import MastodonSink

            sinks.append(MastodonSink(output))
        elif output.kind == "discord":
            from bot.sinks.discord import DiscordSink

            sinks.append(DiscordSink(output))
        elif output.kind == "matrix":
            from bot.sinks.matrix import matrix_sinks  # one sink per room, one account per output

            for sink in matrix_sinks(output):
                sink.group = output.name
                sinks.append(sink)
    return sinks
