"""deploy/: the systemd unit passes `systemd-analyze verify` and rates "OK" or better on
`systemd-analyze security`; the Butane config for Flatcar is valid YAML of the right variant, its unit
verifies and its config.toml passes check-config; the Containerfile keeps its promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main as cli_main
from tests.helpers import require_or_skip

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "release-bot.service"
BUTANE = DEPLOY / "flatcar" / "release-bot.bu"
CONTAINERFILE = REPO / "Containerfile"

#: `systemd-analyze security` ratings, best first; "OK" is the worst one accepted (exposure ≤ 4.9).
GOOD_RATINGS = ("PERFECT", "SAFE", "OK")


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        require_or_skip("systemd-analyze is missing (Debian package: systemd)")
    assert tool is not None
    return tool


def _unit_lines(text: str) -> dict[str, list[str]]:
    """`Key=value` assignments of a unit file by key (continuation lines joined)."""
    out: dict[str, list[str]] = {}
    logical = re.sub(r"\\\n\s*", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


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


# -- the systemd unit ------------------------------------------------------------------------------


def test_unit_declares_notify_watchdog_dirs_secrets_and_hardening() -> None:
    keys = _unit_lines(UNIT.read_text(encoding="utf-8"))
    assert keys["Type"] == ["notify"]
    assert keys["WatchdogSec"] and keys["WatchdogSec"][0] not in ("0", "infinity")
    assert keys["DynamicUser"] == ["yes"]
    assert keys["StateDirectory"] == ["release-bot"]
    assert keys["ConfigurationDirectory"] == ["release-bot"]
    assert keys["EnvironmentFile"] == ["-/etc/release-bot/release-bot.env"]
    assert keys["ExecStart"][0].endswith("release-bot run")
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
    }.items():
        assert value in keys[key], f"{key}={value} missing"


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


# -- Flatcar: the Butane config --------------------------------------------------------------------


def _butane() -> dict[str, Any]:
    data = yaml.safe_load(BUTANE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _butane_file(data: dict[str, Any], path: str) -> dict[str, Any]:
    files = {f["path"]: f for f in data["storage"]["files"]}
    return files[path]


def test_butane_is_a_flatcar_config_with_config_and_private_secrets() -> None:
    data = _butane()
    assert data["variant"] == "flatcar"
    assert re.fullmatch(r"1\.[01]\.0", data["version"])
    assert set(data) <= {"variant", "version", "storage", "systemd", "passwd", "ignition", "kernel_arguments"}
    env = _butane_file(data, "/etc/release-bot/release-bot.env")
    assert env["mode"] == 0o600
    assert _butane_file(data, "/etc/release-bot/config.toml")["mode"] == 0o644
    state = {d["path"]: d for d in data["storage"]["directories"]}["/var/lib/release-bot"]
    assert state["mode"] == 0o700 and state["user"]["id"] == 10001  # the Containerfile's user
    units = {u["name"]: u for u in data["systemd"]["units"]}
    assert units["release-bot.service"]["enabled"] is True


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


def test_butane_config_toml_passes_check_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "etc" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        _butane_file(_butane(), "/etc/release-bot/config.toml")["contents"]["inline"], encoding="utf-8"
    )
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert cli_main(["-c", str(config), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "OK (1 source(s), 1 output(s))" in out


# -- the Containerfile -----------------------------------------------------------------------------


def test_containerfile_is_multi_stage_non_root_with_volume_and_healthcheck() -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    instructions = [
        line.split(None, 1) for line in re.sub(r"\\\n", " ", text).splitlines() if line and line[0] != "#"
    ]
    by_name: dict[str, list[str]] = {}
    for name, *rest in instructions:
        by_name.setdefault(name.upper(), []).append(rest[0] if rest else "")
    assert len(by_name["FROM"]) == 2 and " AS build" in by_name["FROM"][0]
    assert by_name["USER"] == ["release-bot"]
    assert by_name["VOLUME"] == ['["/var/lib/release-bot"]']
    assert "release-bot" in by_name["HEALTHCHECK"][0] and '"status", "--check"' in by_name["HEALTHCHECK"][0]
    assert "COPY --from=build /opt/release-bot /opt/release-bot" in text
    assert "STATE_DIRECTORY=/var/lib/release-bot" in text
    assert "RELEASE_BOT_CONFIG=/etc/release-bot/config.toml" in text
