"""`release-bot demo`: the real pipeline over two consecutive real Flatcar snapshots, offline.

A local HTTP server on 127.0.0.1 serves the snapshot of 2025-02-18 (bundled in bot/demo_data), the
bot records its baseline; the server switches to 2025-03-20 and the bot announces what changed: a
major version promoted to beta, a stable point release, LTS point releases of two streams.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import importlib.resources
import io
import os
import shutil
import sys
import tempfile
import threading
from contextlib import redirect_stdout, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.app import Bot
from bot.commands import StateView, answer
from bot.config import HttpServerConfig, MboxOutput, load_config
from bot.demo_chat import chat_previews
from bot.errors import ConfigError
from bot.model import AnyEvent, Event
from bot.render import Renderer
from bot.web.server import WebServer

#: The bundled snapshots (package data, so a wheel carries them too).
DATA: Traversable = importlib.resources.files("bot") / "demo_data"
SNAPSHOTS = ("2025-02-18-56835e81", "2025-03-20-3e9fd11f")


class SnapshotServer:
    """Serves `{name: bytes}` with ETag / If-None-Match, on 127.0.0.1 and an ephemeral port."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def load(self, folder: Traversable) -> None:
        self.files = {
            p.name.removesuffix(".gz"): gzip.decompress(p.read_bytes())
            for p in folder.iterdir()
            if p.name.endswith(".gz")
        }

    def __enter__(self) -> SnapshotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


CONFIG = """\
[bot]
state = "state.sqlite3"

[[sources]]
name = "flatcar"
kind = "flatcar"
base_url = "{base_url}"
channels = ["alpha", "beta", "stable", "lts"]

[[outputs]]
name = "console"
kind = "console"

[[outputs]]
name = "mbox"
kind = "mbox"
path = "announcements.mbox"
"""


NEXT_STEPS = """\
Next steps:
  1. Write a config: start from config.example.toml (every key documented inline) or the README's
     Configuration section; `release-bot -c config.toml check-config` shows it with the defaults.
  2. Run it: `release-bot -c config.toml once` for one poll, `release-bot -c config.toml run` for the
     daemon (or the systemd unit, container and Butane config in deploy/).
  3. Read more: README.md (commands, configuration, IRC, Matrix, Discord, Mastodon, Apprise, mailing
     lists, deploy, operations), https://github.com/flatcar/release-bot"""


def _showcase(events: list[AnyEvent]) -> AnyEvent | None:
    """The announcement the chat previews show: the stable release, else the first one."""
    stable = [
        e for e in events if isinstance(e, Event) and e.kind == "release" and e.release.stream == "stable"
    ]
    return (stable or events or [None])[0]


async def _start_web(bot: Bot) -> WebServer:
    """The HTTP server of `[http_server]` over the demo's state: on 127.0.0.1:9108, or any free port."""
    for port in (9108, 0):
        web = WebServer(bot, HttpServerConfig(port=port))
        try:
            await web.start()
        except ConfigError:
            continue
        return web
    raise ConfigError("the demo cannot listen on 127.0.0.1")


async def _show_web(web: WebServer) -> None:
    """Say where the HTTP server is; ask it for `!release stable` as JSON; in a terminal, keep it up
    until Enter so the status page can be opened."""
    import httpx

    url = web.url
    async with httpx.AsyncClient(timeout=10) as client:
        stable = (await client.get(f"{url}api/v1/releases/stable")).json()
    print(f"The HTTP server (what [http_server] in a config starts) is at {url}")
    print(f"  status page {url}, Atom feed {url}feed.atom,")
    print(f"  metrics {url}metrics, readiness {url}readyz, API {url}api/v1/openapi.json")
    print(f"  $ curl {url}api/v1/releases/stable  →  {stable['releases'][0]['version']} …")
    if sys.stdin.isatty():
        print("  Open the status page in a browser; press Enter to end the demo.")
        with suppress(EOFError, KeyboardInterrupt):
            await asyncio.to_thread(input)
    print()


async def run_demo(*, keep: str | None = None) -> int:
    """The demo in `keep` (kept afterwards), or in a temporary folder removed at the end."""
    if keep:
        os.makedirs(keep, exist_ok=True)
        return await _demo(Path(keep), kept=True)
    workdir = Path(tempfile.mkdtemp(prefix="release-bot-demo-"))
    try:
        return await _demo(workdir, kept=False)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _demo(workdir: Path, *, kept: bool) -> int:
    with SnapshotServer() as server:
        config_path = workdir / "config.toml"
        config_path.write_text(CONFIG.format(base_url=server.base_url), encoding="utf-8")
        config = load_config(config_path)
        print(
            f"release-bot demo: real Flatcar data served from {server.base_url} (offline), "
            f"files in {workdir}{'' if kept else ' (removed at the end)'}\n"
        )

        server.load(DATA / SNAPSHOTS[0])
        print(f"1. First poll: the site as it was on {SNAPSHOTS[0][:10]}.")
        bot = Bot(config)
        try:
            polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        known = sum(p.new_releases for p in polls)
        print(
            f"   baseline recorded: {known} releases known, {delivery.delivered} announcements "
            "(nothing old is announced)\n"
        )

        server.load(DATA / SNAPSHOTS[1])
        print(f"2. Next poll (a new process): the site as it was on {SNAPSHOTS[1][:10]}. Announcements:\n")
        bot = Bot(config)
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        for line in out.getvalue().splitlines():
            print(f"   {line}")
        mbox = next(o for o in config.outputs if isinstance(o, MboxOutput))
        print(
            f"\n   {sum(len(p.announced) for p in polls)} events, {delivery.delivered} messages delivered "
            f"(console + {mbox.path.name})\n"
        )

        print("3. Poll again: the server answers 304 Not Modified; nothing is announced twice.")
        bot = Bot(config)
        web = None
        try:
            with redirect_stdout(out):
                polls, delivery = await bot.once()
            print(
                f"   {sum(p.unchanged for p in polls)} documents unchanged, "
                f"{sum(len(p.announced) for p in polls)} events\n"
            )
            state = StateView.of(bot.store.releases())
            web = await _start_web(bot)
            for command in ("!release stable", "!release lts", "!release"):
                print(f"<you> {command}")
                for reply in answer(command, state) or []:
                    print(f"<release-bot> {reply}")
                print()
            event = _showcase([e for _, e in bot.store.events()])
            if event is not None:
                print(
                    "4. The chat outputs (Matrix, Discord, Mastodon, Apprise) would post the stable release"
                )
                print("   like this — rendered through their real templates, sent nowhere:\n")
                for line in chat_previews(event, Renderer(override_dir=config.templates)):
                    print(line)
                print()
            await _show_web(web)
        finally:
            if web is not None:
                await web.stop()
            await bot.aclose()
    if kept:
        print(f"State, config and mails kept in {workdir} (mails: {workdir / 'announcements.mbox'})")
    else:
        print("The demo's temporary files are removed (`release-bot demo --keep DIR` keeps them).")
    print()
    print(NEXT_STEPS)
    return 0
