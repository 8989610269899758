"""The tests of tests/unit/test_plans.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot.errors import FetchError, RateLimitError
from bot.sources.http import HttpFetcher
from tests.httpserver import LocalHTTPServer, redirect_to
from tests.unit.test_plans import ROOT


def test_post_follows_redirects_with_the_right_method(http_server: LocalHTTPServer) -> None:
    seen: list[tuple[str, bytes]] = []

    def echo(h: BaseHTTPRequestHandler) -> None:
        seen.append((h.command, getattr(h, "request_body", b"")))
        body = b'{"data": {}}'
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("X-RateLimit-Remaining", "4999")
        h.end_headers()
        h.wfile.write(body)

    http_server.set_handler("/graphql", echo)
    http_server.set_handler("/moved-307", redirect_to("/graphql", 307))
    http_server.set_handler("/moved-303", redirect_to("/graphql", 303))

    async def main() -> None:
        async with HttpFetcher(user_agent="t", timeout=5) as fetcher:
            result = await fetcher.post(http_server.url("/moved-307"), source="s", content=b'{"query": "{}"}')
            assert result.body == b'{"data": {}}' and result.headers["x-ratelimit-remaining"] == "4999"
            await fetcher.post(http_server.url("/moved-303"), source="s", content=b"{}")

    asyncio.run(main())
    assert seen == [("POST", b'{"query": "{}"}'), ("GET", b"")]


@pytest.mark.parametrize(
    ("status", "headers", "limited"),
    [
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "RESET"}, True),
        (429, {"Retry-After": "7"}, True),
        (403, {"X-RateLimit-Remaining": "12"}, False),  # forbidden for another reason
        (503, {"Retry-After": "7"}, False),  # a server error is a failure, retried with backoff
    ],
)
def test_rate_limit_answers_raise_rate_limit_errors(
    http_server: LocalHTTPServer, status: int, headers: dict[str, str], limited: bool
) -> None:
    reset = str(int(time.time()) + 90)
    http_server.set(
        "/x", b"{}", status=status, headers={k: v.replace("RESET", reset) for k, v in headers.items()}
    )

    async def main() -> None:
        async with HttpFetcher(user_agent="t", timeout=5) as fetcher:
            await fetcher.fetch(http_server.url("/x"), source="s")

    with pytest.raises(FetchError) as info:
        asyncio.run(main())
    assert isinstance(info.value, RateLimitError) is limited
    if limited:
        assert 0 < info.value.retry_after <= 90  # type: ignore[attr-defined]
        assert "rate limited" in str(info.value)


def cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_cli_check_config_preview_status_and_query(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    feeds = ROOT / "tests" / "data" / "feeds"
    http_server.set("/plans.xml", (feeds / "history-2025-03-20-releases-beta-trimmed.xml").read_bytes())
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "plans"
        kind = "roadmap_feed"
        project = "Flatcar"
        url = "{http_server.url("/plans.xml")}"
        [[sources]]
        name = "board"
        kind = "github_project"
        project_number = 7
        token_env = "RELEASE_BOT_TEST_UNSET_TOKEN"
        [[outputs]]
        name = "mbox"
        kind = "mbox"
        path = "out.mbox"
        """),
        encoding="utf-8",
    )
    checked = cli(path, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert "RELEASE_BOT_TEST_UNSET_TOKEN (NOT SET)" in checked.stdout
    assert "#   project-flatcar-7: https://api.github.com/graphql" in checked.stdout

    preview = cli(path, "preview", "plans", "--last", "2")
    assert preview.returncode == 0, preview.stderr
    assert "the 2 most recently updated item(s) would be announced" in preview.stdout
    assert "subject: [Flatcar roadmap] New: 4230.1.0" in preview.stdout

    once = cli(path, "once")  # the board fails (no token): exit 1, the feed is baselined anyway
    assert once.returncode == 1
    assert "RELEASE_BOT_TEST_UNSET_TOKEN (token_env) is not set" in once.stderr
    status = cli(path, "status")
    assert "source plans: 3 roadmap items listed" in status.stdout
    query = cli(path, "query", "!roadmap")
    assert query.stdout.splitlines()[0] == "Flatcar roadmap: 3 open — open 3 (!roadmap <status>)"
