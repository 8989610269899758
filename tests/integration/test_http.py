"""HttpFetcher against a real local HTTP server: no mocks, no patched client."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import threading
import time
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.errors import FetchError, SourceError
from bot.sources.http import FetchResult, HttpFetcher, Validators
from tests.httpserver import (
    LocalHTTPServer,
    hang,
    redirect_to,
    slow_drip,
    stop_event,
)

T = TypeVar("T")
UA = "release-bot-test/1.0 (+https://example.invalid)"
SOURCE = "flatcar-stable"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fetch(url: str, *, fetcher: dict[str, Any] | None = None, **kwargs: Any) -> FetchResult:
    """One fetch with a fresh HttpFetcher (options in `fetcher`), in its own event loop."""

    async def go() -> FetchResult:
        async with HttpFetcher(user_agent=UA, **(fetcher or {})) as f:
            return await f.fetch(url, source=SOURCE, **kwargs)

    return run(go())


def fetch_error(url: str, *, fetcher: dict[str, Any] | None = None, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, fetcher=fetcher, **kwargs)
    err = info.value
    assert err.source == SOURCE
    assert SOURCE in str(err)
    return err


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# conditional GET -----------------------------------------------------------------------------------


def test_200_then_304_via_etag(http_server: LocalHTTPServer) -> None:
    body = b'{"version": "4081.2.0"}'
    http_server.set("/feed.json", body, content_type="application/json")
    url = http_server.url("/feed.json")

    first = fetch(url)
    assert first.status == 200
    assert first.body == body
    assert not first.not_modified
    assert first.url == url
    assert first.content_type == "application/json"
    assert first.validators.etag is not None
    assert first.validators.body_sha256 == sha(body)
    assert first.elapsed >= 0
    assert "If-None-Match" not in http_server.requests[0].headers

    second = fetch(url, previous=first.validators)
    assert second.status == 304
    assert second.not_modified is True
    assert second.body is None
    assert second.validators == first.validators
    sent = http_server.requests[1].headers
    assert sent["If-None-Match"] == first.validators.etag


def test_last_modified_if_modified_since(http_server: LocalHTTPServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    http_server.set("/index.html", b"<html>v1</html>", etag=False, last_modified=stamp)
    url = http_server.url("/index.html")

    first = fetch(url)
    assert first.validators == Validators(etag=None, last_modified=stamp, body_sha256=sha(b"<html>v1</html>"))

    second = fetch(url, previous=first.validators)
    assert http_server.requests[1].headers["If-Modified-Since"] == stamp
    assert "If-None-Match" not in http_server.requests[1].headers
    assert second.status == 304
    assert second.not_modified and second.body is None
    assert second.validators == first.validators


def test_304_updates_validators_it_carries(http_server: LocalHTTPServer) -> None:
    def not_modified(h: BaseHTTPRequestHandler) -> None:
        h.send_response(304)
        h.send_header("ETag", '"new"')
        h.end_headers()

    http_server.set_handler("/x", not_modified)
    previous = Validators(etag='"old"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT", body_sha256="abc")
    result = fetch(http_server.url("/x"), previous=previous)
    assert result.not_modified and result.body is None and result.status == 304
    assert result.validators == Validators(
        etag='"new"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT", body_sha256="abc"
    )


def test_identical_body_with_changed_etag_is_not_modified_by_hash(
    http_server: LocalHTTPServer,
) -> None:
    body = b"same bytes"
    http_server.set("/doc", body, etag='"v1"')
    first = fetch(http_server.url("/doc"))
    assert first.validators.etag == '"v1"'

    http_server.set("/doc", body, etag='"v2"')  # the server changed its ETag, not the content
    second = fetch(http_server.url("/doc"), previous=first.validators)
    assert http_server.requests[1].headers["If-None-Match"] == '"v1"'
    assert second.status == 200
    assert second.not_modified is True
    assert second.body is None
    assert second.validators == Validators(etag='"v2"', last_modified=None, body_sha256=sha(body))


def test_identical_body_without_etag_is_not_modified_by_hash(
    http_server: LocalHTTPServer,
) -> None:
    http_server.set("/doc", b"plain", etag=False)
    first = fetch(http_server.url("/doc"))
    assert first.validators == Validators(body_sha256=sha(b"plain"))
    second = fetch(http_server.url("/doc"), previous=first.validators)
    assert "If-None-Match" not in http_server.requests[1].headers
    assert second.not_modified and second.body is None
    assert second.validators.body_sha256 == sha(b"plain")


def test_changed_body_is_returned(http_server: LocalHTTPServer) -> None:
    http_server.set("/doc", b"one", etag=False)
    first = fetch(http_server.url("/doc"))
    http_server.set("/doc", b"two", etag=False)
    second = fetch(http_server.url("/doc"), previous=first.validators)
    assert not second.not_modified
    assert second.body == b"two"
    assert second.validators.body_sha256 == sha(b"two")


# statuses and content ------------------------------------------------------------------------------


def test_500_is_a_fetch_error_naming_status_and_source(http_server: LocalHTTPServer) -> None:
    http_server.set("/feed", b"oops", status=500, content_type="text/plain")
    url = http_server.url("/feed")
    err = fetch_error(url)
    assert "HTTP 500 Internal Server Error" in str(err)
    assert err.url == url
    assert url in str(err)
    assert isinstance(err, SourceError) and isinstance(err, ConnectionError)


def test_404_for_unknown_path(http_server: LocalHTTPServer) -> None:
    err = fetch_error(http_server.url("/missing"))
    assert "HTTP 404 Not Found" in str(err)


def test_html_error_page_with_200_is_returned_as_is(http_server: LocalHTTPServer) -> None:
    page = b"<html><body>Maintenance</body></html>"
    http_server.set("/feed.json", page, content_type="text/html; charset=utf-8")
    result = fetch(http_server.url("/feed.json"))
    assert result.status == 200
    assert result.body == page
    assert result.content_type is not None
    assert result.content_type.split(";")[0] == "text/html"


def test_gzip_encoded_body_is_decoded(http_server: LocalHTTPServer) -> None:
    plain = b"release " * 1000
    http_server.set(
        "/gz", gzip.compress(plain), content_type="text/plain", headers={"Content-Encoding": "gzip"}
    )
    result = fetch(http_server.url("/gz"))
    assert result.body == plain
    assert result.validators.body_sha256 == sha(plain)
    assert "gzip" in http_server.requests[0].headers["Accept-Encoding"]


# byte cap ------------------------------------------------------------------------------------------


def test_body_over_cap_with_content_length(http_server: LocalHTTPServer) -> None:
    http_server.set("/big", b"x" * 1000)
    err = fetch_error(http_server.url("/big"), max_bytes=100)
    assert "cap of 100 bytes" in str(err)
    assert "1000 bytes" in str(err)


def test_declared_length_over_cap_fails_before_reading_body(http_server: LocalHTTPServer) -> None:
    # Headers promise 1 GB and then nothing ever arrives: only a Content-Length check can fail fast.
    http_server.set_handler("/huge", hang(send_headers=True, content_length=10**9))
    started = time.monotonic()
    err = fetch_error(http_server.url("/huge"), fetcher={"max_bytes": 1000, "timeout": 5.0})
    assert "cap of 1000 bytes" in str(err)
    assert time.monotonic() - started < 2.0


def test_body_over_cap_without_content_length(http_server: LocalHTTPServer) -> None:
    http_server.set_handler("/stream", slow_drip(50_000, 0, chunk=b"y" * 1000))
    err = fetch_error(http_server.url("/stream"), fetcher={"max_bytes": 4096})
    assert "cap of 4096 bytes" in str(err)
    assert "bytes exceeds" not in str(err)  # no declared size to quote: the running total tripped it


def test_body_exactly_at_cap_is_accepted(http_server: LocalHTTPServer) -> None:
    http_server.set_handler("/stream", slow_drip(100, 0, chunk=b"z" * 10))
    result = fetch(http_server.url("/stream"), max_bytes=100)
    assert result.body == b"z" * 100
    assert "Content-Length" not in http_server.requests[0].headers


# deadline ------------------------------------------------------------------------------------------


def test_slow_drip_hits_the_wall_clock_deadline(http_server: LocalHTTPServer) -> None:
    # One byte every 0.2 s never trips a per-read timeout; only the whole-fetch deadline stops it.
    http_server.set_handler("/drip", slow_drip(100, 0.2))
    started = time.monotonic()
    err = fetch_error(http_server.url("/drip"), timeout=1.0)
    took = time.monotonic() - started
    assert "timed out after 1s" in str(err)
    assert 0.9 <= took < 2.5


def test_server_that_never_answers_times_out(http_server: LocalHTTPServer) -> None:
    http_server.set_handler("/hang", hang())
    started = time.monotonic()
    err = fetch_error(http_server.url("/hang"), fetcher={"timeout": 0.5})
    assert "timed out after 0.5s" in str(err)
    assert time.monotonic() - started < 2.0


# redirects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_relative_redirect_is_followed(http_server: LocalHTTPServer, status: int) -> None:
    http_server.set_handler("/dir/old", redirect_to("new/target", status=status))
    http_server.set("/dir/new/target", b"moved here", content_type="text/plain")
    result = fetch(http_server.url("/dir/old"))
    assert result.status == 200
    assert result.body == b"moved here"
    assert result.url == http_server.url("/dir/new/target")
    assert [r.path for r in http_server.requests] == ["/dir/old", "/dir/new/target"]


def test_absolute_redirect_chain_and_conditional_headers_on_every_hop(
    http_server: LocalHTTPServer,
) -> None:
    http_server.set_handler("/a", redirect_to(http_server.url("/b"), status=301))
    http_server.set_handler("/b", redirect_to("/c", status=307))
    http_server.set("/c", b"final", etag='"c1"')
    result = fetch(http_server.url("/a"), previous=Validators(etag='"c1"'))
    assert result.status == 304 and result.not_modified
    assert result.url == http_server.url("/c")
    assert [r.headers.get("If-None-Match") for r in http_server.requests] == ['"c1"'] * 3


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://ftp.example.com/pub/release.txt"])
def test_redirect_to_other_scheme_is_refused(http_server: LocalHTTPServer, target: str) -> None:
    http_server.set_handler("/r", redirect_to(target))
    err = fetch_error(http_server.url("/r"))
    assert target in str(err)
    assert "redirect" in str(err)
    assert len(http_server.requests) == 1


def test_redirect_loop_fails(http_server: LocalHTTPServer) -> None:
    http_server.set_handler("/ping", redirect_to("/pong"))
    http_server.set_handler("/pong", redirect_to("/ping"))
    err = fetch_error(http_server.url("/ping"), fetcher={"max_redirects": 5})
    assert "too many redirects" in str(err)
    assert len(http_server.requests) == 6  # the original request plus five followed redirects


def test_max_redirects_is_exact(http_server: LocalHTTPServer) -> None:
    http_server.set_handler("/1", redirect_to("/2"))
    http_server.set_handler("/2", redirect_to("/3"))
    http_server.set("/3", b"ok")
    assert fetch(http_server.url("/2"), fetcher={"max_redirects": 1}).body == b"ok"
    err = fetch_error(http_server.url("/1"), fetcher={"max_redirects": 1})
    assert "too many redirects" in str(err)


def test_redirect_without_location_fails(http_server: LocalHTTPServer) -> None:
    def bad(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Content-Length", "0")
        h.end_headers()

    http_server.set_handler("/r", bad)
    err = fetch_error(http_server.url("/r"))
    assert "without a Location" in str(err)


# connection and request shape ----------------------------------------------------------------------


def test_connection_refused_is_a_clear_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = fetch_error(f"http://127.0.0.1:{port}/feed")
    assert "connection failed: [Errno 111] Connection refused" in str(err)
    assert "Traceback" not in str(err)


def test_tls_failure_is_a_clear_fetch_error(http_server: LocalHTTPServer) -> None:
    # Speaking TLS to a plain-HTTP port fails the handshake.
    err = fetch_error(http_server.url("/x").replace("http://", "https://"), fetcher={"timeout": 5.0})
    assert "connection failed: TLS error:" in str(err)


def test_unsupported_scheme_is_refused_without_a_request() -> None:
    err = fetch_error("file:///etc/passwd")
    assert "unsupported URL scheme 'file'" in str(err)


def test_user_agent_and_extra_headers_are_sent(http_server: LocalHTTPServer) -> None:
    http_server.set("/x", b"ok")
    fetch(http_server.url("/x"), headers={"Accept": "application/json"})
    (request,) = http_server.requests
    assert request.method == "GET"
    assert request.headers["user-agent"] == UA
    assert request.headers["Accept"] == "application/json"


def test_concurrency_limit_is_respected(http_server: LocalHTTPServer) -> None:
    lock = threading.Lock()
    counts = {"in_flight": 0, "peak": 0}

    def slow(h: BaseHTTPRequestHandler) -> None:
        with lock:
            counts["in_flight"] += 1
            counts["peak"] = max(counts["peak"], counts["in_flight"])
        stop_event(h).wait(0.15)
        with lock:
            counts["in_flight"] -= 1
        h.send_response(200)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    http_server.set_handler("/slow", slow)

    async def go() -> list[FetchResult]:
        async with HttpFetcher(user_agent=UA, concurrency=2) as f:
            return await asyncio.gather(*(f.fetch(http_server.url("/slow"), source=SOURCE) for _ in range(5)))

    results = run(go())
    assert [r.body for r in results] == [b"ok"] * 5
    assert len(http_server.requests) == 5
    assert counts["peak"] == 2  # never more than two at once, and the two slots were really used


def test_one_fetcher_serves_sequential_fetches_and_closes(http_server: LocalHTTPServer) -> None:
    http_server.set("/a", b"A")
    http_server.set("/b", b"B")

    async def go() -> tuple[bytes | None, bytes | None]:
        f = HttpFetcher(user_agent=UA)
        try:
            a = await f.fetch(http_server.url("/a"), source=SOURCE)
            b = await f.fetch(http_server.url("/b"), source=SOURCE)
        finally:
            await f.aclose()
            await f.aclose()  # idempotent
        return a.body, b.body

    assert run(go()) == (b"A", b"B")


def test_invalid_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        HttpFetcher(user_agent=UA, concurrency=0)
    with pytest.raises(ValueError, match="timeout"):
        HttpFetcher(user_agent=UA, timeout=0)


# the test server itself ----------------------------------------------------------------------------


def test_local_server_basics(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    gz = tmp_path / "releases.json.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}'))
    http_server.set_file("/releases.json", gz)
    result = fetch(http_server.url("/releases.json?x=1"))
    assert result.body == b'{"a": 1}'
    assert result.content_type == "application/json"
    assert http_server.requests_to("/releases.json")[0].path == "/releases.json?x=1"

    http_server.remove("/releases.json")
    assert "404" in str(fetch_error(http_server.url("/releases.json")))

    http_server.clear_requests()
    assert http_server.requests == []
    assert http_server.errors == []


def test_local_server_stops_promptly_with_a_dripping_client() -> None:
    server = LocalHTTPServer()
    server.start()
    server.set_handler("/drip", slow_drip(1000, 1.0))
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(b"GET /drip HTTP/1.0\r\n\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.0 200")
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError):
        _ = server.base_url


def test_credentials_do_not_follow_a_redirect_to_another_host(http_server: LocalHTTPServer) -> None:
    with LocalHTTPServer() as other:
        other.set("/data", b"elsewhere")
        http_server.set("/same", b"here")
        http_server.set_handler("/away", redirect_to(other.url("/data")))
        http_server.set_handler("/stay", redirect_to("/same"))

        async def main() -> None:
            async with HttpFetcher(user_agent=UA) as fetcher:
                secret = {"Authorization": "Bearer SECRET", "Cookie": "c=1"}
                assert (
                    await fetcher.fetch(http_server.url("/away"), source="s", headers=secret)
                ).body == b"elsewhere"
                assert (
                    await fetcher.fetch(http_server.url("/stay"), source="s", headers=secret)
                ).body == b"here"

        run(main())
        assert "Authorization" not in other.requests[0].headers and "Cookie" not in other.requests[0].headers
        assert http_server.requests_to("/same")[0].headers["Authorization"] == "Bearer SECRET"


# content codings: the cap is on decoded bytes, one coding at most (issue 9, item 2) ---------------


def test_stacked_content_codings_are_refused(http_server: LocalHTTPServer) -> None:
    body = gzip.compress(gzip.compress(b"\0" * 1_000_000))
    http_server.set("/gz2", body, headers={"Content-Encoding": "gzip, gzip"})
    err = fetch_error(http_server.url("/gz2"))
    assert "more than one content coding" in str(err)
    assert "\n" not in str(err)


def test_gzip_bomb_is_capped_on_decoded_bytes(http_server: LocalHTTPServer) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)  # ~20 KB on the wire
    http_server.set("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    err = fetch_error(http_server.url("/bomb"), max_bytes=1_000_000)
    assert "decoded response body exceeds the max_bytes cap of 1000000 bytes" in str(err)


@pytest.mark.parametrize("wrap", ["zlib", "raw"])
def test_deflate_is_decoded_and_capped(http_server: LocalHTTPServer, wrap: str) -> None:
    import zlib

    def deflate(data: bytes) -> bytes:
        if wrap == "zlib":
            return zlib.compress(data)
        z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return z.compress(data) + z.flush()

    http_server.set("/d", deflate(b"notes " * 100), headers={"Content-Encoding": "deflate"})
    assert fetch(http_server.url("/d")).body == b"notes " * 100
    http_server.set("/dbomb", deflate(b"\0" * 5_000_000), headers={"Content-Encoding": "deflate"})
    assert "cap of 4096 bytes" in str(fetch_error(http_server.url("/dbomb"), max_bytes=4096))


def test_unknown_or_corrupt_coding_is_a_clear_error(http_server: LocalHTTPServer) -> None:
    http_server.set("/br", b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    assert "unsupported Content-Encoding 'br'" in str(fetch_error(http_server.url("/br")))
    http_server.set("/bad", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert "could not decode the response body: corrupt gzip data" in str(
        fetch_error(http_server.url("/bad"))
    )
    http_server.set(
        "/cut", gzip.compress(bytes(range(256)) * 40 + b"x" * 999)[:-30], headers={"Content-Encoding": "gzip"}
    )
    assert "truncated gzip data" in str(fetch_error(http_server.url("/cut")))


def test_multi_member_gzip_is_decoded(http_server: LocalHTTPServer) -> None:
    http_server.set(
        "/mm", gzip.compress(b"one ") + gzip.compress(b"two"), headers={"Content-Encoding": "gzip"}
    )
    assert fetch(http_server.url("/mm")).body == b"one two"


# 304 to an unconditional request (issue 9, item 4) -------------------------------------------------


def test_304_to_an_unconditional_request_is_a_failure(http_server: LocalHTTPServer) -> None:
    def not_modified(h: BaseHTTPRequestHandler) -> None:
        h.send_response(304)
        h.send_header("ETag", '"x"')
        h.end_headers()

    http_server.set_handler("/f", not_modified)
    err = fetch_error(http_server.url("/f"))
    assert "HTTP 304 Not Modified to a request that sent no validator" in str(err)
    # only a body hash from before (no ETag/Last-Modified was sent): still unconditional
    err = fetch_error(http_server.url("/f"), previous=Validators(body_sha256=sha(b"old")))
    assert "sent no validator" in str(err)
    # a conditional request may get a 304
    assert fetch(http_server.url("/f"), previous=Validators(etag='"x"')).not_modified


# SSRF guard: checked on the resolved address at connect time (issue 9, item 6) --------------------

PUBLIC_IP = "93.184.216.34"  # never contacted: the test backend maps it to a loopback server


class MapBackend:
    """Opens a connection only to 127.0.0.1, or to PUBLIC_IP mapped onto a loopback port; records the
    addresses asked for. Anything else is a test failure: no packet leaves the machine."""

    def __init__(self, port_map: dict[tuple[str, int], int]) -> None:
        self.port_map = port_map
        self.asked: list[tuple[str, int]] = []

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.asked.append((host, port))
        if (host, port) in self.port_map:
            return await asyncio.open_connection("127.0.0.1", self.port_map[host, port])
        assert host == "127.0.0.1", f"test tried to connect to {host}"
        return await asyncio.open_connection(host, port)


def fake_resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def guarded_fetch(url: str, backend: MapBackend, table: dict[str, list[str]], **options: Any) -> Any:
    async def go() -> Any:
        async with HttpFetcher(
            user_agent=UA,
            resolver=fake_resolver(table),
            connector=backend.connect,
            **options,
        ) as f:
            try:
                return await f.fetch(url, source=SOURCE)
            except FetchError as exc:
                return exc

    return run(go())


TABLE = {
    "releases.example": [PUBLIC_IP],
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.1.2.3"],
    "rebind.example": ["192.168.0.7"],
    "mixed.example": ["10.0.0.1", "fd00::1"],
    "localhost.example": ["127.0.0.1"],
    "zero.example": ["0.0.0.0"],
    "mapped.example": ["::ffff:169.254.169.254"],
}


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://metadata.example/latest/meta-data/", "link-local"),
        ("http://mapped.example/", "link-local"),
        ("http://intranet.example/", "private"),
        ("http://mixed.example/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://localhost.example:{port}/secret", "loopback"),
        ("http://127.0.0.1:{port}/secret", "loopback"),
        ("http://zero.example/", "unspecified"),
    ],
)
def test_redirect_from_a_public_url_to_an_internal_address_is_refused(
    http_server: LocalHTTPServer, target: str, kind: str
) -> None:
    http_server.set("/secret", b"internal")
    http_server.set_handler("/feed", redirect_to(target.format(port=http_server.port)))
    backend = MapBackend({(PUBLIC_IP, 80): http_server.port})
    err = guarded_fetch("http://releases.example/feed", backend, TABLE)
    assert isinstance(err, FetchError), err
    assert "redirect to" in str(err) and "refused" in str(err) and f"a {kind} address" in str(err)
    assert http_server.requests_to("/secret") == []
    assert all(host in (PUBLIC_IP,) for host, _ in backend.asked)  # nothing internal was dialled


def test_a_public_url_that_resolves_to_an_internal_address_at_connect_time_is_refused(
    http_server: LocalHTTPServer,
) -> None:
    # the configured name resolves to a public address first, then (DNS rebinding) to a private one
    answers = iter([[PUBLIC_IP], ["192.168.0.7"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    backend = MapBackend({})

    async def go() -> FetchError:
        async with HttpFetcher(user_agent=UA, resolver=rebinding, connector=backend.connect) as f:
            with pytest.raises(FetchError) as info:
                await f.fetch("http://releases.example/feed", source=SOURCE)
            return info.value

    err = run(go())
    assert "a private address" in str(err) and backend.asked == []


def test_redirects_within_the_configured_class_are_followed(http_server: LocalHTTPServer) -> None:
    # a source configured on loopback may be redirected to another loopback port (tests, local mirrors)
    with LocalHTTPServer() as other:
        other.set("/data", b"mirror")
        http_server.set_handler(
            "/feed", redirect_to(other.url("/data").replace("127.0.0.1", "localhost.example"))
        )
        result = guarded_fetch(http_server.url("/feed"), MapBackend({}), TABLE)
        assert not isinstance(result, FetchError), result
        assert result.body == b"mirror"
        # ... but not to link-local
        http_server.set_handler("/meta", redirect_to("http://169.254.169.254/"))
        err = guarded_fetch(http_server.url("/meta"), MapBackend({}), TABLE)
        assert isinstance(err, FetchError) and "a link-local address" in str(err)


def test_public_redirects_are_followed_and_the_override_allows_a_class(http_server: LocalHTTPServer) -> None:
    http_server.set("/data", b"public data")
    http_server.set_handler("/feed", redirect_to("http://releases.example/data"))
    backend = MapBackend({(PUBLIC_IP, 80): http_server.port})
    result = guarded_fetch("http://releases.example/feed", backend, TABLE)
    assert not isinstance(result, FetchError) and result.body == b"public data"
    # allow_address_classes lets an operator opt in, e.g. for an internal mirror behind a redirect
    http_server.set_handler("/to-local", redirect_to(f"http://localhost.example:{http_server.port}/data"))
    result = guarded_fetch(
        "http://releases.example/to-local", backend, TABLE, allow_address_classes=frozenset({"loopback"})
    )
    assert not isinstance(result, FetchError) and result.body == b"public data"


def test_dns_failure_of_the_configured_host_is_a_clear_error() -> None:
    err = guarded_fetch("http://nowhere.example/feed", MapBackend({}), TABLE)
    assert isinstance(err, FetchError)
    assert "connection failed: DNS lookup failed" in str(err)


def test_address_classes() -> None:
    from bot.sources.netguard import address_class

    assert address_class("8.8.8.8") == "public"
    assert address_class("2606:4700::1111") == "public"
    assert address_class("127.0.0.2") == "loopback"
    assert address_class("::1") == "loopback"
    assert address_class("169.254.169.254") == "link-local"
    assert address_class("fe80::1") == "link-local"
    assert address_class("::ffff:10.0.0.1") == "private"
    assert address_class("100.64.0.1") == "private"
    assert address_class("224.0.0.1") == "private"
    assert address_class("0.0.0.0") == "unspecified"
    assert address_class("::") == "unspecified"


# keep-alive: connections are reused, and one the server closed meanwhile is replaced ---------------


class KeepAliveServer:
    """A minimal HTTP/1.1 server on loopback: answers every request with "ok" (Content-Length, no
    `Connection: close`), counts the connections it accepted, and with `close_after` closes each
    connection after that many answers, as a server whose idle timeout expired would."""

    def __init__(self, close_after: int | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.close_after = close_after
        self.accepted = 0
        self.answered = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            buffer, served = b"", 0
            while self.close_after is None or served < self.close_after:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                served += 1
                self.answered += 1  # counted before the answer leaves: the client may check at once
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: "e"\r\n\r\nok')

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.sock.close()


def test_sequential_fetches_reuse_one_connection() -> None:
    server = KeepAliveServer()
    try:

        async def go() -> list[bytes | None]:
            async with HttpFetcher(user_agent=UA) as f:
                return [(await f.fetch(server.url(f"/{i}"), source=SOURCE)).body for i in range(5)]

        assert run(go()) == [b"ok"] * 5
        assert server.accepted == 1
    finally:
        server.close()


@pytest.mark.parametrize("noticed", [True, False], ids=["closed-seen-before-reuse", "closed-seen-on-reuse"])
def test_a_pooled_connection_closed_by_the_server_is_replaced(
    noticed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not noticed:  # the close is found only when the request is sent: sent again on a new connection
        from bot.sources import wire

        monkeypatch.setattr(wire._Conn, "stale", lambda self, now: False)
    server = KeepAliveServer(close_after=1)
    try:

        async def go() -> list[bytes | None]:
            async with HttpFetcher(user_agent=UA) as f:
                first = await f.fetch(server.url("/a"), source=SOURCE)
                await asyncio.sleep(0.05)  # the server has closed it by now
                second = await f.fetch(server.url("/b"), source=SOURCE)
                third = await f.fetch(server.url("/c"), source=SOURCE)  # closed right after the answer
                return [first.body, second.body, third.body]

        assert run(go()) == [b"ok"] * 3
        assert server.answered == 3 and server.accepted == 3
    finally:
        server.close()
