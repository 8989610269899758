"""The command line as an operator uses it: new processes, real files, a local HTTP server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import DATA, SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import REPO, cli, mbox_ids, serve, write_config


def test_python_m_bot_and_console_script_agree() -> None:
    a = subprocess.run([sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=True)
    script = Path(sys.executable).with_name("release-bot")
    b = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert a.stdout == b.stdout and a.stdout.startswith("release-bot ")


def test_demo_runs_offline_and_shows_real_announcements(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "baseline recorded" in out
    assert "[Flatcar] 4230 promoted from alpha to beta: 4230.1.0 released 2025-03-20" in out
    assert "[Flatcar] LTS-2023 3510.3.7 released 2025-03-20" in out
    assert "<you> !release stable\n<release-bot> Flatcar stable 4152.2.2 (2025-03-20)" in out
    assert "4 documents unchanged, 0 events" in out
    assert len(mbox_ids(tmp_path / "announcements.mbox")) == 4


def test_query_and_status_read_state(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, http_server)
    assert "no state yet" in cli(config, "query", "!release").stderr
    serve(http_server, SNAPSHOTS[2])
    assert cli(config, "once").returncode == 0
    (reply,) = cli(config, "query", "release", "lts").stdout.splitlines()  # one line, newest first
    assert reply.startswith("Flatcar LTS, newest first: LTS-2024 4081.3.2 (2025-03-20, kernel 6.6.83)")
    assert "| LTS-2023 3510.3.7 (2025-03-20, kernel 5.15.179)" in reply
    status = cli(config, "status").stdout
    assert "source flatcar:" in status and "last error:   none" in status
    assert "output mbox (mbox): 0 queued, 0 delivered, 0 failed permanently" in status


def test_preview_renders_without_touching_state(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, http_server)
    serve(http_server, SNAPSHOTS[1])
    assert cli(config, "once").returncode == 0
    state = tmp_path / "state.sqlite3"
    before = state.read_bytes()
    serve(http_server, SNAPSHOTS[2])
    result = cli(config, "preview", "flatcar")
    assert result.returncode == 0, result.stderr
    assert "# 4 new event(s) since the stored state would be announced" in result.stdout
    assert "## mbox (mbox) — promotion:flatcar/beta/4230.1.0" in result.stdout
    subject = "[Flatcar] beta 4230.1.0 (4230 promoted from alpha): kernel 6.6.83, 69 security fixes"
    assert f"subject: {subject}" in result.stdout
    assert state.read_bytes() == before
    assert not (tmp_path / "out.mbox").exists()
    # and the real poll afterwards still announces them
    assert len(cli(config, "once").stdout.splitlines()) == 4


def test_check_config_catches_a_broken_override_template(tmp_path: Path) -> None:
    (tmp_path / "tpl" / "mail").mkdir(parents=True)
    (tmp_path / "tpl" / "mail" / "release.subject.j2").write_text("{{ project }} {{ versoin }}")
    config = tmp_path / "c.toml"
    config.write_text(
        textwrap.dedent("""\
        [bot]
        templates = "tpl"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        [[outputs]]
        name = "m"
        kind = "mbox"
        path = "m.mbox"
        """)
    )
    result = cli(config, "check-config")
    assert result.returncode == 2
    assert "mail/release.subject.j2" in result.stderr and "versoin" in result.stderr


def test_feed_source_rerendered_feed_announces_only_the_new_release(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    feeds = DATA / "feeds"
    config = tmp_path / "c.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "s.sqlite3"
        [[sources]]
        name = "beta-feed"
        kind = "feed"
        project = "Flatcar"
        stream = "beta"
        url = "{http_server.url("/releases-beta.xml")}"
        [[outputs]]
        name = "console"
        kind = "console"
        """)
    )
    http_server.set_file("/releases-beta.xml", feeds / "history-2025-02-18-releases-beta-trimmed.xml")
    assert cli(config, "once").stdout == ""  # baseline
    # The next snapshot re-rendered every entry (new <updated> times) and added 4230.1.0.
    http_server.set_file("/releases-beta.xml", feeds / "history-2025-03-20-releases-beta-trimmed.xml")
    lines = cli(config, "once").stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[Flatcar] 4230 promoted from alpha to beta: 4230.1.0 released 2025-03-20")
