"""A stand-in for Discord's webhook endpoint on 127.0.0.1 — NOT Discord: Discord cannot run here, so
this server implements the documented behaviour the bot relies on, and nothing more:

- Execute Webhook, https://discord.com/developers/docs/resources/webhook#execute-webhook:
  `POST /api/webhooks/{id}/{token}` with JSON; `?wait=true` answers 200 with the message object (a
  snowflake `id`), without it 204; `?thread_id=` posts into that thread; 401 for a wrong token
  (`{"message": "Invalid Webhook Token", "code": 50027}`), 404 for an unknown webhook (10015); 400 with
  code 50006 for an empty message, 50035 for a body over the limits.
- Limits, https://discord.com/developers/docs/resources/message#embed-object-embed-limits: content
  2,000 characters, at most 10 embeds, title 256, description 4,096, all embeds' text 6,000.
- Mentions, https://discord.com/developers/docs/resources/message#allowed-mentions-object: without
  `allowed_mentions`, @everyone/@here, <@id> and <@&id> in `content` ping; `{"parse": []}` pings no one.
  Embeds never ping. `pings` records who would have been pinged.
- Rate limits, https://discord.com/developers/docs/topics/rate-limits: each response carries
  X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket; over the bucket the answer is 429 with
  `{"message": "You are being rate limited.", "retry_after": s, "global": false}` and `Retry-After`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

WEBHOOK_ID = "112233445566778899"
TOKEN = "fake-webhook-token"
_PATH = re.compile(r"^/api/webhooks/(\d+)/([^/]+)$")
_MENTION = re.compile(r"@everyone|@here|<@!?\d+>|<@&\d+>")


@dataclass
class FakeDiscord:
    #: requests per bucket window and the window in seconds
    bucket_limit: int = 5
    bucket_window: float = 1.0
    #: False: no X-RateLimit-* headers on successful answers, so only a 429 tells the client to wait
    bucket_headers: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    pings: list[str] = field(default_factory=list)
    rate_limited: int = 0
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    #: (message id, monotonic time stored, monotonic time the answer was written) per message
    timeline: list[tuple[str, float, float]] = field(default_factory=list)
    #: seconds between storing a message and answering (widens the window a crash can fall into)
    answer_delay: float = 0.0
    _window_start: float = 0.0
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1300000000000000000

    def webhook_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/api/webhooks/{WEBHOOK_ID}/{TOKEN}"

    def check(self, body: dict[str, Any]) -> str | None:
        content = body.get("content") or ""
        embeds = body.get("embeds") or []
        if not content and not embeds:
            return "Cannot send an empty message"
        if len(content) > 2000:
            return "content: Must be 2000 or fewer in length."
        if len(embeds) > 10:
            return "embeds: Must be 10 or fewer in length."
        total = 0
        for embed in embeds:
            title, description = embed.get("title") or "", embed.get("description") or ""
            if len(title) > 256:
                return "embeds.0.title: Must be 256 or fewer in length."
            if len(description) > 4096:
                return "embeds.0.description: Must be 4096 or fewer in length."
            total += len(title) + len(description)
        if total > 6000:
            return "embeds: Embed size exceeds maximum size of 6000"
        return None

    def mentions(self, body: dict[str, Any]) -> list[str]:
        allowed = body.get("allowed_mentions")
        found = _MENTION.findall(body.get("content") or "")
        if allowed is None:
            return found
        parse = allowed.get("parse") or []
        kinds = {"@everyone": "everyone", "@here": "everyone"}
        return [m for m in found if kinds.get(m, "roles" if m.startswith("<@&") else "users") in parse]

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], object]:
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            raw = json.loads(handler.rfile.read(length)) if length else None
        except ValueError:
            raw = None
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        self.requests.append((url.path, query))
        match = _PATH.match(url.path)
        if handler.command != "POST" or match is None or match.group(1) != WEBHOOK_ID:
            return 404, {}, {"message": "Unknown Webhook", "code": 10015}
        if match.group(2) != TOKEN:
            return 401, {}, {"message": "Invalid Webhook Token", "code": 50027}
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.bucket_window:
                self._window_start, self._used = now, 0
            reset_after = round(self.bucket_window - (now - self._window_start), 3)
            headers = {
                "X-RateLimit-Limit": str(self.bucket_limit),
                "X-RateLimit-Bucket": "abcd1234",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            }
            if not self.bucket_headers:  # e.g. a shared limit the bucket headers did not announce
                headers = {}
            if self._used >= self.bucket_limit:
                self.rate_limited += 1
                headers.update(
                    {
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                        "Retry-After": str(max(1, round(reset_after))),
                    }
                )
                headers["X-RateLimit-Scope"] = "user"
                return (
                    429,
                    headers,
                    {"message": "You are being rate limited.", "retry_after": reset_after, "global": False},
                )
            self._used += 1
            headers["X-RateLimit-Remaining"] = str(self.bucket_limit - self._used)
        if raw is None:
            return 400, headers, {"message": "The request body contains invalid JSON.", "code": 50109}
        body = raw
        problem = self.check(body)
        if problem is not None:
            code = 50006 if problem.startswith("Cannot send") else 50035
            return 400, headers, {"message": problem, "code": code}
        with self._lock:
            self._next_id += 1
            message = {"id": str(self._next_id), "channel_id": query.get("thread_id", ["9988"])[0], **body}
            self.messages.append(message)
            self.pings.extend(self.mentions(body))
        stored = time.monotonic()
        if self.answer_delay:
            time.sleep(self.answer_delay)
        with self._lock:
            self.timeline.append((message["id"], stored, time.monotonic()))
        if query.get("wait") != ["true"]:
            return 204, headers, None
        return 200, headers, message


@dataclass
class FakeDiscordServer:
    discord: FakeDiscord
    server: ThreadingHTTPServer

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def webhook_url(self) -> str:
        return self.discord.webhook_url(self.port)


def serve(discord: FakeDiscord) -> FakeDiscordServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, headers, body = discord.handle(self)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return FakeDiscordServer(discord, server)


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscordServer]:
    running = serve(FakeDiscord())
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
