"""Packaging: the wheel and sdist carry templates/ and the demo data; an installed bot (not editable, in a
fresh venv, run from an unrelated folder) runs `demo` and `check-config`; templates load through
importlib.resources with the operator's folder still first; where an installed bot looks for its
config and keeps its state (bot/paths.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from bot.errors import RenderError
from bot.paths import STATE_FILE, find_config, state_path
from bot.render import DEFAULT_TEMPLATE_DIR, Renderer

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"


def _pyproject() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _template_names(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.j2")}


# -- pyproject -------------------------------------------------------------------------------------


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """The packages are listed (templates/ is mapped in as bot.templates), so a new subpackage must be
    added there or the wheel silently lacks it."""
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    listed = set(setuptools["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "bot").rglob("__init__.py")} | {
        "bot.demo_data"
    }
    folders |= {"bot.templates"} | {f"bot.templates.{p.name}" for p in TEMPLATES.iterdir() if p.is_dir()}
    assert folders <= listed, (
        f"add to [tool.setuptools] packages in pyproject.toml: {sorted(folders - listed)}"
    )
    assert setuptools["package-dir"] == {"bot.templates": "templates"}


def test_license_is_an_spdx_string_and_setuptools_new_enough_for_it() -> None:
    data = _pyproject()
    assert data["project"]["license"] == "Apache-2.0"  # type: ignore[index]
    assert "setuptools>=77" in data["build-system"]["requires"]  # type: ignore[index]


# -- templates through importlib.resources ---------------------------------------------------------


def test_in_the_source_checkout_the_top_level_templates_folder_is_the_default() -> None:
    assert Path(str(DEFAULT_TEMPLATE_DIR)).resolve() == TEMPLATES.resolve()
    assert "irc/promotion.j2" in _template_names(TEMPLATES)


def _zipped_templates(tmp_path: Path) -> zipfile.Path:
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in sorted(_template_names(TEMPLATES)):
            z.write(TEMPLATES / name, f"bot/templates/{name}")
        z.writestr("bot/templates/irc/broken.j2", "{{ 1 / 0 }}")
    return zipfile.Path(archive, "bot/templates/")


def test_templates_load_from_any_importlib_resources_traversable(tmp_path: Path) -> None:
    """A zip is what importlib.resources hands out for a zipped package: no real folder to point at."""
    renderer = Renderer(template_dir=_zipped_templates(tmp_path))
    assert renderer.has("irc/promotion.j2") and renderer.has("mail/digest.txt.j2")
    assert not renderer.has("irc/nope.j2")
    with pytest.raises(RenderError, match=r"template 'irc/broken\.j2', line 1: ZeroDivisionError"):
        renderer.render("irc/broken.j2")
    with pytest.raises(RenderError, match=r"'irc/nope\.j2' not found"):
        renderer.render("irc/nope.j2")


def test_the_operator_folder_still_overrides_packaged_templates(tmp_path: Path) -> None:
    override = tmp_path / "mine"
    (override / "irc").mkdir(parents=True)
    (override / "irc" / "broken.j2").write_text("fixed {{ x }}", encoding="utf-8")
    renderer = Renderer(override_dir=override, template_dir=_zipped_templates(tmp_path))
    assert renderer.render("irc/broken.j2", x=1) == "fixed 1"


# -- bot/paths.py: config discovery and the state default ------------------------------------------


def test_state_default_is_state_directory_under_systemd(tmp_path: Path) -> None:
    conf = tmp_path / "etc"
    systemd = {"STATE_DIRECTORY": "/var/lib/release-bot:/var/lib/other"}
    assert state_path(None, config_dir=conf, env=systemd) == Path("/var/lib/release-bot") / STATE_FILE
    assert state_path("bot.db", config_dir=conf, env=systemd) == Path("/var/lib/release-bot/bot.db")
    assert state_path("/srv/x.db", config_dir=conf, env=systemd) == Path("/srv/x.db")
    # outside systemd: relative to the config file's folder, as before
    assert state_path(None, config_dir=conf, env={}) == conf / "state" / STATE_FILE
    assert state_path("bot.db", config_dir=conf, env={}) == conf / "bot.db"
    assert (
        state_path(None, config_dir=conf, env={"STATE_DIRECTORY": "relative"}) == conf / "state" / STATE_FILE
    )


def test_config_is_found_in_order_and_never_the_example_outside_the_checkout(tmp_path: Path) -> None:
    home, etc, cwd = tmp_path / "home", tmp_path / "etc", tmp_path / "work"
    for d in (home, etc, cwd):
        d.mkdir()
    env = {"HOME": str(home), "CONFIGURATION_DIRECTORY": str(etc)}
    (cwd / "config.example.toml").write_text("", encoding="utf-8")
    nothing = find_config(env, cwd=cwd)
    assert nothing.path is None
    assert str(etc / "config.toml") in nothing.looked and str(cwd / "config.toml") in nothing.looked
    assert str(home / ".config" / "release-bot" / "config.toml") in nothing.looked
    (home / ".config" / "release-bot").mkdir(parents=True)
    (home / ".config" / "release-bot" / "config.toml").write_text("", encoding="utf-8")
    assert find_config(env, cwd=cwd).path == home / ".config" / "release-bot" / "config.toml"
    (cwd / "config.toml").write_text("", encoding="utf-8")
    assert find_config(env, cwd=cwd).path == cwd / "config.toml"
    (etc / "config.toml").write_text("", encoding="utf-8")
    assert find_config(env, cwd=cwd).path == etc / "config.toml"
    assert find_config({**env, "RELEASE_BOT_CONFIG": "/x.toml"}, cwd=cwd).path == Path("/x.toml")


def test_the_checkout_example_is_used_only_in_the_checkout_and_says_so(tmp_path: Path) -> None:
    choice = find_config({"HOME": str(tmp_path)}, cwd=REPO)
    if (REPO / "config.toml").exists():
        pytest.skip("this checkout has its own config.toml")
    assert choice.path == REPO / "config.example.toml" and choice.is_example


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


# -- the real thing: sdist → wheel → fresh venv → run from elsewhere -------------------------------


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
