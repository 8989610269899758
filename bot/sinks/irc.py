"""IRC output: announcements in channels, answers to `!release …` and friends, admin commands.

One `[[outputs]] kind = "irc"` is one network connection (`IrcNetwork`, owning a `bot.irc.client.
IrcClient`). The outbox has one row per (sink, event), so each configured channel is its own sink
(`IrcChannelSink`, named "OUTPUT/#channel") with its own routing filter, all sharing the connection:

- `ready()` is False until that channel is joined (and while an admin paused it): its messages wait
  in the outbox without counting as failed attempts; every (re)join asks the bot for a delivery pass.
- `deliver()` goes through the flood-controlled queue (announcements after replies) and returns only
  once the line was written to the live connection and the server confirmed it; a disconnect raises
  DeliveryError(permanent=False) and the message stays queued, in order, for the next connection.
- a backlog longer than `backlog_summary_threshold` is announced as summary lines (as many queued
  announcements per line as fit), never dropped.
- `open()` starts the connection and waits up to `connect_timeout` for the channels (so `release-bot
  once` can deliver); it never raises when the server is down: the connection keeps retrying.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable

from bot.commands import StateView
from bot.config import IrcOutput, OutputConfig
from bot.errors import DeliveryError
from bot.irc.client import IrcClient
from bot.irc.config import IrcChannel, IrcSettings, irc_settings
from bot.irc.flood import Priority, summarise
from bot.irc.names import irc_lower
from bot.irc.protocol import Incoming
from bot.irc.router import AdminRequest, CommandRouter, Reply
from bot.model import AnyEvent
from bot.render import Renderer
from bot.sinks.base import BotHooks, Sink, irc_line
from bot.store import OutboxItem
from bot.text import truncate_utf8

log = logging.getLogger("release-bot.irc")

SUMMARY_ENTRY_BYTES = 200
#: A longer link is left out of a summary entry (it would crowd out the releases).
SUMMARY_LINK_BYTES = 110
_LINK = re.compile(r"https?://\S+")
#: Replies waiting for flood tokens beyond which new questions (except from admins) are ignored. Replies
#: go ahead of announcements, so without a bound a crowd of askers (clones, each under its own rate
#: limit) would hold the announcements back for minutes; at the default pace this is ~20 s of replies.
MAX_REPLY_BACKLOG = 10
#: A channel that refused a line (404) is tried again after this long unless a mode change we see
#: (-m, -b, +v on us) makes it possible sooner.
MUTE_RETRY = 60.0


def summary_entry(text: str) -> str:
    """The short form of an announcement for a backlog summary: its first " — " part, and its link
    (the release notes) when the announcement has one."""
    links = _LINK.findall(text)
    link = links[-1] if links and len(links[-1]) <= SUMMARY_LINK_BYTES else ""
    head_bytes = SUMMARY_ENTRY_BYTES - (len(link.encode()) + 1 if link else 0)
    head = truncate_utf8(text.split(" — ", 1)[0].strip(), head_bytes)
    return f"{head} {link}" if link and link not in head else head


class IrcNetwork:
    """One IRC output: the connection, the channels' sinks, and the answers to people."""

    def __init__(
        self, output: OutputConfig, settings: IrcSettings, *, clock: Callable[[], float] = time.monotonic
    ):
        self.output = output
        self.settings = settings
        self.clock = clock
        self.bot: BotHooks | None = None
        self.client: IrcClient | None = None
        self.router = CommandRouter(settings.router_config())
        self.paused: set[str] = set()
        #: channel → until when it is taken as refusing our lines (404: +m, +b, …); a mode change that
        #: lets us speak again (-m, -b, +v on us) ends it at once
        self.muted: dict[str, float] = {}
        #: channels whose replayed history (if the server keeps one) has been read since the last join
        self.synced: set[str] = set()
        self.sinks: list[IrcChannelSink] = []
        self._waited = False
        self._refused = False

    # -- lifecycle -------------------------------------------------------------------------------

    def attach(self, bot: BotHooks) -> None:
        self.bot = bot

    async def start(self) -> None:
        if self.client is None:
            missing = self.settings.missing_secrets()
            if missing:  # a login with an empty password would only fail, on every attempt
                if not self._refused:
                    self._refused = True
                    log.error(
                        "irc %s: environment variable(s) %s not set; not connecting (set them and restart)",
                        self.output.name,
                        ", ".join(missing),
                    )
                return
            self.client = IrcClient(
                name=self.output.name,
                settings=self.settings.connect,
                session_config=self.settings.session_config(),
                listener=self,
                clock=self.clock,
            )
            self.client.start()

    async def wait_ready(self) -> None:
        """Once per run: wait up to connect_timeout until every channel is joined (or SASL failed)."""
        if self._waited or self.client is None:
            return
        self._waited = True
        client = self.client
        names = [c.name for c in self.settings.channels]
        started = self.clock()
        ok = await client.wait_until(
            lambda: all(client.is_joined(n) for n in names), self.settings.connect.connect_timeout
        )
        if not ok and client.fatal_error is None:  # a refused login was logged at ERROR already
            joined = [n for n in names if client.is_joined(n)]
            log.warning(
                "irc %s: not all channels joined after %.1f s (joined: %s); their announcements stay queued",
                self.output.name,
                self.clock() - started,
                ", ".join(joined) or "none",
            )

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.stop(self.settings.quit_message)

    def ready(self, channel: str) -> bool:
        key = irc_lower(channel)
        return (
            self.client is not None
            and self.client.is_joined(channel)
            and key not in self.paused
            and self.muted.get(key, 0.0) <= self.clock()
        )

    # -- ClientListener --------------------------------------------------------------------------

    def on_registered(self, nick: str) -> None:
        pass

    def on_joined(self, channel: str) -> None:
        self.muted.pop(irc_lower(channel), None)
        self.synced.discard(irc_lower(channel))
        if self.bot is not None:
            self.bot.request_delivery()

    def on_send_refused(self, target: str, reason: str) -> None:
        """404 on a channel: hold its lines (not counted as failures) until a mode change lets us speak
        again, or MUTE_RETRY seconds (a change we cannot see, like +v through ChanServ)."""
        key = irc_lower(target)
        if any(irc_lower(c.name) == key for c in self.settings.channels):
            self.muted[key] = self.clock() + MUTE_RETRY

    def on_send_possible(self, channel: str, reason: str) -> None:
        if self.muted.pop(irc_lower(channel), None) is not None and self.bot is not None:
            self.bot.request_delivery()

    def on_left(self, channel: str, reason: str) -> None:
        pass

    def on_auth_failed(self, reason: str, fatal: bool) -> None:
        pass

    def on_disconnected(self, reason: str) -> None:
        pass

    def on_incoming(self, message: Incoming) -> None:
        client = self.client
        if client is None or client.session is None:
            return
        if client.queued(Priority.REPLY) >= MAX_REPLY_BACKLOG and not self.router.is_admin(message):
            log.debug(
                "irc %s: %d replies waiting; ignoring %r", self.output.name, MAX_REPLY_BACKLOG, message.mask
            )
            return
        result = self.router.handle(message, nick=client.session.nick, now=self.clock(), state=self._state)
        if result is None:
            return
        if isinstance(result, AdminRequest):
            log.info(
                "irc %s: admin %s: %s %s", self.output.name, result.who, result.command, " ".join(result.args)
            )
            reply = Reply(result.target, tuple(self._admin(result, message)), result.private)
        else:
            reply = result
        notice = self._notice(reply.target) if not reply.private else False
        for line in reply.lines:
            client.queue_text(reply.target, line, notice=notice, priority=Priority.REPLY)

    async def seen_before(self, channel: str, text: str, *, notice: bool) -> bool:
        """`text` is among our own lines the server replayed in `channel` since we joined (its history,
        InspIRCd +H): a restart fell between sending it and recording it. The first time after a join,
        a PING round trip first, so the replay is read in full."""
        client = self.client
        if client is None or client.session is None:
            return False
        key = irc_lower(channel)
        if key not in self.synced:
            await client.sync(5.0)
            self.synced.add(key)
        try:
            lines = client.session.message_lines(channel, text, notice=notice)
        except ValueError:
            return False
        return client.seen.holds_all(channel, lines)

    def _state(self) -> StateView:
        view = self.bot.state_view() if self.bot is not None else StateView.of(())
        return dataclasses.replace(view, eol_after_days=self.settings.output.lts_eol_after_days)

    def _notice(self, channel: str) -> bool:
        for configured in self.settings.channels:
            if irc_lower(configured.name) == irc_lower(channel):
                return configured.notice
        return False

    # -- admin commands (they need live state, so they live here, not in bot.commands) ---------

    def _channel_arg(self, request: AdminRequest, message: Incoming) -> IrcChannel | str:
        wanted = request.args[0] if request.args else ("" if message.private else message.target)
        if not wanted:
            example = self.settings.channels[0].name
            return f"which channel? e.g. {self.settings.prefix}{request.command} {example}"
        for channel in self.settings.channels:
            if irc_lower(channel.name) == irc_lower(wanted):
                return channel
        names = ", ".join(c.name for c in self.settings.channels)
        return f"{wanted[:50]} is not one of my channels ({names})"

    def _admin(self, request: AdminRequest, message: Incoming) -> list[str]:
        if request.command == "status":
            return [self.status_line()]
        if request.command == "announce-now":
            if self.bot is not None:
                self.bot.request_delivery()
            return [f"delivery pass requested; queued: {self._backlog_text()}"]
        channel = self._channel_arg(request, message)
        if isinstance(channel, str):
            return [channel]
        key = irc_lower(channel.name)
        if request.command == "pause":
            self.paused.add(key)
            return [
                f"announcements paused in {channel.name}; they stay queued until "
                f"{self.settings.prefix}resume {channel.name}"
            ]
        self.paused.discard(key)
        if self.bot is not None:
            self.bot.request_delivery()
        return [f"announcements resumed in {channel.name}"]

    def _backlog_text(self) -> str:
        if self.bot is None:
            return "unknown"
        parts = [f"{sink.channel.name} {len(self.bot.backlog(sink.name))}" for sink in self.sinks]
        return ", ".join(parts)

    def status_line(self) -> str:
        client = self.client
        connect = self.settings.connect
        where = f"{connect.host}:{connect.port}{' (TLS)' if connect.tls else ''}"
        if client is None or client.session is None or not client.connected:
            error = client.stats.last_error if client is not None else None
            return f"not connected to {where}" + (f"; last error: {error}" if error else "")
        session = client.session
        since = client.stats.connected_since
        up = f"{(self.clock() - since) / 60:.0f} min" if since is not None else "?"
        channels = ", ".join(
            c.name
            + (" (paused)" if irc_lower(c.name) in self.paused else "")
            + ("" if session.is_joined(c.name) else " (not joined)")
            for c in self.settings.channels
        )
        return (
            f"{session.nick} on {where}, account {session.account or 'none'}, up {up}; channels: {channels}; "
            f"lines waiting: {client.queued(Priority.REPLY)} replies, {client.queued(Priority.ANNOUNCE)} "
            f"announcements; outbox: {self._backlog_text()}"
        )


