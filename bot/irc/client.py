"""The asyncio side of IRC: one network connection kept alive. It moves bytes, sleeps and keeps time;
every protocol decision is made by the pure `bot.irc.protocol.IrcSession`.

What comes from the `irc` package (20.5) and what is replaced, and why:

- used: its line parsing and event vocabulary — `irc.client.ServerConnection._process_line` (the
  RFC 1459 regular expression, `irc.message.Arguments` and `Tag`, `irc.events` names such as
  "welcome"/"nicknameinuse"/"saslsuccess", CTCP dequoting, `irc.features.FeatureSet` for ISUPPORT),
  wrapped by `bot.irc.protocol._Parser`; `irc.client.NickMask`; and the lenient line buffer it depends
  on, `jaraco.stream.buffer.LenientDecodingLineBuffer` (UTF-8, else latin-1: one latin-1 line from the
  server is read, not fatal).
- replaced: `irc.client_aio.AioReactor`/`AioConnection`. Measured on 20.5.0 they have no SASL,
  `reconnect()` and `set_keepalive()` raise AttributeError (no scheduler on the asyncio reactor),
  `set_rate_limit()` is `jaraco.functools.Throttler`, which sleeps and blocks the event loop, incoming
  lines are decoded strictly (a latin-1 line raises out of `data_received` and drops the connection),
  an exception in any handler propagates into the protocol and drops the connection, a bare CR (or
  NUL) in an outgoing message is not rejected, `connect()` sends NICK/USER before any CAP LS, and
  writes go to `transport.write` with no way to await them. Here: asyncio streams (`drain()` tells
  when a line has left for the socket), TLS with certificate verification, a CA file and a client
  certificate, the non-blocking token bucket of `bot.irc.flood` with a priority queue, reconnect with
  exponential backoff and jitter, keepalive by PING timeout (in the session), every line and every
  action guarded, and `format_line` refusing CR/LF/NUL.

A message is "delivered" (`send_text(confirm=True)`) only when its lines were written and drained
*and* the server answered a PING sent right after them: the server handles lines in order, so the
PONG proves it processed the PRIVMSG (and did not refuse it: a 404/401 before the PONG fails the
delivery). A disconnect fails everything still queued; the outbox keeps it for the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.irc.flood import Priority, SendQueue, TokenBucket
from bot.irc.lines import redact
from bot.irc.parse import LineBuffer
from bot.irc.protocol import (
    Action,
    AuthFailed,
    Close,
    Incoming,
    Joined,
    Left,
    Log,
    LoggedIn,
    Pong,
    Registered,
    Send,
    SendRefused,
    SessionConfig,
)
from bot.irc.session import IrcSession

log = logging.getLogger("release-bot.irc")

MAX_BUFFER = 64 * 1024  # an incoming line longer than this (no newline) ends the connection
MAX_QUEUED_REPLIES = 200


class NotConnected(ConnectionError):
    """The connection is down, or the channel is not joined."""


class Refused(ConnectionError):
    """The server refused to deliver (404 cannot send to channel …)."""


@dataclass(frozen=True)
class ConnectSettings:
    host: str
    port: int
    tls: bool = True
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    connect_timeout: float = 30.0
    reconnect_initial: float = 5.0
    reconnect_max: float = 300.0
    flood_burst: int = 4
    flood_interval: float = 2.0
    confirm_timeout: float = 60.0


class ClientListener(Protocol):
    """What the client tells its owner (the IRC sink). Called on the event loop; must not block."""

    def on_registered(self, nick: str) -> None: ...
    def on_joined(self, channel: str) -> None: ...
    def on_left(self, channel: str, reason: str) -> None: ...
    def on_incoming(self, message: Incoming) -> None: ...
    def on_auth_failed(self, reason: str, fatal: bool) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...


@dataclass
class _Entry:
    lines: list[str]
    future: asyncio.Future[None] | None
    channel: str | None = None  # written only while this channel is joined
    confirm: str | None = None  # a PING written right after the last line, without waiting for a token


@dataclass
class _Stats:
    connects: int = 0
    connected_since: float | None = None
    last_error: str | None = None
    failure_streak: int = 0
    lines_sent: int = 0


def ssl_context(settings: ConnectSettings) -> ssl.SSLContext:
    """Certificate and host name verified against the system CAs, or `ca_file` when given."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.client_cert:
        key = str(settings.client_key) if settings.client_key else None
        context.load_cert_chain(str(settings.client_cert), key)
    return context


