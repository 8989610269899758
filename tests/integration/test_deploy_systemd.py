"""The tests of tests/unit/test_deploy.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.helpers import require_or_skip
from tests.unit.test_deploy import UNIT, _butane, _unit_lines

#: `systemd-analyze security` ratings, best first; "OK" is the worst one accepted (exposure ≤ 4.9).
GOOD_RATINGS = ("PERFECT", "SAFE", "OK")


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        require_or_skip("systemd-analyze is missing (Debian package: systemd)")
    assert tool is not None
    return tool


def _verify(unit: Path, *, unit_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if unit_path is not None:
        env["SYSTEMD_UNIT_PATH"] = f"{unit_path}:"  # the trailing ':' keeps the default search path
    return subprocess.run(
        [_systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, env=env, timeout=60
    )


def _with_executable(text: str, old: str, new: str) -> str:
    """The unit with its executable path replaced: `verify` checks that ExecStart's binary exists."""
    assert old in text
    return text.replace(old, new)


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "release-bot.service"
    text = UNIT.read_text(encoding="utf-8")
    unit.write_text(_with_executable(text, "/usr/local/bin/release-bot", "/bin/true"), encoding="utf-8")
    result = _verify(unit)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_unit_with_a_mistake_fails_verify(tmp_path: Path) -> None:
    """The verify check above can fail: a bad value is reported on stderr (verify still exits 0 for it,
    hence the empty-stderr assertion above)."""
    unit = tmp_path / "release-bot.service"
    text = _with_executable(UNIT.read_text(encoding="utf-8"), "/usr/local/bin/release-bot", "/bin/true")
    unit.write_text(text.replace("ProtectSystem=strict", "ProtectSystem=strcit"), encoding="utf-8")
    result = _verify(unit)
    assert "release-bot.service:" in result.stderr and "strcit" in result.stderr


def _exposure(unit: Path) -> tuple[float, str, str]:
    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", result.stdout)
    assert found, f"no overall rating in:\n{result.stdout}\n{result.stderr}"
    return float(found.group(1)), found.group(2), result.stdout


def test_unit_rates_ok_or_better_on_systemd_analyze_security(tmp_path: Path) -> None:
    unit = tmp_path / "release-bot.service"
    unit.write_text(UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    level, rating, output = _exposure(unit)
    assert rating in GOOD_RATINGS and level <= 4.9, output


def test_security_rating_sees_a_weak_unit(tmp_path: Path) -> None:
    """The parser reads real ratings: a unit without hardening rates worse than OK."""
    unit = tmp_path / "plain.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
    level, rating, _ = _exposure(unit)
    assert rating not in GOOD_RATINGS and level > 4.9


def test_butane_unit_runs_the_container_and_passes_verify(tmp_path: Path) -> None:
    unit = {u["name"]: u for u in _butane()["systemd"]["units"]}["release-bot.service"]
    text = unit["contents"]
    keys = _unit_lines(text)
    run = keys["ExecStart"][0]
    assert run.startswith("/usr/bin/docker run")
    assert "--env-file /etc/release-bot/release-bot.env" in run
    assert "--volume /etc/release-bot:/etc/release-bot:ro" in run
    assert "--volume /var/lib/release-bot:/var/lib/release-bot" in run
    assert "--cap-drop ALL" in run and "--read-only" in run
    # systemd-analyze checks that executables and required units exist: Flatcar has /usr/bin/docker and
    # docker.service; here a stand-in for both
    (tmp_path / "docker.service").write_text(
        "[Unit]\nDescription=stand-in for Flatcar's docker.service\n[Service]\nExecStart=/bin/true\n",
        encoding="utf-8",
    )
    path = tmp_path / "release-bot.service"
    path.write_text(_with_executable(text, "/usr/bin/docker", "/bin/true"), encoding="utf-8")
    result = _verify(path, unit_path=tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
