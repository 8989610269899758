"""The HTTP server's limits, over a real socket: slow or oversized requests are cut off, only GET and
HEAD are answered, the server stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.app import Bot
from bot.config import HttpServerConfig, parse_config
from bot.web.server import WebServer

pytestmark = pytest.mark.integration


def _bot(tmp_path: Path) -> Bot:
    data = {
        "bot": {"state": str(tmp_path / "state.sqlite3")},
        "sources": [{"name": "flatcar", "kind": "flatcar"}],
        "outputs": [{"name": "console", "kind": "console"}],
    }
    return Bot(parse_config(data, path=tmp_path / "config.toml"))


async def _exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), timeout=wait)
    finally:
        writer.close()


def test_slow_oversized_and_writing_requests_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        bot = _bot(tmp_path)
        settings = HttpServerConfig(port=0, header_timeout=1.0, max_request_bytes=2048)
        server = WebServer(bot, settings)
        await server.start()
        assert server.port and server.url == f"http://127.0.0.1:{server.port}/"
        port = server.port
        try:
            # a client that never finishes its headers is dropped after header_timeout
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            start = time.monotonic()
            rest = await asyncio.wait_for(reader.read(), timeout=10)
            assert rest == b"" and 0.5 < time.monotonic() - start < 5
            writer.close()

            # an idle keep-alive connection too
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            first = await asyncio.wait_for(reader.readuntil(b"ok\n"), timeout=5)
            assert first.startswith(b"HTTP/1.1 200")
            start = time.monotonic()
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""
            assert time.monotonic() - start < 5
            writer.close()

            # an oversized header line
            big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
            answer = await _exchange(port, big)
            assert answer.split(b" ")[1] in (b"400", b"431"), answer[:80]

            # writing methods: 405, JSON, nothing done
            post = await _exchange(
                port, b"POST /api/v1/releases HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            )
            assert post.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in post and b"read-only" in post

            # HEAD: the headers of GET, no body
            head = await _exchange(port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")

            # an unknown path: a JSON 404
            missing = await _exchange(port, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert missing.startswith(b"HTTP/1.1 404") and b'"message": "not found: \'/nope\'"' in missing
        finally:
            await server.stop()
            await bot.aclose()
        with pytest.raises(OSError):
            await _exchange(port, b"GET / HTTP/1.1\r\n\r\n")  # stopped: nothing listens any more

    asyncio.run(main())
    assert not [
        r for r in caplog.records if r.levelno >= logging.WARNING
    ]  # a client's bad request is not logged
