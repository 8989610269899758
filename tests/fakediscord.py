"""A stand-in for Discord's REST API on 127.0.0.1 — NOT Discord: Discord cannot run here, so this
server implements the documented behaviour the bot relies on, and nothing more:

- Execute Webhook, https://discord.com/developers/docs/resources/webhook#execute-webhook:
  `POST /api/webhooks/{id}/{token}` with JSON; `?wait=true` answers 200 with the message object (a
  snowflake `id`), without it 204; `?thread_id=` posts into that thread; 401 for a wrong token
  (`{"message": "Invalid Webhook Token", "code": 50027}`), 404 for an unknown webhook (10015); 400 with
  code 50006 for an empty message, 50035 for a body over the limits.
- Create Message as a bot account, https://discord.com/developers/docs/resources/message#create-message:
  `POST /api/v10/channels/{channel.id}/messages` with `Authorization: Bot {token}` (401
  `{"message": "401: Unauthorized", "code": 0}` otherwise; 404 Unknown Channel, 10003); the bot needs
  the Send Messages permission (403 Missing Permissions, 50013) and Embed Links for its embeds (without
  it Discord drops them); `nonce` (integer or string, at most 25 characters) with `enforce_nonce`:
  "If true and nonce is present, it will be checked for uniqueness in the past few minutes. If another
  message was created by the same author with the same nonce, that message will be returned and no new
  message will be created." — `nonce_window` is those minutes (Discord does not document the number).
- Get Channel Messages, https://discord.com/developers/docs/resources/message#get-channel-messages:
  `GET /api/v10/channels/{id}/messages?after=&limit=` (limit 1–100, default 50), needs Read Message
  History (403, 50013); Get Current User, https://discord.com/developers/docs/resources/user#get-current-user.
- Snowflakes, https://discord.com/developers/docs/reference#snowflakes: message ids carry the time
  they were made (ms since 2015-01-01 shifted left by 22 bits), so `after=` can be a time.
- Limits, https://discord.com/developers/docs/resources/message#embed-object-embed-limits: content
  2,000 characters, at most 10 embeds, title 256, description 4,096, all embeds' text 6,000.
- Mentions, https://discord.com/developers/docs/resources/message#allowed-mentions-object: without
  `allowed_mentions`, @everyone/@here, <@id> and <@&id> in `content` ping; `{"parse": []}` pings no one.
  Embeds never ping. `pings` records who would have been pinged.
- Rate limits, https://discord.com/developers/docs/topics/rate-limits: a bucket per route and top-level
  resource (this webhook; this channel's messages); each response carries
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
BOT_TOKEN = "fake-bot-token"
BOT_USER_ID = "223344556677889900"
CHANNEL_ID = "9988"
DISCORD_EPOCH_MS = 1_420_070_400_000
_WEBHOOK = re.compile(r"^/api(?:/v\d+)?/webhooks/(\d+)/([^/]+)$")
_CHANNEL = re.compile(r"^/api(?:/v\d+)?/channels/(\d+)/messages$")
_ME = re.compile(r"^/api(?:/v\d+)?/users/@me$")
_MENTION = re.compile(r"@everyone|@here|<@!?\d+>|<@&\d+>")
Answer = tuple[int, dict[str, str], object]


@dataclass
class FakeDiscord:
    #: requests per bucket window and the window in seconds
    bucket_limit: int = 5
    bucket_window: float = 1.0
    #: False: no X-RateLimit-* headers on successful answers, so only a 429 tells the client to wait
    bucket_headers: bool = True
    #: seconds a nonce is remembered ("the past few minutes")
    nonce_window: float = 300.0
    #: the bot's permissions in CHANNEL_ID: "send" (Send Messages), "embed" (Embed Links), "history"
    #: (Read Message History)
    permissions: set[str] = field(default_factory=lambda: {"send", "embed", "history"})
    messages: list[dict[str, Any]] = field(default_factory=list)
    pings: list[str] = field(default_factory=list)
    rate_limited: int = 0
    #: posts answered with the message a nonce had already created
    nonce_hits: int = 0
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    #: (message id, monotonic time stored, monotonic time the answer was written) per message
    timeline: list[tuple[str, float, float]] = field(default_factory=list)
    #: seconds between storing a message and answering (widens the window a crash can fall into)
    answer_delay: float = 0.0
    _buckets: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: (author id, nonce) → (message, monotonic time created)
    _nonces: dict[tuple[str, str], tuple[dict[str, Any], float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_id: int = 0

    def forget(self) -> None:
        """Start afresh: no messages, no remembered nonces (as if another channel and time)."""
        with self._lock:
            self.messages.clear()
            self.timeline.clear()
            self._nonces.clear()

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
        nonce = body.get("nonce")
        if nonce is not None and (not isinstance(nonce, str | int) or len(str(nonce)) > 25):
            return "nonce: Must be 25 or fewer in length."
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

    def snowflake(self) -> str:
        """A new message id: the current time in its top bits, increasing."""
        self._last_id = max(self._last_id + 1, (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        return str(self._last_id)

    def _bucket(self, key: str) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """Count a request in bucket `key`: (status 429 or 0, headers, 429 body)."""
        now = time.monotonic()
        start, used = self._buckets.get(key, (0.0, 0))
        if now - start >= self.bucket_window:
            start, used = now, 0
        reset_after = round(self.bucket_window - (now - start), 3)
        headers = {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Bucket": f"{abs(hash(key)) % 16**8:08x}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        }
        if not self.bucket_headers:  # e.g. a shared limit the bucket headers did not announce
            headers = {}
        if used >= self.bucket_limit:
            self.rate_limited += 1
            self._buckets[key] = (start, used)
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                    "Retry-After": str(max(1, round(reset_after))),
                    "X-RateLimit-Scope": "user",
                }
            )
            limited = {"message": "You are being rate limited.", "retry_after": reset_after, "global": False}
            return 429, headers, limited
        self._buckets[key] = (start, used + 1)
        headers["X-RateLimit-Remaining"] = str(self.bucket_limit - used - 1)
        return 0, headers, None

    def handle(self, handler: BaseHTTPRequestHandler) -> Answer:
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            raw = json.loads(handler.rfile.read(length)) if length else None
        except ValueError:
            raw = None
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        self.requests.append((url.path, query))
        webhook, channel = _WEBHOOK.match(url.path), _CHANNEL.match(url.path)
        if webhook is not None and handler.command == "POST":
            if webhook.group(1) != WEBHOOK_ID:
                return 404, {}, {"message": "Unknown Webhook", "code": 10015}
            if webhook.group(2) != TOKEN:
                return 401, {}, {"message": "Invalid Webhook Token", "code": 50027}
            author = {
                "id": WEBHOOK_ID,
                "username": (raw or {}).get("username") or "Captain Hook",
                "bot": True,
            }
            where = query.get("thread_id", [CHANNEL_ID])[0]
            return self._create(
                f"webhook/{WEBHOOK_ID}", raw, author, where, wait=query.get("wait") == ["true"]
            )
        if channel is None and _ME.match(url.path) is None:
            return 404, {}, {"message": "404: Not Found", "code": 0}
        if handler.headers.get("Authorization") != f"Bot {BOT_TOKEN}":
            return 401, {}, {"message": "401: Unauthorized", "code": 0}
        if channel is None:
            return 200, {}, {"id": BOT_USER_ID, "username": "release-bot", "bot": True}
        if channel.group(1) != CHANNEL_ID:
            return 404, {}, {"message": "Unknown Channel", "code": 10003}
        if handler.command == "GET":
            return self._list(query)
        if handler.command != "POST":
            return 405, {}, {"message": "405: Method Not Allowed", "code": 0}
        if "send" not in self.permissions:
            return 403, {}, {"message": "Missing Permissions", "code": 50013}
        author = {"id": BOT_USER_ID, "username": "release-bot", "bot": True}
        return self._create(f"channel/{CHANNEL_ID}", raw, author, CHANNEL_ID, wait=True)

    def _list(self, query: dict[str, list[str]]) -> Answer:
        if "history" not in self.permissions:
            return 403, {}, {"message": "Missing Permissions", "code": 50013}
        with self._lock:
            status, headers, limited = self._bucket(f"channel/{CHANNEL_ID}/list")
            if status:
                return status, headers, limited
            limit = int(query.get("limit", ["50"])[0])
            if not 1 <= limit <= 100:
                return 400, headers, {"message": "limit: int value should be <= 100 and >= 1", "code": 50035}
            after = int(query.get("after", ["0"])[0])
            here = [m for m in self.messages if m["channel_id"] == CHANNEL_ID and int(m["id"]) > after]
            return 200, headers, [_public(m) for m in reversed(here[:limit])]  # newest first

    def _create(
        self, bucket: str, raw: object, author: dict[str, Any], channel: str, *, wait: bool
    ) -> Answer:
        with self._lock:
            status, headers, limited = self._bucket(bucket)
        if status:
            return status, headers, limited
        if not isinstance(raw, dict):
            return 400, headers, {"message": "The request body contains invalid JSON.", "code": 50109}
        body = dict(raw)
        problem = self.check(body)
        if problem is not None:
            code = 50006 if problem.startswith("Cannot send") else 50035
            return 400, headers, {"message": problem, "code": code}
        if author["id"] == BOT_USER_ID and "embed" not in self.permissions:
            body.pop("embeds", None)  # without Embed Links, the embeds are not shown
        nonce = body.get("nonce")
        with self._lock:
            now = time.monotonic()
            if nonce is not None and body.get("enforce_nonce"):
                seen = self._nonces.get((author["id"], str(nonce)))
                if seen is not None and now - seen[1] <= self.nonce_window:
                    self.nonce_hits += 1
                    return 200, headers, _public(seen[0])
            message = {"id": self.snowflake(), "channel_id": channel, "author": author, **body}
            self.messages.append(message)
            self.pings.extend(self.mentions(body))
            if nonce is not None:
                self._nonces[(author["id"], str(nonce))] = (message, now)
        stored = time.monotonic()
        if self.answer_delay:
            time.sleep(self.answer_delay)
        with self._lock:
            self.timeline.append((message["id"], stored, time.monotonic()))
        if not wait:
            return 204, headers, None
        return 200, headers, _public(message)


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """The message object as Discord answers it (the request's `enforce_nonce` is not part of it)."""
    return {k: v for k, v in message.items() if k not in ("enforce_nonce", "allowed_mentions")}


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

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"


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

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client killed mid-answer (the crash tests) is expected, not an error to print

    server = Server(("127.0.0.1", 0), Handler)
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
