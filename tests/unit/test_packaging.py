"""Packaging: the wheel and sdist carry templates/ and the demo data; an installed bot (not editable, in a
fresh venv, run from an unrelated folder) runs `demo` and `check-config`; templates load through
importlib.resources with the operator's folder still first; where an installed bot looks for its
config and keeps its state (bot/paths.py)."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

import pytest

from bot.errors import RenderError
from bot.paths import STATE_FILE, find_config, state_path
from bot.render import DEFAULT_TEMPLATE_DIR, Renderer

REPO = Path(__file__).resolve().parents[2]
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


# -- the real thing: sdist → wheel → fresh venv → run from elsewhere -------------------------------