class IrcChannelSink(Sink):
    kind = "irc"

    def __init__(self, config: OutputConfig, network: IrcNetwork, channel: IrcChannel) -> None:
        super().__init__(config)
        self.network = network
        self.channel = channel
        self._summarised: set[str] = set()

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        text = irc_line(event, renderer)
        return {"text": text, "summary": summary_entry(text)}

    def attach(self, bot: BotHooks) -> None:
        self.network.attach(bot)

    def ready(self) -> bool:
        return self.network.ready(self.channel.name)

    async def open(self) -> None:
        await self.network.start()
        await self.network.wait_ready()

    async def close(self) -> None:
        await self.network.stop()

    async def deliver(self, item: OutboxItem) -> None:
        if item.message_id in self._summarised:
            self._summarised.discard(item.message_id)  # it went out in a summary line
            return
        client = self.network.client
        if client is None or not client.is_joined(self.channel.name):
            raise DeliveryError(f"not in {self.channel.name}", sink=self.name)
        text = str(item.payload.get("text", ""))
        covered: list[OutboxItem] = []
        bot = self.network.bot
        backlog = bot.backlog(self.name) if bot is not None else []
        if len(backlog) > self.network.settings.backlog_summary_threshold and backlog[0].id == item.id:
            entries = [
                str(i.payload.get("summary") or summary_entry(str(i.payload.get("text", ""))))
                for i in backlog
            ]
            budget = client.text_budget(self.channel.name, notice=self.channel.notice)
            summary, count = summarise(entries, budget=budget, total=len(backlog))
            if count >= 2:
                text, covered = summary, backlog[1:count]
        if await self.network.seen_before(self.channel.name, text, notice=self.channel.notice):
            log.info(
                "irc %s: %s is in the channel's history already; not sent again", self.name, item.event_key
            )
            self._summarised.update(i.message_id for i in covered)
            return
        try:
            await client.send_text(
                self.channel.name,
                text,
                notice=self.channel.notice,
                priority=Priority.ANNOUNCE,
                confirm=True,
                channel=self.channel.name,
            )
        except ConnectionError as exc:  # disconnected, not in the channel, refused (404), unconfirmed
            raise DeliveryError(str(exc), sink=self.name) from exc
        except ValueError as exc:
            raise DeliveryError(f"cannot send: {exc}", sink=self.name, permanent=True) from exc
        if covered:
            log.info("irc %s: summarised %d queued announcements in one line", self.name, len(covered) + 1)
            self._summarised.update(i.message_id for i in covered)


def irc_sinks(output: IrcOutput) -> list[Sink]:
    """One sink per configured channel, sharing one network connection."""
    settings = irc_settings(output)
    network = IrcNetwork(output, settings)
    for channel in settings.channels:
        config = dataclasses.replace(output, name=f"{output.name}/{channel.name}", filter=channel.filter)
        network.sinks.append(IrcChannelSink(config, network, channel))
    return list(network.sinks)


__all__ = ["IrcChannelSink", "IrcNetwork", "irc_sinks", "summary_entry"]
