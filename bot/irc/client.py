"""The asyncio side of IRC: one network connection kept alive. It moves bytes, sleeps and keeps time;
every protocol decision is made by the pure `bot.irc.session.IrcSession`, and queued lines are paced
and written by `bot.irc.outgoing`. Asyncio streams, verified TLS (`bot.irc.transport`), reconnect with
backoff and jitter (not the `irc` package: no SASL, a blocking throttle, strict decoding).

A message is "delivered" (`send_text(confirm=True)`) only when the server confirmed it: by its own
echo where the server offers echo-message and labeled-response (the last line carries a label), else
by the PONG to a PING written right after it (the server handles lines in order). A 404/401 before
the confirmation fails the delivery; a disconnect fails everything still queued (the outbox keeps it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable

from bot.backoff import backoff
from bot.irc.ctcp import CtcpResponder
from bot.irc.echo import OwnLines
from bot.irc.flood import Priority
from bot.irc.listener import ClientListener, Stats
from bot.irc.outgoing import Confirmations, Entry, NotConnected, Outgoing, Refused
from bot.irc.parse import LineBuffer
from bot.irc.protocol import (
    Action,
    AuthFailed,
    Close,
    CtcpQuery,
    Incoming,
    Joined,
    Left,
    Log,
    LoggedIn,
    OwnMessage,
    Pong,
    Registered,
    Send,
    SendPossible,
    SendRefused,
    SessionConfig,
)
from bot.irc.session import IrcSession
from bot.irc.transport import ConnectSettings, describe_error, ssl_context
from bot.text import sanitize

log = logging.getLogger("release-bot.irc")

__all__ = ["ClientListener", "ConnectSettings", "IrcClient", "NotConnected", "Refused", "backoff"]

MAX_BUFFER = 64 * 1024  # an incoming line longer than this (no newline) ends the connection
MAX_QUEUED_REPLIES = 200


class IrcClient:
    """One IRC network connection, reconnected until `stop()`. Owned by `bot.sinks.irc.IrcNetwork`."""

    def __init__(
        self,
        *,
        name: str,
        settings: ConnectSettings,
        session_config: SessionConfig,
        listener: ClientListener,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self.session_config = session_config
        self.listener = listener
        self.clock = clock
        self.session: IrcSession | None = None
        self.stats = Stats()
        self.outgoing = Outgoing(
            name=name, burst=settings.flood_burst, interval=settings.flood_interval, clock=clock
        )
        self._writer: asyncio.StreamWriter | None = None
        self.confirmations = Confirmations()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closed = asyncio.Event()  # the current connection ended
        self._close_reason = ""
        self._state_changed = asyncio.Event()
        self.fatal_error: str | None = None
        self.ctcp = CtcpResponder(session_config.version)
        self.seen = OwnLines()  # our own lines relayed without our label (`already_sent`)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"irc:{self.name}")

    @property
    def started(self) -> bool:
        return self._task is not None

    async def stop(self, message: str = "release-bot stopping") -> None:
        """QUIT (when connected), close, and stop reconnecting."""
        self._stopping.set()
        writer, session = self._writer, self.session
        # before registration there is nobody to say goodbye to (and a server that never answered
        # would hold the stop up): close at once
        if writer is not None and session is not None and self.connected and not writer.is_closing():
            with contextlib.suppress(OSError, ValueError):
                writer.write(session.quit_line(message).encode("utf-8") + b"\r\n")
                await asyncio.wait_for(writer.drain(), 5.0)
            # give the server a moment to close its side, so the QUIT message is shown
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 2.0)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_until(self, predicate: Callable[[], bool], within: float) -> bool:
        """Wait up to `within` seconds until `predicate()` holds (checked whenever the connection state
        changes), or until a fatal error (SASL failure) ended the connection."""
        deadline = self.clock() + within
        while not predicate():
            remaining = deadline - self.clock()
            if remaining <= 0 or (self.fatal_error is not None and not self.connected):
                return predicate()
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), min(remaining, 1.0))
        return True

    # -- state -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.registered and self._writer is not None

    def is_joined(self, channel: str) -> bool:
        return self.connected and self.session is not None and self.session.is_joined(channel)

    def queued(self, priority: Priority | None = None) -> int:
        return self.outgoing.count(priority)

    def text_budget(self, target: str, *, notice: bool = False) -> int:
        if self.session is None:
            raise NotConnected("not connected")
        return self.session.text_budget(target, notice=notice)

    # -- sending ---------------------------------------------------------------------------------

    async def send_text(
        self, target: str, text: str, *, notice: bool, priority: Priority, confirm: bool, channel: str | None
    ) -> None:
        """Send `text` (sanitised and split) and return once it is written (and, with `confirm`, once
        the server acknowledged it). Raises NotConnected / Refused (both ConnectionError)."""
        session = self.session
        if session is None or not self.connected:
            raise NotConnected("not connected")
        if channel is not None and not session.is_joined(channel):
            raise NotConnected(f"not in {channel}")
        lines = session.message_lines(target, text, notice=notice)
        if not lines:
            return
        entry = Entry(lines, asyncio.get_running_loop().create_future(), channel)
        by_echo = {"echo-message", "labeled-response"} <= session.caps
        await self.confirmations.deliver(
            self.outgoing,
            entry,
            priority=priority,
            target=target,
            key=session.lower(target),
            ping_line=session.ping_line,
            confirm_within=self.settings.confirm_timeout if confirm else None,
            by_echo=by_echo,
        )

    async def sync(self, within: float) -> bool:
        """A PING round trip: every line the server sent before its PONG has been handled."""
        session = self.session
        if session is None or self._writer is None:
            return False
        return await self.confirmations.round_trip(self.outgoing, self._writer, session.ping_line, within)

    def queue_text(self, target: str, text: str, *, notice: bool, priority: Priority) -> bool:
        """Queue a reply without waiting for it. False when not connected or too much is queued."""
        session = self.session
        if session is None or not self.connected:
            return False
        if self.outgoing.count(priority) >= MAX_QUEUED_REPLIES:
            log.warning("irc %s: reply queue full; not answering %s", self.name, target)
            return False
        try:
            lines = session.message_lines(target, text, notice=notice)
        except ValueError as exc:
            log.warning("irc %s: cannot send to %r: %s", self.name, target, exc)
            return False
        if lines:
            self.outgoing.push(Entry(lines, None), priority)
        return True

    # -- the connection loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        streak = 0
        while not self._stopping.is_set():
            try:
                reason = await self._connect_once()
            except Exception as exc:  # a bug must not end reconnecting for good
                log.exception("irc %s: unexpected error in the connection", self.name)
                reason = f"unexpected error: {describe_error(exc)}"
            if self._stopping.is_set():
                break
            since = self.stats.connected_since
            if since is not None and self.clock() - since >= 60.0:
                streak = 0  # it worked for a while: start the backoff afresh
            streak += 1
            self.stats.failure_streak = streak
            self.stats.last_error = reason
            delay = backoff(streak, initial=self.settings.reconnect_initial, cap=self.settings.reconnect_max)
            where = f"{self.settings.host}:{self.settings.port}"
            if streak == 1:  # the message says what follows: later failures at debug level
                level = logging.ERROR if self.fatal_error else logging.WARNING
                log.log(
                    level,
                    "irc %s (%s): %s — reconnecting in %.0f s (further failures are logged at debug level "
                    "until it recovers)",
                    self.name,
                    where,
                    reason,
                    delay,
                )
            else:
                log.debug("irc %s (%s): still failing (%d in a row): %s", self.name, where, streak, reason)
            self.stats.connected_since = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _connect_once(self) -> str:
        """One connection, from TCP connect to close. Returns why it ended."""
        settings = self.settings
        try:
            context = ssl_context(settings) if settings.tls else None
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    settings.host,
                    settings.port,
                    ssl=context,
                    server_hostname=settings.host if context else None,
                    limit=MAX_BUFFER,
                ),
                settings.connect_timeout,
            )
        except TimeoutError:
            return f"cannot connect: no answer within {settings.connect_timeout:g} s"
        except (OSError, ssl.SSLError, ValueError) as exc:
            return f"cannot connect: {describe_error(exc)}"
        self.stats.connects += 1
        session = IrcSession(self.session_config)
        self.session = session
        self._writer = writer
        self._close_reason = ""
        self._closed.clear()
        self.confirmations.new_connection()
        self.seen = OwnLines(session.lower)
        self.fatal_error = None
        self._apply_all(session.start(self.clock()))
        tasks = [
            asyncio.create_task(self._read_loop(reader), name=f"irc:{self.name}:read"),
            asyncio.create_task(self.outgoing.run(writer, self._may_write_to), name=f"irc:{self.name}:write"),
            asyncio.create_task(self._tick_loop(), name=f"irc:{self.name}:tick"),
            asyncio.create_task(self._closed.wait(), name=f"irc:{self.name}:closed"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # every task's outcome is collected here, so nothing is left "never retrieved"
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    self._close_reason = self._close_reason or f"connection lost: {describe_error(result)}"
            reason = self._close_reason or "connection closed by the server"
            self._teardown(writer, reason)
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
        return reason

    def _teardown(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self._closed.set()
        was_joined = self.session.joined if self.session else []
        self._writer = None
        writer.close()
        error = NotConnected(f"disconnected: {reason}")
        self.outgoing.fail_all(error)
        self.confirmations.fail_all(error)
        self._state_changed.set()
        for channel in was_joined:
            self._guard(self.listener.on_left, channel, f"disconnected: {reason}")
        self._guard(self.listener.on_disconnected, reason)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        buffer = LineBuffer()
        while True:
            data = await reader.read(65536)
            if not data:
                self._close_reason = self._close_reason or "connection closed by the server"
                return
            buffer.feed(data)
            for line in buffer:
                self._receive(line)
                if self._closed.is_set():
                    return
            if len(buffer) > MAX_BUFFER:
                self._close_reason = f"the server sent a line longer than {MAX_BUFFER} bytes"
                return

    def _may_write_to(self, channel: str) -> bool:
        session = self.session
        return session is not None and session.is_joined(channel)

    def _receive(self, line: str) -> None:
        session = self.session
        if session is None:
            return
        if log.isEnabledFor(logging.DEBUG):  # users' escape codes never reach the log raw
            log.debug("irc %s <- %s", self.name, sanitize(line))
        try:
            actions = session.receive(line, self.clock())
        except Exception:
            log.exception(
                "irc %s: error handling a line from the server (ignored): %r", self.name, line[:300]
            )
            return
        self._apply_all(actions)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            session = self.session
            if session is None:
                return
            try:
                actions = session.tick(self.clock())
            except Exception:
                log.exception("irc %s: error in a timer (ignored)", self.name)
                continue
            self._apply_all(actions)

    # -- actions from the session ----------------------------------------------------------------

    def _apply_all(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._apply(action)
            except Exception:
                log.exception("irc %s: error handling %r (ignored)", self.name, type(action).__name__)

    def _apply(self, action: Action) -> None:
        name = self.name
        if isinstance(action, Send):
            if action.priority is None:
                registered = self.session is not None and self.session.registered
                self.outgoing.write_now(self._writer, action.line, paced=registered)
            else:
                self.outgoing.push(Entry([action.line], None), action.priority)
        elif isinstance(action, Registered):
            self.stats.connected_since = self.clock()
            self.outgoing.bucket.reset(self.clock())
            if self.stats.failure_streak:
                log.info(
                    "irc %s: connected again after %d failed attempt(s)", name, self.stats.failure_streak
                )
            self.stats.failure_streak = 0
            log.info("irc %s: registered as %s", name, action.nick)
            self._state_changed.set()
            self.listener.on_registered(action.nick)
        elif isinstance(action, LoggedIn):
            log.info("irc %s: logged in as account %s", name, action.account)
        elif isinstance(action, AuthFailed):
            if action.fatal:
                self.fatal_error = action.reason
            level = logging.ERROR if action.fatal else logging.WARNING
            if self.stats.failure_streak:  # already said, with "further failures … at debug level"
                level = logging.DEBUG
            log.log(level, "irc %s: %s", name, action.reason)
            self._state_changed.set()
            self.listener.on_auth_failed(action.reason, action.fatal)
        elif isinstance(action, Joined):
            log.info("irc %s: joined %s", name, action.channel)
            self._state_changed.set()
            self.listener.on_joined(action.channel)
        elif isinstance(action, Left):
            log.warning("irc %s: left %s: %s", name, action.channel, action.reason)
            self._state_changed.set()
            self.listener.on_left(action.channel, action.reason)
        elif isinstance(action, Incoming):
            self.listener.on_incoming(action)
        elif isinstance(action, CtcpQuery):
            answer = self.ctcp.answer(
                action.nick, action.command, action.arg, now=self.clock(), wall=time.time()
            )
            if answer is not None:
                self.outgoing.push(Entry([answer], None), Priority.REPLY)
        elif isinstance(action, SendPossible):
            log.info("irc %s: %s may be written to again (%s)", name, action.channel, action.reason)
            self._notify("on_send_possible", action.channel, action.reason)
        elif isinstance(action, OwnMessage):
            if action.label is not None:
                self.confirmations.pong(action.label)  # the echo confirms the delivery
            else:
                self.seen.add(action.target, action.text)
        elif isinstance(action, Pong):
            self.confirmations.pong(action.token)
        elif isinstance(action, SendRefused):
            key = self.session.lower(action.target) if self.session else action.target.lower()
            self.confirmations.refused(key, action.reason)
            if action.label is not None:
                self.confirmations.pong(action.label)  # answered: refused
            log.warning("irc %s: the server refused a message to %s: %s", name, action.target, action.reason)
            self._notify("on_send_refused", action.target, action.reason)
        elif isinstance(action, Close):
            self._close_reason = action.reason
            self._closed.set()
        elif isinstance(action, Log):
            log.log(action.level, "irc %s: %s", name, action.message, exc_info=action.error)

    def _notify(self, hook: str, *args: object) -> None:
        """Call an optional listener hook."""
        callback = getattr(self.listener, hook, None)
        if callback is not None:
            self._guard(callback, *args)

    def _guard(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("irc %s: error in %s (ignored)", self.name, getattr(callback, "__name__", callback))
