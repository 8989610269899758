"""The architecture, checked: `bot/`'s import graph (lazy imports inside functions included) has no
cycle; the pure core never reaches I/O libraries, not even transitively; no module grows past 450
lines."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bot"
MAX_LINES = 450

#: Modules with no I/O: they take data and return data. Patterns over module names.
PURE = (
    "bot.detect",
    "bot.deprecations",
    "bot.deprecations.*",
    "bot.roadmap",
    "bot.commands",
    "bot.commands.*",
    "bot.channels",
    "bot.text",
    "bot.htmltext",
    "bot.pipeline",
    "bot.fetched",
    "bot.backoff",
    "bot.irc.session",
    "bot.irc.protocol",
    "bot.irc.caps",
    "bot.irc.sasl",
    "bot.irc.nick",
    "bot.irc.membership",
    "bot.irc.accounts",
    "bot.irc.keepalive",
    "bot.irc.names",
    "bot.irc.flood",
    "bot.irc.parse",
    "bot.irc.lines",
    "bot.irc.router",
    "bot.chat.matrix_protocol",
    "bot.chat.discord_protocol",
    "bot.chat.mastodon_protocol",
    "bot.chat.replies",
)
#: Pure modules that must exist (a rename must update PURE too).
MUST_EXIST = (
    "bot.detect",
    "bot.deprecations",
    "bot.roadmap",
    "bot.commands",
    "bot.channels",
    "bot.text",
    "bot.pipeline",
    "bot.irc.session",
    "bot.irc.parse",
)
#: Libraries that do I/O; a pure module must not import them, directly or through another module.
IO_LIBRARIES = frozenset({"httpx", "h11", "aiohttp", "sqlite3", "socket", "ssl", "aiosmtplib", "irc"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import executed at some point: module level and inside functions (lazy), but not those
    under `if TYPE_CHECKING:` (never executed)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Names of the modules `name` imports: bot modules by full name, other libraries by top name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            if target == "bot" or target.startswith("bot."):
                out.add(target if target in modules else target.rpartition(".")[0])
            else:
                out.add(target.split(".")[0])
    out.discard(name)
    return out


@functools.cache
def _graph() -> tuple[dict[str, set[str]], dict[str, Path]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}, modules


def _with_parents(graph: dict[str, set[str]], name: str) -> set[str]:
    """What importing `name` runs: its imports and, for each bot module, its parent packages."""
    edges = set(graph.get(name, ()))
    for target in [*edges, name]:
        parts = target.split(".")
        edges.update(".".join(parts[:i]) for i in range(1, len(parts)) if parts[0] == "bot")
    edges.discard(name)
    return edges


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _io_path(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The import chain from `start` to an I/O library, if there is one (breadth first: the shortest)."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(_with_parents(graph, node)):
            if nxt in previous:
                continue
            previous[nxt] = node
            if nxt in IO_LIBRARIES:
                chain = [nxt]
                while (back := previous[chain[-1]]) is not None:
                    chain.append(back)
                return chain[::-1]
            if nxt in graph:
                queue.append(nxt)
    return None


def _pure(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in PURE)


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    graph, _ = _graph()
    assert "bot.daemon" in graph["bot.app"]  # imported inside Bot.run
    assert "bot.app" not in graph["bot.daemon"]  # only under TYPE_CHECKING
    assert {"ssl", "bot.sources.http1"} <= graph["bot.sources.wire"]


def test_no_import_cycle() -> None:
    graph, _ = _graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or ())


def test_pure_modules_exist() -> None:
    _, modules = _graph()
    assert [name for name in MUST_EXIST if name not in modules] == []


@pytest.mark.parametrize("module", sorted(name for name in _modules() if _pure(name)))
def test_pure_module_reaches_no_io_library(module: str) -> None:
    graph, _ = _graph()
    chain = _io_path(graph, module)
    assert chain is None, f"{module} imports I/O: " + " → ".join(chain or ())


def test_no_module_over_the_line_limit() -> None:
    _, modules = _graph()
    long = {
        name: count
        for name, path in modules.items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    queue = [start]
    while queue:
        for nxt in _with_parents(graph, queue.pop()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_sources_do_not_import_the_store() -> None:
    graph, _ = _graph()
    sources = [name for name in graph if name == "bot.sources" or name.startswith("bot.sources.")]
    assert len(sources) > 5
    assert {name: "bot.store" for name in sources if "bot.store" in _reaches(graph, name)} == {}


def test_detection_does_not_import_sources() -> None:
    graph, _ = _graph()
    for pure in ("bot.roadmap", "bot.detect", "bot.deprecations", "bot.pipeline", "bot.fetched"):
        reached = _reaches(graph, pure)
        assert sorted(n for n in reached if n == "bot.sources" or n.startswith("bot.sources.")) == [], pure
        assert "bot.store" not in reached, pure
