"""The tests of tests/unit/test_health.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import cli, serve, write_config


@pytest.mark.integration
def test_status_check_exit_codes(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, http_server, extra="health_failing_intervals = 1")
    no_state = cli(config, "status", "--check")
    assert no_state.returncode == 2 and no_state.stdout.startswith("unusable\n  no state yet at ")

    serve(http_server, SNAPSHOTS[1])
    assert cli(config, "once").returncode == 0
    healthy = cli(config, "status", "--check")
    assert (healthy.returncode, healthy.stdout) == (0, "healthy\n")

    # the source fails from now on; with no success after, every further failed poll counts
    state = tmp_path / "state.sqlite3"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fresh_config = fresh / "config.toml"
    fresh_config.write_text(config.read_text().replace("/flatcar/", "/gone/"))
    assert cli(fresh_config, "once").returncode == 1
    assert cli(fresh_config, "status", "--check").returncode == 0  # one failure: within the limit
    assert cli(fresh_config, "once").returncode == 1
    degraded = cli(fresh_config, "status", "--check")
    assert degraded.returncode == 1, degraded.stdout
    assert degraded.stdout.startswith("degraded\n  source flatcar: never fetched successfully, 2 failures")
    assert "HTTP 404" in degraded.stdout
    assert state.exists()

    data = json.loads(cli(fresh_config, "status", "--json").stdout)
    assert data["health"]["state"] == "degraded" and data["health"]["code"] == 1
    assert data["sources"][0]["name"] == "flatcar" and data["sources"][0]["error_streak"] == 2
    assert {o["name"] for o in data["outputs"]} == {"console", "mbox"}
    text = cli(fresh_config, "status")
    assert text.returncode == 0 and "health: degraded" in text.stdout
