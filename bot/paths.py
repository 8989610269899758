"""Where the bot finds its config file and keeps its state, with and without systemd.

Under systemd the unit's `StateDirectory=` and `ConfigurationDirectory=` arrive as the environment
variables STATE_DIRECTORY and CONFIGURATION_DIRECTORY (absolute paths; several joined by ':' when the
unit names several, the first is ours). Elsewhere relative paths resolve against the config file's
folder, as they always did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_STATE",
    "STATE_FILE",
    "ConfigChoice",
    "config_candidates",
    "data_base",
    "find_config",
    "source_checkout",
    "state_path",
    "systemd_directory",
]

#: The state database's name inside $STATE_DIRECTORY.
STATE_FILE = "release-bot.sqlite3"
#: `bot.state` when unset and not under systemd, relative to the config file's folder.
DEFAULT_STATE = "state/" + STATE_FILE
#: The config file's name inside a config directory.
CONFIG_FILE = "config.toml"


def systemd_directory(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The first absolute path in $STATE_DIRECTORY-style variable `name`, or None when unset/empty."""
    value = (os.environ if env is None else env).get(name, "")
    for entry in value.split(":"):
        if entry and Path(entry).is_absolute():
            return Path(entry)
    return None


def data_base(config_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """The folder relative data paths resolve against: $STATE_DIRECTORY under systemd (the config folder
    is read-only there), else the config file's folder."""
    return systemd_directory("STATE_DIRECTORY", env) or config_dir


def state_path(value: str | None, *, config_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """The state database for `bot.state = value` (None: the key is unset) in a config in `config_dir`.

    An absolute value is used as is. Under systemd the default is $STATE_DIRECTORY/release-bot.sqlite3
    and a relative value lives under $STATE_DIRECTORY; otherwise both resolve against the config's
    folder (default `state/release-bot.sqlite3`).
    """
    if value is not None:
        p = Path(value).expanduser()
        return p if p.is_absolute() else data_base(config_dir, env) / p
    state_dir = systemd_directory("STATE_DIRECTORY", env)
    if state_dir is not None:
        return state_dir / STATE_FILE
    return config_dir / DEFAULT_STATE


def source_checkout() -> Path | None:
    """The source checkout this code runs from (a folder with pyproject.toml and bot/), or None for an
    installed package."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "config.example.toml").is_file():
        return root
    return None


@dataclass(frozen=True, slots=True)
class ConfigChoice:
    """The config file to use and why; `path` is None when nothing was found (`looked` says where)."""

    path: Path | None
    reason: str
    looked: tuple[str, ...]

    @property
    def is_example(self) -> bool:
        return self.path is not None and self.path.name == "config.example.toml"


def config_candidates(
    env: Mapping[str, str] | None = None, *, cwd: Path | None = None
) -> list[tuple[Path, str]]:
    """The places a config file is looked for, in order, each with a short reason."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    found: list[tuple[Path, str]] = []
    conf_dir = systemd_directory("CONFIGURATION_DIRECTORY", env)
    if conf_dir is not None:
        found.append((conf_dir / CONFIG_FILE, "$CONFIGURATION_DIRECTORY"))
    found.append((cwd / CONFIG_FILE, "the current folder"))
    xdg = env.get("XDG_CONFIG_HOME") or (str(Path(env["HOME"]) / ".config") if env.get("HOME") else "")
    if xdg:
        found.append((Path(xdg) / "release-bot" / CONFIG_FILE, "the user's config folder"))
    found.append((Path("/etc/release-bot") / CONFIG_FILE, "the system config folder"))
    return found


def find_config(env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> ConfigChoice:
    """The config file when none was given with -c: $RELEASE_BOT_CONFIG, then `config_candidates`,
    then config.example.toml, but only when running from the source checkout in its own folder."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    explicit = env.get("RELEASE_BOT_CONFIG")
    if explicit:
        return ConfigChoice(Path(explicit), "$RELEASE_BOT_CONFIG", ("$RELEASE_BOT_CONFIG",))
    candidates = config_candidates(env, cwd=cwd)
    looked = tuple(str(p) for p, _ in candidates)
    for path, reason in candidates:
        if path.is_file():
            return ConfigChoice(path, reason, looked)
    checkout = source_checkout()
    if checkout is not None and cwd.resolve() == checkout:
        return ConfigChoice(checkout / "config.example.toml", "the source checkout's example", looked)
    return ConfigChoice(None, "not found", looked)
