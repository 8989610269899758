"""The command line's surface: global options after the verb, every verb's --help, check-config's
effective config, the demo's clean-up, and the log lines (zone, JSON, journal, one per failure)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import REPO, cli, serve, write_config

VERBS = (
    "run",
    "once",
    "check-config",
    "preview",
    "query",
    "status",
    "retry",
    "demo",
    "send-test-mail",
    "digest",
)
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def test_global_options_before_or_after_the_verb() -> None:
    parser = build_parser()
    for argv in (
        ["-c", "x.toml", "--log-level", "debug", "status"],
        ["status", "-c", "x.toml", "--log-level", "debug"],
        ["--log-level", "debug", "status", "--config", "x.toml"],
    ):
        args = parser.parse_args(argv)
        assert (args.config, args.log_level, args.verb) == ("x.toml", "debug", "status"), argv
    args = parser.parse_args(["status"])
    assert (args.config, args.log_level) == (None, None)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_purpose_and_example(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    purpose = out.split("\n\n")[1]
    assert purpose.strip() and "usage" not in purpose
    assert f"example:\n  release-bot {verb}" in out or "example:\n  release-bot -c" in out, out
    assert "-c FILE, --config FILE" in out  # global options are listed (and accepted) after the verb


def test_query_help_explains_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    out = capsys.readouterr().out
    assert "COMMAND" in out and "'!release stable'" in out and "'!deprecations'" in out


def write_simple(tmp_path: Path, extra: str = "", outputs: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent("""\
        [bot]
        state = "s.sqlite3"
        """)
        + textwrap.dedent(extra)
        + textwrap.dedent("""
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "http://127.0.0.1:1/"
        [[outputs]]
        name = "console"
        kind = "console"
        """)
        + textwrap.dedent(outputs)
    )
    return config


def test_check_config_prints_the_effective_config_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RB_TEST_PASSWORD", raising=False)
    config = write_simple(
        tmp_path,
        outputs="""
        [[outputs]]
        name = "list"
        kind = "mail"
        host = "127.0.0.1"
        tls = "none"
        from = "bot@example.org"
        to = "list@example.org"
        username = "bot"
        password_env = "RB_TEST_PASSWORD"
        """,
    )
    assert main(["check-config", "-c", str(config)]) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out.split("secrets masked):\n", 1)[1])
    assert shown["deliver_interval"] == 10.0 and shown["http"]["timeout"] == 30.0  # defaults filled in
    assert shown["log_format"] == "text" and shown["health_failing_intervals"] == 3
    assert shown["sources"][0]["channels"] == ["alpha", "beta", "stable", "lts"]
    assert shown["outputs"][1]["mail"]["password_env"] == "RB_TEST_PASSWORD (NOT SET)"
    assert (
        "outputs[1].mail.password_env = RB_TEST_PASSWORD: the environment variable is not set" in captured.err
    )
    monkeypatch.setenv("RB_TEST_PASSWORD", "hunter2")
    assert main(["check-config", "-c", str(config)]) == 0
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out and "RB_TEST_PASSWORD (set)" in captured.out
    assert "not set" not in captured.err


def test_check_config_fails_on_a_missing_templates_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_simple(tmp_path, extra='templates = "my-templates"\n')
    assert main(["-c", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: bot.templates: folder not found: {tmp_path / 'my-templates'}" in err


@pytest.mark.integration
def test_once_says_the_cause_once_and_never_retrying(tmp_path: Path) -> None:
    result = cli(write_simple(tmp_path), "once")
    assert result.returncode == 1
    assert "retrying in" not in result.stderr
    warning = next(line for line in result.stderr.splitlines() if "WARNING" in line)
    assert re.match(ISO + " WARNING source flatcar: connection failed: ", warning), warning
    assert warning.count("Connection refused") == 1 and "(4 documents, e.g. http://127.0.0.1:1/" in warning
    assert len(warning) < 250, len(warning)
    summary = next(line for line in result.stderr.splitlines() if line.startswith("flatcar: FAILED"))
    assert summary.count("Connection refused") == 1


@pytest.mark.integration
def test_json_logs(tmp_path: Path) -> None:
    result = cli(write_simple(tmp_path, extra='log_format = "json"\n'), "once")
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records, result.stderr
    warning = next(r for r in records if r["level"] == "warning")
    assert re.fullmatch(ISO, warning["time"]) and warning["logger"] == "release-bot"
    assert warning["message"].startswith("source flatcar: connection failed")


@pytest.mark.integration
def test_under_the_journal_lines_carry_a_priority_and_no_timestamp(tmp_path: Path) -> None:
    read, write = os.pipe()
    st = os.fstat(write)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(write_simple(tmp_path)), "once"],
        stderr=write,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
        cwd=REPO,
    )
    os.close(write)
    with os.fdopen(read) as stream:
        err = stream.read()
    proc.wait(timeout=60)
    warning = next(line for line in err.splitlines() if "WARNING" in line)
    assert warning.startswith("<4>WARNING source flatcar: connection failed"), warning
    assert not re.search(r"\d{4}-\d\d-\d\dT", warning)


@pytest.mark.integration
def test_demo_removes_its_files_and_says_what_next(tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("release-bot-demo-*"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(Path(tempfile.gettempdir()).glob("release-bot-demo-*")) == before
    assert "(removed at the end)" in result.stdout
    assert "4. The chat outputs (Matrix, Discord, Mastodon, Apprise)" in result.stdout
    steps = result.stdout.split("Next steps:\n", 1)[1]
    assert "check-config" in steps and " run`" in steps and "README.md" in steps
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_status_and_query_after_the_verb(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    serve(http_server, SNAPSHOTS[1])
    config = write_config(tmp_path, http_server)
    assert cli(config, "once").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "bot", "query", "!release", "stable", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("Flatcar stable "), result.stderr


@pytest.mark.parametrize("formatter", ["iso", "journal", "json"])
def test_every_log_format_sanitises_untrusted_text(formatter: str) -> None:
    import logging

    from bot.logsetup import IsoFormatter, JournalFormatter, JsonFormatter

    chosen = {"iso": IsoFormatter, "journal": JournalFormatter, "json": JsonFormatter}[formatter]()
    record = logging.LogRecord(
        "release-bot",
        logging.WARNING,
        __file__,
        1,
        "title %s",
        ("\x1b[31mred\r\n2026-01-01 ERROR forged\x00",),
        None,
    )
    line = chosen.format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x00" not in line
    text = json.loads(line)["message"] if formatter == "json" else line
    assert "red" in text and "forged" in text and "\x1b" not in text
