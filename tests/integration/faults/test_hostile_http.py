"""A hostile HTTP server against the fetcher and the parsers (issue 9: "keep the attack in the project").

Each case runs one fetch (+ parse) in a child process (tests/integration/faults/fetch_child.py) and asserts: a
clear one-line error (or a harmless result), the child's peak RSS under `RSS_LIMIT_MB`, and that a
control source fetched afterwards with the same fetcher still works. docs/RELIABILITY.md lists the
cases with their last measured figures (`FAULTS_REPORT=path` writes them as JSON lines).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import history_bytes, require_or_skip
from tests.httpserver import LocalHTTPServer, redirect_to, slow_drip, stop_event

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("fetch_child.py")
REPO = Path(__file__).resolve().parents[3]
RSS_LIMIT_MB = 150
MIB = 1 << 20


def _zeros_gzip(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * MIB
    return b"".join(z.compress(chunk) for _ in range(size // MIB)) + z.flush()


def _zeros_deflate(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    chunk = b"\0" * MIB
    return b"".join(z.compress(chunk) for _ in range(size // MIB)) + z.flush()


def _raw(status: int, headers: dict[str, str], body: bytes = b"") -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        if body:
            h.wfile.write(body)

    return handler


def _endless(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    stop = stop_event(h)
    chunk = b" " * 65536
    try:
        while not stop.is_set():
            h.wfile.write(chunk)
    except OSError:
        pass


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>1.0.0 &xxe;</title><id>urn:1</id><content type="text">&xxe;</content></entry></feed>"""

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
    + b'<entry><title>1.0.0</title><id>urn:1</id><content type="text">&lol9;</content></entry></feed>'
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalHTTPServer]:
    inner = _zeros_gzip(256 * MIB)  # 256 MB of zeros in ~250 KB
    with LocalHTTPServer() as s:
        s.set(
            "/control.json", history_bytes("2025-03-20-3e9fd11f", "stable"), content_type="application/json"
        )
        s.set("/gzip-gzip", gzip.compress(inner), headers={"Content-Encoding": "gzip, gzip"})
        s.set("/gzip-bomb", inner, headers={"Content-Encoding": "gzip"})
        s.set("/deflate-bomb", _zeros_deflate(64 * MIB), headers={"Content-Encoding": "deflate"})
        s.set_handler("/slow-drip", slow_drip(1000, 0.05, chunk=b"{"))
        s.set_handler("/endless", _endless)
        s.set_handler("/loop-a", redirect_to("/loop-b"))
        s.set_handler("/loop-b", redirect_to("/loop-a"))
        s.set_handler("/to-file", redirect_to("file:///etc/passwd"))
        s.set_handler("/to-gopher", redirect_to("gopher://127.0.0.1:70/"))
        s.set("/html", b"<!doctype html><html><body>Sorry</body></html>", content_type="application/json")
        s.set("/bad-utf8", b'{"4230.2.0": {"channel": "st\xff\xfeable"}}', content_type="application/json")
        s.set("/deep", b"[" * 200_000 + b"]" * 200_000, content_type="application/json")
        s.set("/huge-number", b'{"4230.2.0": ' + b"9" * 100_000 + b"}", content_type="application/json")
        s.set("/xxe", XXE, content_type="application/atom+xml")
        s.set("/laughs", LAUGHS, content_type="application/atom+xml")
        s.set_handler("/304-first", _raw(304, {"ETag": '"e"'}))
        s.set("/malformed-record", _malformed_record(), content_type="application/json")
        yield s


def _malformed_record() -> bytes:
    data = json.loads(history_bytes("2025-03-20-3e9fd11f", "stable"))
    data["9999.0.0"] = {"channel": "stable", "release_date": "next tuesday"}
    return json.dumps(data).encode()


