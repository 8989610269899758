"""The pure IRC session loads no network, threading or storage module, and nothing in bot/ imports the
`irc` package (the session has its own parser, `bot.irc.parse`)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"

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
    "bot.irc.scram",
    "bot.irc.ctcp",
    "bot.irc.traffic",
    "bot.irc.router",
)


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
