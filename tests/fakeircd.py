"""A tiny scripted IRC server on 127.0.0.1 (asyncio) for tests of what real servers will not send:
malformed lines, invalid UTF-8, silence (PING timeout), a connection dropped at a chosen moment.

It registers any client (CAP LS answered with an empty list, 001 + 376), echoes JOINs, answers PINGs
(unless told not to), and records every line it receives with a monotonic timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FakeConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    nick: str = ""
    lines: list[tuple[float, str]] = field(default_factory=list)

    def send(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.writer.write(raw + b"\r\n")

    def close(self) -> None:
        self.writer.close()


class FakeIrcd:
    def __init__(self) -> None:
        self.conns: list[FakeConn] = []
        self.lines: list[tuple[float, str]] = []
        self.answer_pings = True
        self.on_line: Callable[[FakeConn, str], None] | None = None
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self.port = 0

    async def start(self, port: int = 0) -> FakeIrcd:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in self.conns:
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def drop_all(self) -> None:
        for conn in self.conns:
            conn.close()

    @property
    def conn(self) -> FakeConn:
        return self.conns[-1]

    async def wait_for(self, predicate: Callable[[str], bool], within: float = 10.0, since: int = 0) -> str:
        deadline = time.monotonic() + within
        index = since
        while True:
            while index < len(self.lines):
                line = self.lines[index][1]
                index += 1
                if predicate(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = "\n".join(line for _, line in self.lines[-15:])
                raise AssertionError(f"no matching line within {within} s; last lines:\n{tail}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConn(reader, writer)
        self.conns.append(conn)
        user_seen = False
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                stamp = (time.monotonic(), line)
                conn.lines.append(stamp)
                self.lines.append(stamp)
                self._changed.set()
                command, _, rest = line.partition(" ")
                if command == "CAP" and rest.startswith("LS"):
                    conn.send(":fake.test CAP * LS :")
                elif command == "NICK":
                    conn.nick = rest.lstrip(":")
                    if user_seen:
                        self._welcome(conn)
                elif command == "USER":
                    user_seen = True
                    if conn.nick:
                        self._welcome(conn)
                elif command == "JOIN":
                    conn.send(f":{conn.nick}!bot@fake.host JOIN {rest.split()[0]}")
                elif command == "PING" and self.answer_pings:
                    conn.send(f":fake.test PONG fake.test :{rest.lstrip(':')}")
                elif command == "QUIT":
                    conn.send("ERROR :Closing link")
                    conn.close()
                    return
                if self.on_line is not None:
                    self.on_line(conn, line)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    @staticmethod
    def _welcome(conn: FakeConn) -> None:
        conn.send(f":fake.test 001 {conn.nick} :Welcome to FakeNet {conn.nick}!bot@fake.host")
        conn.send(f":fake.test 376 {conn.nick} :End of MOTD")