# (case, path, parse kind, expected error substring or None for "no error", child options)
CASES: list[tuple[str, str, str | None, str | None, dict[str, Any]]] = [
    ("double gzip bomb", "/gzip-gzip", "json", "more than one content coding", {}),
    ("gzip bomb", "/gzip-bomb", "json", "decoded response body exceeds the max_bytes cap", {}),
    ("deflate bomb", "/deflate-bomb", "json", "decoded response body exceeds the max_bytes cap", {}),
    ("slow drip", "/slow-drip", "json", "timed out after 1s", {"timeout": 1.0}),
    (
        "endless body",
        "/endless",
        "json",
        "exceeds the max_bytes cap of 4194304 bytes",
        {"max_bytes": 4 * MIB},
    ),
    ("redirect loop", "/loop-a", "json", "too many redirects", {}),
    ("redirect to file:", "/to-file", "json", "redirect to unsupported URL 'file:///etc/passwd'", {}),
    ("redirect to gopher:", "/to-gopher", "json", "redirect to unsupported URL", {}),
    ("HTML instead of JSON", "/html", "json", "expected JSON, got an HTML/XML page", {}),
    ("invalid UTF-8", "/bad-utf8", "json", "not valid JSON", {}),
    ("deep nesting", "/deep", "json", "JSON nested too deeply", {}),
    ("huge number", "/huge-number", "json", "not valid JSON", {}),
    ("XXE", "/xxe", "feed", None, {}),
    ("billion laughs", "/laughs", "feed", None, {}),
    ("TLS spoken to a plain-HTTP port", "TLS", "json", "connection failed: TLS error", {}),
    ("304 to an unconditional request", "/304-first", "json", "sent no validator", {}),
    ("malformed record next to valid ones", "/malformed-record", "json", None, {}),
]


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    def limit() -> None:  # an unfixed bomb fails this child, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        preexec_fn=limit,  # setrlimit only: safe with the server threads of this process
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    result["stderr"] = proc.stderr
    return result


@pytest.mark.parametrize(("case", "path", "kind", "expected", "options"), CASES, ids=[c[0] for c in CASES])
def test_hostile_server(
    server: LocalHTTPServer,
    case: str,
    path: str,
    kind: str | None,
    expected: str | None,
    options: dict[str, Any],
) -> None:
    started = time.monotonic()
    url = server.url("/control.json").replace("http:", "https:") if path == "TLS" else server.url(path)
    spec = {"url": url, "control": server.url("/control.json"), "parse": kind, **options}
    result = run_child(spec)
    elapsed = time.monotonic() - started
    error = result["error"]
    assert result["maxrss_mb"] < RSS_LIMIT_MB, result
    if expected is None:
        assert error is None, error
    else:
        assert error is not None and expected in error, error
        assert "\n" not in error and len(error) < 500 and "source 'hostile'" in error
    assert result["control_ok"] is True
    if case == "XXE":
        assert "root:" not in result["text"]
    if case == "billion laughs":
        assert "lol" * 1000 not in result["text"]
    if case == "malformed record next to valid ones":
        assert "entry '9999.0.0' skipped: unrecognised release_date 'next tuesday'" in result["stderr"]
        assert "3815.2.4" in result["text"]  # the valid releases of the same file are read
    report = os.environ.get("FAULTS_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "case": case,
                        "error": error,
                        "maxrss_mb": round(result["maxrss_mb"], 1),
                        "s": round(elapsed, 2),
                    }
                )
                + "\n"
            )


def test_self_signed_certificate_is_refused(tmp_path: Path) -> None:
    """Bad TLS: a server whose certificate no trusted CA signed."""
    import asyncio
    import shutil
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    from bot.errors import FetchError
    from bot.sources.http import HttpFetcher

    if shutil.which("openssl") is None:
        require_or_skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:

        async def go() -> FetchError:
            async with HttpFetcher(user_agent="t", timeout=5.0) as fetcher:
                with pytest.raises(FetchError) as info:
                    await fetcher.fetch(f"https://127.0.0.1:{httpd.server_address[1]}/", source="hostile")
                return info.value

        err = asyncio.run(go())
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "connection failed: TLS error" in str(err) and "CERTIFICATE_VERIFY_FAILED" in str(err)
    assert "\n" not in str(err)
