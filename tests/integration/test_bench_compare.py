"""The side-by-side benchmark (bench/compare.py) runs at a tiny N so it cannot rot: both tools (or
release-bot alone where rss2email is not installed, see `make bench-venv`) deliver exactly the
expected mails. Its figures are printed, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
R2E = ROOT / ".bench-venv" / "bin" / "r2e"


def test_compare_runs_every_step_and_counts_match(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "compare.py"), "--feeds", "5", "--runs", "1"]
    argv += ["--json", str(tmp_path / "figures.json")]
    if not R2E.exists():
        argv.append("--no-rss2email")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout
    for row in ("first run", "all unchanged", "10 % changed", "every entry new", "inside a running `Bot`"):
        assert row in table
    assert "250 / " in table  # 5 feeds × 50 new entries reached the sink
    assert "PROBLEM" not in table
    import json

    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [p["mails"] for p in figures["burst"]["release-bot"]] == [250]
    assert figures["in_process"]["changed_mails"] == [1]
    if R2E.exists():
        assert [p["mails"] for p in figures["burst"]["rss2email"]] == [250]
