"""Replaying the bundled real Flatcar history through a running bot: the per-channel documents of a
snapshot served by the local HTTP server, and the config blocks the replay tests share (a Flatcar
source on that server, an mbox output, a mail output on a local SMTP port).

One place for what the crash, failover, migration and chat replays all set up, so a change of the
config format or of the served documents is made once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from tests.helpers import HISTORY, history_bytes
from tests.httpserver import LocalHTTPServer

__all__ = ["HISTORY_FILES", "flatcar_source", "mail_output", "mbox_output", "serve_history", "toml_value"]

#: every document of a bundled snapshot (the channel files and the LTS streams)
HISTORY_FILES = tuple(
    sorted(
        p.name.removeprefix("releases-").removesuffix(".json.gz") for p in next(HISTORY.iterdir()).iterdir()
    )
)


def serve_history(
    http: LocalHTTPServer,
    snapshot: str,
    names: Iterable[str] = HISTORY_FILES,
    *,
    prefix: str = "/flatcar",
    patch: Callable[[str, Any], None] | None = None,
) -> None:
    """Serve `snapshot`'s documents as `{prefix}/releases-NAME.json`; `patch(name, data)` may change
    a document's parsed JSON first."""
    for name in names:
        body = history_bytes(snapshot, name)
        if patch is not None:
            data = json.loads(body)
            patch(name, data)
            body = json.dumps(data).encode()
        http.set(f"{prefix}/releases-{name}.json", body, content_type="application/json")


def toml_value(value: object) -> str:
    """A TOML scalar or list (strings are JSON-quoted, which TOML reads the same way)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _table(header: str, keys: dict[str, object]) -> str:
    lines = [header] + [f"{key} = {toml_value(value)}" for key, value in keys.items() if value is not None]
    return "\n".join(lines) + "\n"


def flatcar_source(http: LocalHTTPServer, name: str = "flatcar", **keys: object) -> str:
    """A `[[sources]]` block of kind flatcar reading the served history (both LTS streams)."""
    base: dict[str, object] = {
        "name": name,
        "kind": "flatcar",
        "base_url": http.url("/flatcar/"),
        "lts_streams": ["lts-2023", "lts-2024"],
        "announce_on_first_run": 3,
    }
    return _table("[[sources]]", base | keys)


def feed_source(name: str, url: str, **keys: object) -> str:
    """A `[[sources]]` block of kind feed."""
    return _table("[[sources]]", {"name": name, "kind": "feed", "url": url} | keys)


def state_header(state: object = "state.sqlite3", **keys: object) -> str:
    """The `[bot]` table: the state file (relative to the config's folder by default) and `keys`."""
    return _table("[bot]", {"state": str(state)} | keys)


def mbox_output(name: str = "mbox", path: str = "out.mbox", **keys: object) -> str:
    return _table("[[outputs]]", {"name": name, "kind": "mbox", "path": path} | keys)


def mail_output(port: int, name: str = "list", **keys: object) -> str:
    """A plain-SMTP `[[outputs]]` block of kind mail to a local server on `port`."""
    base: dict[str, object] = {
        "name": name,
        "kind": "mail",
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "connect_timeout": "2s",
        "from": "release-bot@example.org",
        "to": "list@example.org",
    }
    return _table("[[outputs]]", base | keys)
