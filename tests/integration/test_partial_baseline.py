"""Issue 9, item 3: a document that fails on the first poll must not bring false deprecation
announcements later. Replayed with the real history through `once` against a local HTTP server: the
per-channel documents cut from Flatcar's whole `releases.json` (540 releases since 2018,
tests/data/releases-full.json.gz), first without the newest beta and stable releases, then whole.
The partial run's later announcements must be exactly those of a run whose first poll read every
document."""

from __future__ import annotations

import gzip
import json
import mailbox
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FULL = REPO / "tests" / "data" / "releases-full.json.gz"
FILES = ("alpha", "beta", "stable", "lts")
HELD_BACK = ("beta", "stable")  # the newest release of each comes with the last poll


def _documents(*, whole: bool) -> dict[str, bytes]:
    """releases-<channel>.json as Flatcar serves them, cut from the whole releases.json."""
    data = json.loads(gzip.decompress(FULL.read_bytes()))
    out: dict[str, bytes] = {}
    for channel in FILES:
        mine = {k: v for k, v in data.items() if k[0].isdigit() and v.get("channel") == channel}
        if not whole and channel in HELD_BACK:
            newest = max(mine, key=lambda k: mine[k]["release_date"])
            del mine[newest]
        if channel == "lts":
            mine.update({k: v for k, v in data.items() if k.startswith("current-")})
        out[channel] = json.dumps(mine).encode()
    return out


def _config(tmp_path: Path, server: LocalHTTPServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [http]
        timeout = "20s"
        retry_initial = "10s"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{server.url("/flatcar/")}"
        channels = ["alpha", "beta", "stable", "lts"]
                [[outputs]]
        name = "mbox"
        kind = "mbox"
        path = "out.mbox"
        """),
        encoding="utf-8",
    )
    return path


def _serve(server: LocalHTTPServer, *, whole: bool, failing: str | None = None) -> None:
    documents = _documents(whole=whole)
    for name in FILES:
        path = f"/flatcar/releases-{name}.json"
        if name == failing:

            def error(h: BaseHTTPRequestHandler) -> None:
                h.send_response(500)
                h.send_header("Content-Length", "0")
                h.end_headers()

            server.set_handler(path, error)
        else:
            server.set(path, documents[name], content_type="application/json")


def _once(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(path), "once"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )


def _ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def _replay(http_server: LocalHTTPServer, folder: Path, *, failing: str | None) -> list[str]:
    folder.mkdir()
    path = _config(folder, http_server)
    _serve(http_server, whole=False, failing=failing)
    first = _once(path)
    assert first.returncode == (1 if failing else 0), first.stderr
    if failing:
        _serve(http_server, whole=False)  # the document answers again: baselined on this later poll
        second = _once(path)
        assert second.returncode == 0, second.stderr
        assert f"baseline recorded for releases-{failing}.json" in second.stderr
    assert _ids(folder / "out.mbox") == []  # baselines announce nothing
    _serve(http_server, whole=True)
    last = _once(path)
    assert last.returncode == 0, last.stderr
    return _ids(folder / "out.mbox")


@pytest.mark.parametrize("failing", ["alpha", "beta"])
def test_a_document_failing_on_the_first_poll_brings_no_false_deprecations(
    http_server: LocalHTTPServer, tmp_path: Path, failing: str
) -> None:
    control = _replay(http_server, tmp_path / "control", failing=None)
    partial = _replay(http_server, tmp_path / "partial", failing=failing)
    assert sum(not i.startswith("<deprecation.") for i in control) == len(HELD_BACK)  # the new releases
    false = sorted(set(partial) - set(control))
    assert false == [], f"{len(false)} announcements the complete run did not make: {false[:5]}"
    assert sorted(partial) == sorted(control)
