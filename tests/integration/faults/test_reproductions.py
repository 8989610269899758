"""The reproductions of issue 9, through the command line as an operator runs it (`once`, new processes,
real files, a local HTTP server): each failed before the fix."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.helpers import history_bytes
from tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
OLD, NEW = "2025-02-18-56835e81", "2025-03-20-3e9fd11f"
CONTROLS = [chr(c) for c in range(32) if chr(c) not in "\n\t"] + ["\x7f", "\x9b", "\u202e"]
HOSTILE = "\x1b[2J\x07\x00\r\n2026-01-01T00:00:00 ERROR   forged\u202eevil\x0304red"


def config(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
        [bot]
        state = "state.sqlite3"
        [http]
        timeout = "10s"
        [[outputs]]
        name = "console"
        kind = "console"
        [[outputs]]
        name = "mbox"
        kind = "mbox"
        path = "out.mbox"
        """)
        + textwrap.dedent(source),
        encoding="utf-8",
    )
    return path


def flatcar(tmp_path: Path, server: LocalHTTPServer) -> Path:
    return config(
        tmp_path,
        f"""
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{server.url("/flatcar/")}"
        channels = ["stable"]
        """,
    )


def once(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(path), "once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def mbox_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def serve_stable(server: LocalHTTPServer, snapshot: str, extra: dict[str, object] | None = None) -> None:
    data = json.loads(history_bytes(snapshot, "stable"))
    data.update(extra or {})
    server.set("/flatcar/releases-stable.json", json.dumps(data).encode(), content_type="application/json")


def test_mbox_is_delivered_after_a_stale_lock(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    path = flatcar(tmp_path, http_server)
    serve_stable(http_server, OLD)
    assert once(path).returncode == 0
    (tmp_path / "out.mbox.lock").touch()  # what a kill inside the old sink's box.lock()/unlock() left
    serve_stable(http_server, NEW)
    result = once(path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    ids = mbox_ids(tmp_path / "out.mbox")
    assert ids and all(".stable." in i for i in ids)
    assert "released" in result.stdout  # the console output went out too


def test_a_304_before_any_validator_baselines_nothing(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    path = flatcar(tmp_path, http_server)

    def not_modified(h: BaseHTTPRequestHandler) -> None:
        h.send_response(304)
        h.end_headers()

    http_server.set_handler("/flatcar/releases-stable.json", not_modified)
    first = once(path)
    assert "sent no validator" in first.stderr
    serve_stable(http_server, NEW)  # the whole history, on the next poll
    second = once(path)
    assert second.returncode == 0, second.stderr
    assert "baseline recorded for releases-stable.json" in second.stderr
    assert mbox_ids(tmp_path / "out.mbox") == []  # 0 announcements (was: the whole history)
    assert "released" not in second.stdout


def test_the_valid_release_is_announced_next_to_a_malformed_one(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    path = flatcar(tmp_path, http_server)
    serve_stable(http_server, OLD)
    assert once(path).returncode == 0
    bad: dict[str, object] = {
        "9999.0.0": {"channel": "stable", "release_date": "next tuesday"},
        "9999.0.1": ["a", "list"],
        "9999.0.2": {"release_date": "2025-03-20 00:00:00 +0000"},
    }
    serve_stable(http_server, NEW, bad)
    result = once(path)
    assert result.returncode == 0, result.stderr
    ids = mbox_ids(tmp_path / "out.mbox")
    assert ids and not any("9999" in i for i in ids)
    for version in bad:
        assert f"entry '{version}' skipped" in result.stderr
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr


def atom(*entries: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<entry><title>{t}</title><id>{i}</id><link rel='alternate' href='https://example.invalid/{i}'/>"
        f"<published>2025-03-2{n}T12:00:00Z</published><content type='text'>{c}</content></entry>"
        for n, (t, i, c) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>'
        f"{body}</feed>"
    ).encode()


def test_no_raw_control_characters_in_logs_console_and_mbox(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    path = config(
        tmp_path,
        f"""
        [[sources]]
        name = "feed"
        kind = "feed"
        project = "Hostile"
        url = "{http_server.url("/feed.atom")}"
        """,
    )
    # XML 1.0 cannot carry most C0 controls raw, but character references and C1/bidi characters get through
    hostile_xml = "&#x1b;[2J&#x7;&#xd;&#xa;2026-01-01T00:00:00 ERROR forged\u202eevil\u0083"
    http_server.set("/feed.atom", atom(("v1", "urn:1", "old")), content_type="application/atom+xml")
    assert once(path).returncode == 0
    http_server.set(
        "/feed.atom",
        atom((f"v2 {hostile_xml}", f"urn:2{hostile_xml}", f"notes {hostile_xml}"), ("v1", "urn:1", "old")),
        content_type="application/atom+xml",
    )
    result = once(path)
    assert result.returncode == 0, result.stderr
    mbox = (tmp_path / "out.mbox").read_text(encoding="utf-8")
    assert "forged" in result.stderr and "forged" in mbox  # the hostile entry was logged and delivered
    for name, text in (("log", result.stderr), ("console", result.stdout), ("mbox", mbox)):
        found = sorted({f"U+{ord(ch):04X}" for ch in text if ch in CONTROLS or ch == "\u0083"})
        assert not found, f"{name}: {found}"
    assert not any(line.startswith("2026-01-01") for line in result.stderr.splitlines())
