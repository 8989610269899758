"""Issue 9, item 4 end to end: a server that answers 304 to an unconditional request, on two polls in a
row, then 200 with the whole history. Each 304 poll is a recorded failure that baselines nothing; the
200 is the baseline: 0 announcements (was 146 for Flatcar stable)."""

from __future__ import annotations

import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.httpserver import LocalHTTPServer
from tests.integration.faults.test_reproductions import REPO, flatcar, mbox_ids, once, serve_stable

pytestmark = pytest.mark.integration
NEW = "2025-03-20-3e9fd11f"


def status(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(path), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_304_first_polls_record_failures_and_baseline_nothing(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    path = flatcar(tmp_path, http_server)

    def not_modified(h: BaseHTTPRequestHandler) -> None:
        h.send_response(304)
        h.end_headers()

    http_server.set_handler("/flatcar/releases-stable.json", not_modified)
    for streak in (1, 2):
        result = once(path)
        assert result.returncode == 1, result.stderr  # a failed source
        assert "sent no validator" in result.stderr
        assert "baseline recorded" not in result.stderr
        assert f"{streak} failure(s) in a row" in status(path)
    # no validator was stored from the 304s: the next request is unconditional again
    assert all(
        "If-None-Match" not in r.headers for r in http_server.requests_to("/flatcar/releases-stable.json")
    )
    serve_stable(http_server, NEW)
    third = once(path)
    assert third.returncode == 0, third.stderr
    assert "baseline recorded for releases-stable.json" in third.stderr
    assert mbox_ids(tmp_path / "out.mbox") == []
    assert "released" not in third.stdout
    assert "failure(s) in a row" not in status(path)
