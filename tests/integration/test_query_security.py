"""The tests of tests/unit/test_commands_security.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.security import SecurityFix, SecurityIndex, cve_answer, security_answer
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import cli, serve, write_config
from tests.unit.test_commands_security import _releases


@pytest.mark.integration
def test_release_bot_query_answers_cve_from_the_state_file(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, http_server)
    serve(http_server, SNAPSHOTS[2])
    assert cli(config, "once").returncode == 0
    releases = _releases()
    expected = cve_answer("CVE-2024-6387", releases)
    assert expected[0].startswith("CVE-2024-6387")
    assert cli(config, "query", "!cve", "CVE-2024-6387").stdout.splitlines() == expected
    assert cli(config, "query", "security", "stable").stdout.splitlines() == security_answer(
        ["stable"], releases
    )
    # the answer comes from the stored column: change it and the answer follows
    stable = max(
        (r for r in releases if r.stream == "stable"), key=lambda r: [int(x) for x in r.version.split(".")]
    )
    fake = SecurityIndex((SecurityFix("zlib", ("CVE-1999-0001",)),)).to_json()
    with sqlite3.connect(tmp_path / "state.sqlite3") as raw:
        raw.execute(
            "UPDATE releases SET security = ? WHERE stream = 'stable' AND version = ?", (fake, stable.version)
        )
    out = cli(config, "query", "!cve", "CVE-1999-0001").stdout
    assert out.startswith(f"CVE-1999-0001 (zlib) is first listed in the notes of stable {stable.version}")
