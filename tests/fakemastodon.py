"""A stand-in for a Mastodon instance on 127.0.0.1 — NOT Mastodon: it implements the documented parts
the bot uses, and nothing more:

- https://docs.joinmastodon.org/methods/instance/#v2 — `GET /api/v2/instance` with
  `configuration.statuses.max_characters` and `characters_reserved_per_url`.
- https://docs.joinmastodon.org/methods/statuses/#create — `POST /api/v1/statuses` (form fields
  `status`, `visibility`, `language`), `Authorization: Bearer`; 401 `{"error": "The access token is
  invalid"}`; 422 `{"error": "Validation failed: Text character limit of N exceeded"}` (URLs counted
  as `characters_reserved_per_url`, as Mastodon does); an `Idempotency-Key` seen before answers the
  status it created then, without creating another.
- https://docs.joinmastodon.org/api/rate-limits/ — over `limit` posts per window: 429 `{"error": "Too
  many requests"}` with `X-RateLimit-Limit`, `-Remaining`, `-Reset` (ISO 8601).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

TOKEN = "fake-mastodon-token"
_URL = re.compile(r"https?://\S+")


@dataclass
class FakeMastodon:
    max_characters: int = 500
    url_characters: int = 23
    limit: int = 300
    window: float = 300.0
    statuses: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_limited: int = 0
    _window_start: float = 0.0
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def length(self, text: str) -> int:
        return len(_URL.sub("", text)) + len(_URL.findall(text)) * self.url_characters

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], object]:
        if method == "GET" and path == "/api/v2/instance":
            statuses = {
                "max_characters": self.max_characters,
                "characters_reserved_per_url": self.url_characters,
            }
            return 200, {}, {"domain": "127.0.0.1", "configuration": {"statuses": statuses}}
        if method != "POST" or path != "/api/v1/statuses":
            return 404, {}, {"error": "Record not found"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"error": "The access token is invalid"}
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.window:
                self._window_start, self._used = now, 0
            reset = datetime.now(UTC) + timedelta(seconds=self.window - (now - self._window_start))
            limits = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Reset": reset.isoformat()}
            if self._used >= self.limit:
                self.rate_limited += 1
                return 429, {**limits, "X-RateLimit-Remaining": "0"}, {"error": "Too many requests"}
            self._used += 1
            limits["X-RateLimit-Remaining"] = str(self.limit - self._used)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            key = headers.get("Idempotency-Key")
            if key and key in self.by_key:
                return 200, limits, self.by_key[key]
            text = form.get("status", "")
            if not text:
                return 422, limits, {"error": "Validation failed: Text can't be blank"}
            if self.length(text) > self.max_characters:
                error = f"Validation failed: Text character limit of {self.max_characters} exceeded"
                return 422, limits, {"error": error}
            status = {
                "id": str(110000000000000000 + len(self.statuses)),
                "content": text,
                "visibility": form.get("visibility", "public"),
                "language": form.get("language"),
            }
            self.statuses.append(status)
            if key:
                self.by_key[key] = status
            return 200, limits, status


@dataclass
class FakeMastodonServer:
    mastodon: FakeMastodon
    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodonServer]:
    mastodon = FakeMastodon()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, answer = mastodon.handle(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield FakeMastodonServer(mastodon, server)
    finally:
        server.shutdown()
        server.server_close()