def backoff(
    streak: int, *, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with ±20 % jitter: initial, 2×initial, 4×initial … capped at `maximum`."""
    base = min(initial * 2.0 ** max(streak - 1, 0), maximum)
    return min(base * (0.8 + 0.4 * rng()), maximum)


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
        self.stats = _Stats()
        self._bucket = TokenBucket(burst=settings.flood_burst, interval=settings.flood_interval, now=clock())
        self._queue: SendQueue[_Entry] = SendQueue()
        self._queue_changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._pongs: dict[str, asyncio.Future[None]] = {}
        self._refusals: dict[str, list[str]] = {}
        self._tokens = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closed = asyncio.Event()  # the current connection ended
        self._close_reason = ""
        self._state_changed = asyncio.Event()
        self.fatal_error: str | None = None

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
        if writer is not None and session is not None and not writer.is_closing():
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
        return self._queue.count(priority)

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
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[None] | None = None
        ping: str | None = None
        token = f"rb-{next(self._tokens)}"
        key = session.lower(target)
        refusals_before = len(self._refusals.get(key, []))
        if confirm:
            pong = self._pongs[token] = loop.create_future()
            ping = session.ping_line(token)
        written: asyncio.Future[None] = loop.create_future()
        self._push(_Entry(lines, written, channel, ping), priority)
        try:
            await written
            if pong is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(pong), self.settings.confirm_timeout)
                except TimeoutError:
                    raise NotConnected(
                        f"the server did not confirm within {self.settings.confirm_timeout:g} s"
                    ) from None
        finally:
            self._pongs.pop(token, None)
            for future in (written, pong):
                # nobody else awaits these: cancel what is pending (the caller went away), and mark
                # an exception as seen so that asyncio does not report it as "never retrieved"
                if future is not None and not future.done():
                    future.cancel()
                elif future is not None and not future.cancelled():
                    future.exception()
        refused = self._refusals.get(key, [])[refusals_before:]
        if refused:
            raise Refused(f"{target}: {refused[-1]}")

    def queue_text(self, target: str, text: str, *, notice: bool, priority: Priority) -> bool:
        """Queue a reply without waiting for it. False when not connected or too much is queued."""
        session = self.session
        if session is None or not self.connected:
            return False
        if self._queue.count(priority) >= MAX_QUEUED_REPLIES:
            log.warning("irc %s: reply queue full; not answering %s", self.name, target)
            return False
        try:
            lines = session.message_lines(target, text, notice=notice)
        except ValueError as exc:
            log.warning("irc %s: cannot send to %r: %s", self.name, target, exc)
            return False
        if lines:
            self._push(_Entry(lines, None), priority)
        return True

    def _push(self, entry: _Entry, priority: Priority) -> None:
        self._queue.push(entry, priority)
        self._queue_changed.set()

    # -- the connection loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        streak = 0
        while not self._stopping.is_set():
            try:
                reason = await self._connect_once()
            except Exception as exc:  # a bug must not end reconnecting for good
                log.exception("irc %s: unexpected error in the connection", self.name)
                reason = f"unexpected error: {_describe(exc)}"
            if self._stopping.is_set():
                break
            since = self.stats.connected_since
            if since is not None and self.clock() - since >= 60.0:
                streak = 0  # it worked for a while: start the backoff afresh
            streak += 1
            self.stats.failure_streak = streak
            self.stats.last_error = reason
            delay = backoff(
                streak, initial=self.settings.reconnect_initial, maximum=self.settings.reconnect_max
            )
            where = f"{self.settings.host}:{self.settings.port}"
            if streak == 1 or self.fatal_error:
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
            return f"cannot connect: {_describe(exc)}"
        self.stats.connects += 1
        session = IrcSession(self.session_config)
        self.session = session
        self._writer = writer
        self._close_reason = ""
        self._closed.clear()
        self._refusals.clear()
        self.fatal_error = None
        self._apply_all(session.start(self.clock()))
        tasks = [
            asyncio.create_task(self._read_loop(reader), name=f"irc:{self.name}:read"),
            asyncio.create_task(self._write_loop(writer), name=f"irc:{self.name}:write"),
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
                    self._close_reason = self._close_reason or f"connection lost: {_describe(result)}"
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
        for entry in self._queue.clear():
            if entry.future is not None and not entry.future.done():
                entry.future.set_exception(error)
        for waiter in self._pongs.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pongs.clear()
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

    def _receive(self, line: str) -> None:
        session = self.session
        if session is None:
            return
        log.debug("irc %s <- %s", self.name, line)
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

    async def _write_loop(self, writer: asyncio.StreamWriter) -> None:
        """One line at a time, each after a flood token: a reply that arrives while a multi-line
        announcement waits for tokens goes out before the announcement's next line."""
        while True:
            while not self._queue:
                self._queue_changed.clear()
                await self._queue_changed.wait()
            await self._token()
            if not self._queue:
                self._bucket.refund(self.clock())
                continue
            priority, seq, entry = self._queue.pop_entry()
            session = self.session
            if entry.channel is not None and (session is None or not session.is_joined(entry.channel)):
                self._bucket.refund(self.clock())
                if entry.future is not None and not entry.future.done():
                    entry.future.set_exception(NotConnected(f"not in {entry.channel}"))
                continue
            # The entry is out of the queue now, so `_teardown` cannot fail it: whatever goes wrong
            # from here on (a write error, the cancellation that ends the connection) must.
            try:
                await self._write(writer, entry.lines.pop(0))
                if not entry.lines and entry.confirm is not None:
                    # The confirming PING follows at once, so no kill or disconnect can fall between the
                    # server relaying the message and answering the PING (it spends a free token, never
                    # waits for one: the pace people see is that of the messages).
                    await self._write(writer, entry.confirm)
                    self._bucket.spend(self.clock())
            except BaseException as exc:
                if entry.future is not None and not entry.future.done():
                    entry.future.set_exception(NotConnected(f"write failed: {_describe(exc)}"))
                raise
            if entry.lines:
                self._queue.push_back(priority, seq, entry)
                continue
            if entry.future is not None and not entry.future.done():
                entry.future.set_result(None)

    async def _token(self) -> None:
        """Wait for the token bucket (without blocking the loop) and spend a token."""
        delay = self._bucket.wait(self.clock())
        if delay > 0:
            await asyncio.sleep(delay + 0.001)
        self._bucket.spend(self.clock())

    async def _write(self, writer: asyncio.StreamWriter, line: str) -> None:
        if writer.is_closing():
            raise NotConnected("connection closing")
        log.debug("irc %s -> %s", self.name, redact(line))
        writer.write(line.encode("utf-8") + b"\r\n")
        self.stats.lines_sent += 1
        await writer.drain()

    def _write_now(self, line: str) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        log.debug("irc %s -> %s", self.name, redact(line))
        writer.write(line.encode("utf-8") + b"\r\n")
        self.stats.lines_sent += 1
        if self.session is not None and self.session.registered:
            self._bucket.spend(self.clock())

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
                self._write_now(action.line)
            else:
                self._push(_Entry([action.line], None), action.priority)
        elif isinstance(action, Registered):
            self.stats.connected_since = self.clock()
            self._bucket.reset(self.clock())
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
            log.log(logging.ERROR if action.fatal else logging.WARNING, "irc %s: %s", name, action.reason)
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
        elif isinstance(action, Pong):
            waiter = self._pongs.pop(action.token, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif isinstance(action, SendRefused):
            key = self.session.lower(action.target) if self.session else action.target.lower()
            self._refusals.setdefault(key, []).append(action.reason)
            log.warning("irc %s: the server refused a message to %s: %s", name, action.target, action.reason)
        elif isinstance(action, Close):
            self._close_reason = action.reason
            self._closed.set()
        elif isinstance(action, Log):
            log.log(action.level, "irc %s: %s", name, action.message, exc_info=action.error)

    def _guard(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("irc %s: error in %s (ignored)", self.name, getattr(callback, "__name__", callback))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    text = str(exc) or type(exc).__name__
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
