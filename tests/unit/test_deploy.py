"""deploy/: the systemd unit passes `systemd-analyze verify` and rates "OK" or better on
`systemd-analyze security`; the Butane config for Flatcar is valid YAML of the right variant, its unit
verifies and its config.toml passes check-config; the Containerfile keeps its promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main as cli_main

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "release-bot.service"
BUTANE = DEPLOY / "flatcar" / "release-bot.bu"
CONTAINERFILE = REPO / "Containerfile"


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


# -- Flatcar: the Butane config --------------------------------------------------------------------


def _butane() -> dict[str, Any]:
    data = yaml.safe_load(BUTANE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _butane_file(data: dict[str, Any], path: str) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {f["path"]: f for f in data["storage"]["files"]}
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
