"""`Table`: one TOML table being read, with typed getters whose errors name the file and key path.

Every getter marks its key as used; `finish()` then refuses any key nobody asked for (a typo must not
be silently ignored). A getter without a default makes the key required.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Final, TypeVar

from bot.errors import ConfigError

C = TypeVar("C", bound=str)


class Required(Enum):
    REQUIRED = "required"


#: The default of a required key.
REQUIRED: Final = Required.REQUIRED

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_MAX_DURATION = 365 * 86400
_DURATION_WHAT = 'a duration: seconds (e.g. 900) or a string like "15m", "1h", "30s"'
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL = re.compile(r"^https?://[^/\s]+")


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1): traffic that never leaves the
    machine, where a password sent without TLS is not exposed on a network."""
    if host.lower() in ("localhost", "localhost."):
        return True
    import ipaddress  # only the outputs that check a host need it

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Table:
    """A TOML table being read. `where` is its key path ("" for the top level, "outputs[0]", …)."""

    def __init__(self, data: Mapping[str, object], *, file: str, where: str = "") -> None:
        self._data = data
        self.file = file
        self.where = where
        self._used: set[str] = set()

    # -- where and what ------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The full key path of `name` in this table."""
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, message: str) -> ConfigError:
        """A ConfigError about key `name` of this table."""
        return ConfigError(message, path=self.file, key=self.key(name))

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[str]:
        """The keys present in this table (for tables whose keys are data, e.g. mail headers)."""
        return list(self._data)

    def _get(self, name: str, kinds: tuple[type, ...], *, what: str) -> object | None:
        """The value of `name` checked against `kinds` (None when absent); bool is no int here."""
        self._used.add(name)
        if name not in self._data:
            return None
        value = self._data[name]
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {what}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {what}, got {type(value).__name__} {value!r}")
        return value

    def _missing(self, name: str, what: str) -> ConfigError:
        return self.error(name, f"missing; expected {what}")

    # -- scalars ----------------------------------------------------------------------------------------

    def optional_string(self, name: str) -> str | None:
        value = self._get(name, (str,), what="a string")
        return value if isinstance(value, str) else None

    def string(self, name: str, default: str | Required = REQUIRED) -> str:
        value = self.optional_string(name)
        if value is not None:
            return value
        if isinstance(default, Required):
            raise self._missing(name, "a string")
        return default

    def choice(self, name: str, choices: Sequence[C], default: C | Required = REQUIRED) -> C:
        """One of `choices` (annotate them as a tuple of Literal strings to get the Literal back)."""
        what = f"one of {', '.join(map(repr, choices))}"
        value = self._get(name, (str,), what=what)
        if value is None:
            if isinstance(default, Required):
                raise self._missing(name, what)
            return default
        for choice in choices:
            if value == choice:
                return choice
        raise self.error(name, f"expected {what}, got {value!r}")

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, (bool,), what="true or false")
        return value if isinstance(value, bool) else default

    def integer(self, name: str, default: int | Required = REQUIRED, *, minimum: int = 0) -> int:
        what = f"an integer ≥ {minimum}"
        value = self._get(name, (int,), what=what)
        if not isinstance(value, int):
            if isinstance(default, Required):
                raise self._missing(name, what)
            return default
        if value < minimum:
            raise self.error(name, f"expected {what}, got {value}")
        return value

    def port(self, name: str, default: int) -> int:
        value = self.integer(name, default, minimum=1)
        if value > 65535:
            raise self.error(name, f"expected a port number 1-65535, got {value}")
        return value

    def duration(self, name: str, default: float | Required = REQUIRED, *, minimum: float = 0.0) -> float:
        """Seconds, from a number or a string like "15m"; finite, at least `minimum`, at most a year."""
        value = self._get(name, (int, float, str), what=_DURATION_WHAT)
        seconds: float
        if value is None:
            if isinstance(default, Required):
                raise self._missing(name, _DURATION_WHAT)
            return float(default)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if not match:
                raise self.error(name, f"expected {_DURATION_WHAT}, got {value!r}")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        else:
            assert isinstance(value, int | float)
            seconds = float(value)
        if not math.isfinite(seconds):
            raise self.error(name, f"expected {_DURATION_WHAT}, got {value!r}")
        if seconds < minimum:
            raise self.error(name, f"must be at least {minimum:g} seconds, got {seconds:g}")
        if seconds > _MAX_DURATION:
            # huge values pass a plain minimum check but crash the scheduler (timedelta overflow)
            raise self.error(name, f"must be at most {_MAX_DURATION:g} seconds (365 days), got {seconds:g}")
        return seconds

    def optional_text_or_int(self, name: str, *, what: str) -> str | None:
        """A string or an integer (e.g. a cron field), as a string; None when absent."""
        value = self._get(name, (str, int), what=what)
        return None if value is None else str(value)

    # -- lists ------------------------------------------------------------------------------------------

    def str_list(
        self, name: str, default: tuple[str, ...] = (), *, choices: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        value = self._get(name, (list,), what="a list of strings")
        if not isinstance(value, list):
            return default
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", f"expected a string, got {item!r}")
            if choices is not None and item not in choices:
                raise self.error(
                    f"{name}[{i}]", f"expected one of {', '.join(map(repr, choices))}, got {item!r}"
                )
            out.append(item)
        return tuple(out)

    # -- checked strings -------------------------------------------------------------------------------

    def name(self, key: str = "name") -> str:
        """A name people type and the state keys on: letters, digits, '-', '_', '.'."""
        value = self.string(key)
        if not _NAME.match(value):
            raise self.error(key, f"expected letters, digits, '-', '_' or '.', got {value!r}")
        return value

    def url(self, name: str, default: str | Required = REQUIRED) -> str:
        value = self.string(name, default)
        if not _URL.match(value):
            raise self.error(name, f"expected an http:// or https:// URL, got {value!r}")
        return value

    def env_name(self, name: str, default: str | None = None) -> str | None:
        """The name of an environment variable holding a secret (`*_env` keys)."""
        value = self.optional_string(name)
        if value is None:
            return default
        if not _ENV_NAME.match(value):
            raise self.error(name, f"expected the name of an environment variable, got {value!r}")
        return value

    def optional_path(self, name: str, base: Path) -> Path | None:
        """A path; relative ones resolve against `base` (the config file's folder)."""
        value = self.optional_string(name)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path

    def path(self, name: str, base: Path, default: str | Required = REQUIRED) -> Path:
        found = self.optional_path(name, base)
        if found is not None:
            return found
        if isinstance(default, Required):
            raise self._missing(name, "a string (a path)")
        path = Path(default).expanduser()
        return path if path.is_absolute() else base / path

    def existing_file(self, name: str, base: Path) -> Path | None:
        path = self.optional_path(name, base)
        if path is not None and not path.is_file():
            raise self.error(name, f"file not found: {path}")
        return path

    # -- nested tables ---------------------------------------------------------------------------------

    def table(self, name: str, *, required: bool = False) -> Table:
        value = self._get(name, (dict,), what="a table")
        if value is None and required:
            raise self._missing(name, "a table")
        data: Mapping[str, object] = value if isinstance(value, dict) else {}
        return Table(data, file=self.file, where=self.key(name))

    def tables(self, name: str) -> list[Table]:
        value = self._get(name, (list,), what=f"an array of tables ([[{self.key(name)}]])")
        out: list[Table] = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", "expected a table")
            out.append(Table(item, file=self.file, where=f"{self.key(name)}[{i}]"))
        return out

    def finish(self) -> None:
        """Refuse the keys no getter asked for."""
        unknown = sorted(set(self._data) - self._used)
        if unknown:
            known = ", ".join(sorted(self._used)) or "none"
            raise ConfigError(
                f"unknown key {unknown[0]!r} (known keys here: {known})",
                path=self.file,
                key=self.key(unknown[0]),
            )
