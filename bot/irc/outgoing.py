"""Lines out of the asyncio client: a priority queue paced by the token bucket of `bot.irc.flood`,
written one line at a time (so a reply that arrives while a multi-line announcement waits for tokens
goes out before the announcement's next line), each write drained. An entry's future says when its
last line (and the PING that confirms it, if any) has left for the socket, or why it failed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.irc.flood import Priority, SendQueue, TokenBucket
from bot.irc.lines import redact
from bot.irc.transport import describe_error

log = logging.getLogger("release-bot.irc")


class NotConnected(ConnectionError):
    """The connection is down, or the channel is not joined."""


class Refused(ConnectionError):
    """The server refused to deliver (404 cannot send to channel …)."""


@dataclass
class Entry:
    lines: list[str]
    future: asyncio.Future[None] | None
    channel: str | None = None  # written only while this channel is joined
    confirm: str | None = None  # a PING written right after the last line, without waiting for a token


class Outgoing:
    def __init__(
        self, *, name: str, burst: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.clock = clock
        self.bucket = TokenBucket(burst=burst, interval=interval, now=clock())
        self.queue: SendQueue[Entry] = SendQueue()
        self.lines_sent = 0
        self._changed = asyncio.Event()

    def push(self, entry: Entry, priority: Priority) -> None:
        self.queue.push(entry, priority)
        self._changed.set()

    def count(self, priority: Priority | None = None) -> int:
        return self.queue.count(priority)

    def fail_all(self, error: BaseException) -> None:
        """Empty the queue, failing every delivery still waiting in it."""
        for entry in self.queue.clear():
            if entry.future is not None and not entry.future.done():
                entry.future.set_exception(error)

    async def run(self, writer: asyncio.StreamWriter, is_joined: Callable[[str], bool]) -> None:
        """Write queued lines until cancelled (the connection ends) or a write fails."""
        while True:
            while not self.queue:
                self._changed.clear()
                await self._changed.wait()
            await self._token()
            if not self.queue:
                self.bucket.refund(self.clock())
                continue
            priority, seq, entry = self.queue.pop_entry()
            if entry.channel is not None and not is_joined(entry.channel):
                self.bucket.refund(self.clock())
                if entry.future is not None and not entry.future.done():
                    entry.future.set_exception(NotConnected(f"not in {entry.channel}"))
                continue
            # The entry is out of the queue now, so `fail_all` cannot fail it: whatever goes wrong
            # from here on (a write error, the cancellation that ends the connection) must.
            try:
                await self.write(writer, entry.lines.pop(0))
                if not entry.lines and entry.confirm is not None:
                    # The confirming PING follows at once, so no kill or disconnect can fall between the
                    # server relaying the message and answering the PING (it spends a free token, never
                    # waits for one: the pace people see is that of the messages).
                    await self.write(writer, entry.confirm)
                    self.bucket.spend(self.clock())
            except BaseException as exc:
                if entry.future is not None and not entry.future.done():
                    entry.future.set_exception(NotConnected(f"write failed: {describe_error(exc)}"))
                raise
            if entry.lines:
                self.queue.push_back(priority, seq, entry)
                continue
            if entry.future is not None and not entry.future.done():
                entry.future.set_result(None)

    async def _token(self) -> None:
        """Wait for the token bucket (without blocking the loop) and spend a token."""
        delay = self.bucket.wait(self.clock())
        if delay > 0:
            await asyncio.sleep(delay + 0.001)
        self.bucket.spend(self.clock())

    async def write(self, writer: asyncio.StreamWriter, line: str) -> None:
        if writer.is_closing():
            raise NotConnected("connection closing")
        log.debug("irc %s -> %s", self.name, redact(line))
        writer.write(line.encode("utf-8") + b"\r\n")
        self.lines_sent += 1
        await writer.drain()

    def write_now(self, writer: asyncio.StreamWriter | None, line: str, *, paced: bool) -> None:
        """Write at once, past the queue (registration, PONG, keepalive). `paced`: spend a token for it
        (once registered, so that the server's flood limit sees it)."""
        if writer is None or writer.is_closing():
            return
        log.debug("irc %s -> %s", self.name, redact(line))
        writer.write(line.encode("utf-8") + b"\r\n")
        self.lines_sent += 1
        if paced:
            self.bucket.spend(self.clock())


class Confirmations:
    """Deliveries waiting for the PONG that confirms them, and what the server refused (404 …), per
    target as the session case-folds it."""

    def __init__(self) -> None:
        self._pongs: dict[str, asyncio.Future[None]] = {}
        self._refusals: dict[str, list[str]] = {}
        self._tokens = itertools.count(1)

    def token(self) -> str:
        return f"rb-{next(self._tokens)}"

    def expect(self, token: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = future
        return future

    def forget(self, token: str) -> None:
        self._pongs.pop(token, None)

    def pong(self, token: str) -> None:
        waiter = self._pongs.pop(token, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def refused(self, key: str, reason: str) -> None:
        self._refusals.setdefault(key, []).append(reason)

    def refusal_count(self, key: str) -> int:
        return len(self._refusals.get(key, []))

    def refusals_since(self, key: str, count: int) -> list[str]:
        return self._refusals.get(key, [])[count:]

    def new_connection(self) -> None:
        self._refusals.clear()

    def fail_all(self, error: BaseException) -> None:
        for waiter in self._pongs.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pongs.clear()

    async def round_trip(
        self, outgoing: Outgoing, writer: asyncio.StreamWriter, ping_line: Callable[[str], str], within: float
    ) -> bool:
        """A PING written now and its PONG within `within` seconds (False if not)."""
        token = self.token()
        pong = self.expect(token)
        outgoing.write_now(writer, ping_line(token), paced=False)
        try:
            await asyncio.wait_for(pong, within)
            return True
        except (TimeoutError, ConnectionError):
            return False
        finally:
            self.forget(token)

    async def deliver(
        self,
        outgoing: Outgoing,
        entry: Entry,
        *,
        priority: Priority,
        target: str,
        key: str,
        ping_line: Callable[[str], str],
        confirm_within: float | None,
        by_echo: bool = False,
    ) -> None:
        """Queue `entry` (its future set) and wait until it is written; with `confirm_within` seconds,
        also until the server answered the PING written right after it. Raises NotConnected, or Refused
        when the server refused a message to `target` (`key` as the session case-folds it) meanwhile.
        `by_echo` (echo-message + labeled-response): the last line carries `@label=<token>` and its
        echo (or the labeled refusal) confirms it, not a PING."""
        timeout = confirm_within
        assert entry.future is not None
        token = self.token()
        before = self.refusal_count(key)
        pong: asyncio.Future[None] | None = None
        if timeout is not None:
            pong = self.expect(token)
            if by_echo:
                entry.lines[-1] = f"@label={token} {entry.lines[-1]}"
            else:
                entry.confirm = ping_line(token)
        outgoing.push(entry, priority)
        try:
            await entry.future
            if pong is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(pong), timeout)
                except TimeoutError:
                    raise NotConnected(f"the server did not confirm within {timeout:g} s") from None
        finally:
            self.forget(token)
            for future in (entry.future, pong):
                # nobody else awaits these: cancel what is pending (the caller went away), and mark
                # an exception as seen so that asyncio does not report it as "never retrieved"
                if future is not None and not future.done():
                    future.cancel()
                elif future is not None and not future.cancelled():
                    future.exception()
        refused = self.refusals_since(key, before)
        if refused:
            raise Refused(f"{target}: {refused[-1]}")
