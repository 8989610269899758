"""The tests of tests/unit/test_irc_purity.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.test_irc_purity import BOT, FORBIDDEN, PURE_MODULES

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


@pytest.mark.integration
def test_the_check_would_notice():
    """The comparison is not vacuous: the asyncio client, which is not pure, does load them."""
    extra = _loaded("bot.irc.client") - _loaded(None)
    assert {"ssl", "socket", "asyncio"} <= set(_forbidden(extra))
