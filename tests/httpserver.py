"""A real HTTP server on 127.0.0.1 for tests: static bodies with ETag/Last-Modified, custom handlers.

Usage::

    from tests.httpserver import LocalHTTPServer, http_server, slow_drip, redirect_to

    def test_x(http_server: LocalHTTPServer) -> None:
        http_server.set("/feed.json", b"{}", content_type="application/json")
        http_server.set_handler("/slow", slow_drip(100, 0.2))
        url = http_server.url("/feed.json")

Custom handlers receive the `BaseHTTPRequestHandler`; they write the whole response themselves
(`send_response`, `send_header`, `end_headers`, `wfile.write`); the request body, already read, is in
`handler.request_body`. Responses are HTTP/1.0, so a body
without Content-Length is delimited by closing the connection. Long-running handlers should wait on
`stop_event(handler)` instead of sleeping, so that `stop()` does not hang.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import pytest

Handler = Callable[[BaseHTTPRequestHandler], None]

__all__ = [
    "Handler",
    "LocalHTTPServer",
    "RecordedRequest",
    "hang",
    "http_server",
    "redirect_to",
    "slow_drip",
    "stop_event",
]


class Headers(dict[str, str]):
    """A dict of request headers whose lookups ignore case (keys are stored lower-cased)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, including any query string
    headers: Headers  # case-insensitive lookups
    body: bytes = b""


@dataclass(frozen=True)
class _Static:
    body: bytes
    content_type: str
    status: int
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None


@dataclass
class _State:
    routes: dict[str, _Static | Handler] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):  # the client went away (e.g. it hit its cap or deadline)
            return
        if exc is not None:
            with self.state.lock:
                self.state.errors.append(exc)
        super().handle_error(request, client_address)


def stop_event(handler: BaseHTTPRequestHandler) -> threading.Event:
    """The event set when the server stops; long-running handlers wait on it instead of sleeping."""
    server = handler.server
    assert isinstance(server, _Server)
    return server.state.stop


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",")]
    bare = etag.removeprefix("W/")
    return "*" in candidates or any(c.removeprefix("W/") == bare for c in candidates)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    request_body: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.request_body = body  # custom handlers read it here (e.g. a GraphQL query)
        recorded = RecordedRequest(self.command, self.path, Headers(list(self.headers.items())), body)
        with state.lock:
            state.requests.append(recorded)
            route = state.routes.get(self.path)
            if route is None:
                route = state.routes.get(urlsplit(self.path).path)
        if route is None:
            self._send(404, b"not found\n", "text/plain", {})
        elif isinstance(route, _Static):
            self._serve_static(route)
        else:
            route(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str]) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _serve_static(self, route: _Static) -> None:
        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        if route.last_modified is not None:
            headers["Last-Modified"] = route.last_modified
        if 200 <= route.status < 300 and self._not_modified(route):
            self.send_response(304)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        self._send(route.status, route.body, route.content_type, headers)

    def _not_modified(self, route: _Static) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
            return route.etag is not None and _etag_matches(if_none_match, route.etag)
        if_modified_since = self.headers.get("If-Modified-Since")
        return if_modified_since is not None and if_modified_since == route.last_modified


class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1 with an ephemeral port. Use as a context manager."""

    def __init__(self) -> None:
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Serve on `port` (0: an ephemeral one; a port used before: the server is back where it was)."""
        if self._server is not None:
            return
        self._state.stop.clear()
        server = _Server(("127.0.0.1", port), _RequestHandler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="LocalHTTPServer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        self._state.stop.set()  # releases slow-drip / hanging handlers
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # addresses -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    # routes --------------------------------------------------------------------------------------

    def set(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        status: int = 200,
        headers: dict[str, str] | None = None,
        etag: bool | str = True,
        last_modified: str | None = None,
    ) -> None:
        """Serve `body` at `path` (for every method; HEAD gets no body).

        etag=True sends an ETag derived from the body's sha256 and honours If-None-Match with a 304;
        a string is used as the ETag verbatim (quote it yourself); False sends none.
        last_modified is sent as Last-Modified and an identical If-Modified-Since gets a 304.
        """
        tag: str | None
        if etag is True:
            tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        elif etag is False:
            tag = None
        else:
            tag = etag
        route = _Static(body, content_type, status, dict(headers or {}), tag, last_modified)
        with self._state.lock:
            self._state.routes[path] = route

    def set_file(
        self, path: str, file_path: str | Path, content_type: str | None = None, **kwargs: Any
    ) -> None:
        """Serve a file's bytes; a name ending in .gz is decompressed first. kwargs go to `set`."""
        file_path = Path(file_path)
        data = file_path.read_bytes()
        name = file_path.name
        if name.endswith(".gz"):
            data = gzip.decompress(data)
            name = name[: -len(".gz")]
        if content_type is None:
            content_type = _guess_type(name)
        self.set(path, data, content_type=content_type, **kwargs)

    def set_handler(self, path: str, fn: Handler) -> None:
        """Let `fn(handler)` write the whole response for requests to `path`."""
        with self._state.lock:
            self._state.routes[path] = fn

    def remove(self, path: str) -> None:
        with self._state.lock:
            self._state.routes.pop(path, None)

    # inspection ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path or urlsplit(r.path).path == path]

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by handlers (other than the client disconnecting)."""
        with self._state.lock:
            return list(self._state.errors)


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


# handler factories -------------------------------------------------------------------------------


def slow_drip(
    total_bytes: int,
    delay: float,
    *,
    chunk: bytes = b"x",
    status: int = 200,
    content_type: str = "application/octet-stream",
    content_length: bool = False,
) -> Handler:
    """Send `total_bytes` bytes as repeated `chunk`s, pausing `delay` seconds before each one.

    Without content_length (the default) the body is delimited by closing the connection, so the
    client cannot know the size in advance. delay=0 makes a fast stream of unknown length.
    """

    def handler(h: BaseHTTPRequestHandler) -> None:
        stop = stop_event(h)
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        if content_length:
            h.send_header("Content-Length", str(total_bytes))
        h.end_headers()
        h.wfile.flush()
        sent = 0
        while sent < total_bytes:
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            piece = chunk[: total_bytes - sent]
            h.wfile.write(piece)
            h.wfile.flush()
            sent += len(piece)

    return handler


def reply(
    h: BaseHTTPRequestHandler,
    body: bytes,
    *,
    content_type: str = "application/octet-stream",
    status: int = 200,
) -> None:
    """From a handler (`set_handler`): a whole response with `body` and its Content-Length."""
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def redirect_to(location: str, status: int = 302) -> Handler:
    """Answer with a redirect to `location` (sent verbatim, so it may be relative)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


def hang(*, send_headers: bool = False, content_length: int | None = None) -> Handler:
    """Never finish: optionally send a 200 status and headers first, then wait until the server stops."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        if send_headers:
            h.send_response(200)
            if content_length is not None:
                h.send_header("Content-Length", str(content_length))
            h.end_headers()
            h.wfile.flush()
        stop_event(h).wait()

    return handler


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A running LocalHTTPServer, stopped after the test."""
    with LocalHTTPServer() as server:
        yield server
