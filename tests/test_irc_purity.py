"""The pure IRC session loads no network, threading or storage module, and nothing in bot/ imports the
`irc` package (the session has its own parser, `bot.irc.parse`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"

#: Modules a pure module must not load (directly or through anything it imports).
FORBIDDEN = (
    "socket",
    "_socket",
    "ssl",
    "_ssl",
    "threading",
    "asyncio",
    "selectors",
    "irc",
    "jaraco",
    "httpx",
    "sqlite3",
    "aiosmtplib",
)

PURE_MODULES = (
    "bot.irc.session",
    "bot.irc.parse",
    "bot.irc.lines",
    "bot.irc.names",
    "bot.irc.caps",
    "bot.irc.sasl",
    "bot.irc.nick",
    "bot.irc.membership",
    "bot.irc.accounts",
    "bot.irc.keepalive",
    "bot.irc.protocol",
    "bot.irc.flood",
)

_LOADED = "import sys, json{imp}; print(json.dumps(sorted(sys.modules)))"


def _loaded(module: str | None) -> set[str]:
    code = _LOADED.format(imp=f"; import {module}" if module else "")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=BOT.parent
    )
    return set(json.loads(result.stdout))


def _forbidden(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in FORBIDDEN)


@pytest.mark.integration  # starts a Python subprocess per module
@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_loads_no_network_threading_or_storage(module: str):
    baseline = _loaded(None)  # what the interpreter loads by itself
    extra = _loaded(module) - baseline
    assert module in extra
    assert _forbidden(extra) == [], f"{module} loads {_forbidden(extra)}"


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_nothing_in_bot_imports_the_irc_package():
    offenders = [
        f"{path.relative_to(BOT.parent)}: {name}"
        for path in sorted(BOT.rglob("*.py"))
        for name in _imports(path)
        if name == "irc" or name.startswith("irc.")
    ]
    assert offenders == []


def test_the_session_modules_import_no_forbidden_module_even_lazily():
    """A static check that also sees imports inside functions, which a subprocess import does not run."""
    offenders = [
        f"{module}: {name}"
        for module in PURE_MODULES
        for name in _imports(BOT.parent / (module.replace(".", "/") + ".py"))
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


@pytest.mark.integration
def test_the_check_would_notice():
    """The comparison is not vacuous: the asyncio client, which is not pure, does load them."""
    extra = _loaded("bot.irc.client") - _loaded(None)
    assert {"ssl", "socket", "asyncio"} <= set(_forbidden(extra))
