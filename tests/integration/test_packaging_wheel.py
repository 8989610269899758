"""The tests of tests/unit/test_packaging.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.unit.test_packaging import REPO, TEMPLATES, _template_names


def test_cli_names_the_places_it_looked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASE_BOT_CONFIG", "CONFIGURATION_DIRECTORY")}
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if Path("/etc/release-bot/config.toml").exists():
        pytest.skip("this machine has /etc/release-bot/config.toml")
    assert result.returncode == 2
    assert "no config file found" in result.stderr and str(tmp_path / "config.toml") in result.stderr
    assert "Traceback" not in result.stderr


def _clean_copy(dest: Path) -> Path:
    """The files a clean clone would have (tracked and new, not ignored): no .venv, no egg-info."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.integration
def test_sdist_and_wheel_installed_in_a_fresh_venv_run_demo_and_check_config(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to take a clean copy from")
    src = _clean_copy(tmp_path / "src")
    dist, wheels = tmp_path / "dist", tmp_path / "wheels"
    # the sdist, through the PEP 517 backend in its own venv (no `build` dependency needed)
    _run(sys.executable, "-m", "venv", tmp_path / "buildenv", cwd=tmp_path)
    _run(tmp_path / "buildenv/bin/pip", "install", "--quiet", "setuptools>=77", cwd=tmp_path)
    backend = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = (
        _run(tmp_path / "buildenv/bin/python", "-c", backend, dist, cwd=src).stdout.strip().splitlines()[-1]
    )
    with tarfile.open(dist / name) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    assert {"templates/irc/promotion.j2", "templates/mail/digest.txt.j2"} <= members
    assert any(m.startswith("bot/demo_data/2025-03-20-3e9fd11f/") for m in members)

    # the wheel, built from the sdist (so the sdist is complete), plus the dependencies' wheels
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", wheels, dist / name, cwd=tmp_path)
    (wheel,) = wheels.glob("release_bot-*.whl")
    with zipfile.ZipFile(wheel) as z:
        contents = set(z.namelist())
    assert {f"bot/templates/{n}" for n in _template_names(TEMPLATES)} <= contents
    assert "bot/demo_data/2025-02-18-56835e81/releases-stable.json.gz" in contents
    assert {p.relative_to(REPO).as_posix() for p in (REPO / "bot").rglob("*.py")} <= contents

    # a fresh venv, offline, not editable
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(
        venv / "bin/pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        wheels,
        "release-bot",
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASE_BOT_CONFIG", "PYTHONPATH")}
    env["HOME"] = str(elsewhere)
    bot = venv / "bin/release-bot"
    where = _run(
        venv / "bin/python",
        "-c",
        "import bot.render as r; print(r.DEFAULT_TEMPLATE_DIR)",
        cwd=elsewhere,
        env=env,
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    demo = _run(bot, "demo", cwd=elsewhere, env=env)
    assert "rendering failed" not in demo.stdout + demo.stderr
    assert "beta 4230.1.0" in demo.stdout

    shutil.copy(REPO / "config.example.toml", elsewhere / "config.toml")  # what an operator starts from
    check = _run(bot, "check-config", cwd=elsewhere, env=env)
    assert f"# {elsewhere / 'config.toml'}: OK" in check.stdout
