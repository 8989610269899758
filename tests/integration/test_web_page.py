"""The status page in a real browser: Debian's headless Chromium, driven over the DevTools protocol
(aiohttp's WebSocket client; no browser download), at desktop and phone widths. The heads and the
announcements must be visible, nothing may overflow sideways; the screenshots are kept as artifacts
(under the test's tmp dir, their paths printed)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Bot
from bot.channels import stream_label
from bot.config import load_config
from bot.web.server import WebServer
from bot.web.views import heads
from tests.helpers import SNAPSHOTS, history_bytes, require_or_skip
from tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)

#: What the page shows, measured in the browser: each head card and announcement with its text and
#: whether it is rendered on screen inside the viewport's width; whether the page overflows sideways.
PROBE = """(() => {
  const shown = el => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && parseFloat(s.opacity) > 0 && r.left >= -1 && r.right <= window.innerWidth + 1;
  };
  const all = q => [...document.querySelectorAll(q)].map(e => ({text: e.innerText, shown: shown(e)}));
  return {
    title: document.title,
    heads: all('.head'),
    news: all('#announcements li'),
    sources: all('#sources tbody tr'),
    outputs: all('#outputs tbody tr'),
    overflow: document.documentElement.scrollWidth > window.innerWidth,
    wrapped: [...document.querySelectorAll('.head .version, .head dd')].filter(e =>
      e.getBoundingClientRect().height > 1.6 * parseFloat(getComputedStyle(e).lineHeight))
      .map(e => e.innerText),
    clipped: [...document.querySelectorAll('.head dd')].filter(e => e.scrollWidth > e.clientWidth + 1)
      .map(e => e.innerText),
    fontSize: parseFloat(getComputedStyle(document.querySelector('.head .version')).fontSize),
  };
})()"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        require_or_skip("chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout=30)
            if message.get("id") == ident:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def open(self, url: str, *, width: int, height: int, mobile: bool) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )
        await self.call("Page.navigate", url=url)
        for _ in range(200):
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{url} did not finish loading")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


async def _browse(url: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json(content_type=None)
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                out: dict[str, dict[str, Any]] = {}
                for name, width, height, mobile in (("desktop", 1280, 900, False), ("phone", 390, 844, True)):
                    await tools.open(url, width=width, height=height, mobile=mobile)
                    out[name] = await tools.evaluate(PROBE)
                    shot = tmp_path / f"status-{name}.png"
                    await tools.screenshot(shot)
                    print(f"status page screenshot ({name}, {width}px): {shot}")
                    out[name]["screenshot"] = shot
                return out
    finally:
        proc.terminate()
        await proc.wait()


def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    chromium()
    with LocalHTTPServer() as source:
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            textwrap.dedent(f"""\
            [bot]
            state = "state.sqlite3"

            [http_server]
            listen = "127.0.0.1:0"

            [[sources]]
            name = "flatcar"
            kind = "flatcar"
            base_url = "{source.url("/flatcar/")}"

            [[outputs]]
            name = "mbox"
            kind = "mbox"
            path = "out.mbox"
            """),
            encoding="utf-8",
        )
        config = load_config(config_path)
        assert config.http_server is not None

        async def main() -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, str]], list[str]]:
            bot = Bot(config)
            server = WebServer(bot, config.http_server)  # type: ignore[arg-type]
            try:
                for snapshot in SNAPSHOTS[:2]:  # a baseline, then what changed: announcements
                    for name in ("alpha", "beta", "stable", "lts"):
                        source.set(f"/flatcar/releases-{name}.json", history_bytes(snapshot, name))
                    await bot.once()
                current = heads(bot.state_view())
                expected = [
                    (stream_label(r.channel, r.stream), r.version, r.packages["kernel"]) for r in current
                ]
                titles = [a.event.key for a in bot.store.announcements(limit=10)]
                await server.start()
                seen = await _browse(server.url, tmp_path)
                return seen, expected, titles
            finally:
                await server.stop()
                await bot.aclose()

        seen, expected, announced = asyncio.run(main())

    assert len(expected) >= 5 and announced  # alpha, beta, stable, LTS streams; something was announced
    for name, page in seen.items():
        assert page["title"].startswith("release-bot — Flatcar"), page["title"]
        assert not page["overflow"], f"{name}: the page is wider than the screen"
        assert not page["wrapped"], f"{name}: broken across lines: {page['wrapped']}"
        assert not page["clipped"], f"{name}: cut off: {page['clipped']}"
        cards = page["heads"]
        assert len(cards) == len(expected), (name, cards)
        for card, (label, version, kernel) in zip(cards, expected, strict=True):
            assert card["shown"], (name, card)
            assert (
                label.lower() in card["text"].lower() and version in card["text"] and kernel in card["text"]
            ), (
                name,
                card,
            )
        assert len(page["news"]) == len(announced), (name, page["news"])
        assert all(item["shown"] and item["text"].strip() for item in page["news"]), (name, page["news"])
        assert page["sources"] and all(row["shown"] and "flatcar" in row["text"] for row in page["sources"])
        assert page["outputs"] and "mbox" in page["outputs"][0]["text"]
        assert page["fontSize"] >= 16, f"{name}: the versions are too small to read"
        shot = page["screenshot"]
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(json.dumps({n: str(p["screenshot"]) for n, p in seen.items()}))
