"""The tests of tests/unit/test_poll_plan.py that need a server, a subprocess or a socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.httpserver import LocalHTTPServer


@pytest.mark.integration
def test_preview_of_an_unreadable_source_is_an_error_naming_it(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    from tests.integration.test_pipeline import cli
    from tests.integration.test_pipeline import write_config as write_served_config

    config = write_served_config(tmp_path, http_server)  # nothing served: every document answers 404
    result = cli(config, "preview", "flatcar")
    assert result.returncode == 2
    assert "release-bot: error: source 'flatcar'" in result.stderr and "404" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state.sqlite3").exists()
