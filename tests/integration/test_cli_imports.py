"""What `release-bot query` and `once` import (issue 11: a verb imports what it needs, when it needs it).

A fresh interpreter runs the verb through `bot.cli.main` and reports `sys.modules`: a behaviour
check (which modules load), not a timing. A process per case, so integration-lane.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import DATA, free_port
from tests.httpserver import LocalHTTPServer
from tests.integration.test_pipeline import REPO
from tests.replay import feed_source, mail_output, state_header

#: What a `query` of a config without mail outputs must not load: the template engine and Markdown
#: (sinks and presentation), the mail address parser and the SMTP client; nor, for `!release`, the
#: event loop, the poll machinery, the security answers, the HTML reader or other verbs' CLI modules.
NOT_FOR_QUERY = (
    "jinja2",
    "markdown_it",
    "email.headerregistry",
    "aiosmtplib",
    "asyncio",
    "bot.app",
    "bot.sources",
    "bot.pipeline",
    "bot.detect",
    "bot.deprecations",
    "bot.security",
    "html.parser",
    "bot.mailcli",
    "bot.chat",
    "bot.cli.migrate",
)

_RUN = """
import contextlib, io, json, sys
from bot.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

MAIL_OUTPUT = """
[[outputs]]
name = "list"
kind = "mail"
host = "127.0.0.1"
port = 2525
tls = "none"
from = "release-bot <release-bot@example.org>"
to = "announce@example.org"
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config (a console and an mbox output) and a state with releases, from the offline demo."""
    folder = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--keep", str(folder)],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=REPO,
    )
    return folder


def _query(config: Path, *line: str) -> tuple[str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _RUN, "-c", str(config), "query", *line],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=REPO,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    return str(report["out"]), set(report["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_query_without_mail_output_loads_no_templates_markdown_or_mail(demo: Path) -> None:
    config = demo / "config.toml"
    assert 'kind = "mail"' not in config.read_text(encoding="utf-8")
    out, modules = _query(config, "!release stable")
    assert out.startswith("Flatcar stable ")  # the verb did answer from the state
    assert "bot.commands.releases" in modules
    assert _loaded(modules, NOT_FOR_QUERY) == []
    # nor the modules of output kinds the file does not have
    assert not {"bot.config.mail", "bot.config.irc", "bot.config.matrix"} & modules


def test_the_check_would_notice_a_mail_output(demo: Path, tmp_path: Path) -> None:
    """Not vacuous: with a mail output in the file, its settings module (and the address parser) load."""
    config = tmp_path / "config.toml"
    text = (demo / "config.toml").read_text(encoding="utf-8")
    text = text.replace('state = "state.sqlite3"', f"state = {json.dumps(str(demo / 'state.sqlite3'))}")
    config.write_text(text + MAIL_OUTPUT, encoding="utf-8")
    out, modules = _query(config, "!release stable")
    assert out.startswith("Flatcar stable ")
    assert {"bot.config.mail", "email.headerregistry"} <= modules


def test_reading_a_plain_atom_feed_does_not_import_feedparser() -> None:
    """bot.sources.atomfast carries feedparser's cp1252 table and URI join: a plain Atom 1.0 feed with
    RFC 3339 dates is read without importing feedparser (~50–80 ms); RSS still is read by it."""
    code = """
import sys
from bot.sources.feed import parse_feed
atom = (
    b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
    b'<title>1.0.0 caf\\xc3\\xa9</title><id>urn:1</id><updated>2025-01-01T00:00:00Z</updated>'
    b'<link href="/r/1"/></entry></feed>'
)
r = parse_feed(atom, source="s", project="p", stream="m", url="https://x.example/f.atom")
assert [x.version for x in r.document.releases] == ["1.0.0 caf\\u00e9"], r
print("feedparser" in sys.modules)
rss = b'<rss version="2.0"><channel><item><title>2.0.0</title></item></channel></rss>'
parse_feed(rss, source="s", project="p", stream="m", url="https://x.example/f.rss")
print("feedparser" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


#: What a `once` where every feed answered 304 must not load: nothing is rendered (templates,
#: Markdown, HTML cleaning), nothing is sent (the SMTP client), no metrics are exposed, and the kinds
#: of output the file does not have stay unloaded.
NOT_FOR_QUIET_ONCE = (
    "jinja2",
    "markdown_it",
    "markupsafe",
    "nh3",
    "prometheus_client",
    "aiosmtplib",
    "bot.presentation.engine",
    "bot.sinks.mbox",
    "bot.sinks.console",
    "bot.digest",  # no output has a digest
    # nothing was read: no parser, no detection, no render batch, no message writer
    "feedparser",
    "bot.sources.feed",
    "bot.sources.atomfast",
    "xml.etree",
    "bot.detect",
    "bot.flood",
    "bot.deprecations",
    "bot.roadmap",
    "bot.presentation.batch",
    "bot.sinks.mailwire",
    "email.message",
    "email.policy",
    "html.parser",  # bot.text's HTML reader (bot.htmltext) loads with the first HTML to read
    "bot.htmltext",
    # the source kinds the file does not have
    "bot.sources.kinds.flatcar",
    "bot.sources.flatcar",
    "bot.sources.kinds.github_issues",
    "bot.sources.kinds.github_project",
    "bot.sources.github",
    "bot.sources.kinds.roadmap_feed",
    # no channel asked anything; not the daemon; no other verb's parser or module
    "bot.commands",
    "bot.daemon",
    "bot.sdnotify",
    "bot.mailcli",
    "bot.delivercli",
    "bot.chat",
    "bot.cli.migrate",
)

_ONCE = """
import json, sys
from bot.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

FEEDS = DATA / "feeds"


def _once(config: Path) -> tuple[int, str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _ONCE, "-c", str(config), "once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    *out, report = result.stdout.rstrip("\n").split("\n")
    data = json.loads(report)
    return int(data["code"]), "\n".join(out) + "\n" + result.stderr, set(data["modules"])


def test_once_where_every_feed_is_unchanged_loads_no_templates_markdown_metrics_or_smtp(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    feed = feed_source("beta-feed", http_server.url("/releases-beta.xml"), project="Flatcar", stream="beta")
    config.write_text(state_header() + feed + mail_output(free_port()), encoding="utf-8")
    http_server.set_file("/releases-beta.xml", FEEDS / "history-2025-02-18-releases-beta-trimmed.xml")
    code, out, _ = _once(config)  # the baseline: the feed read, nothing announced
    assert code == 0, out
    assert "baseline" in out

    http_server.clear_requests()
    code, out, modules = _once(config)
    assert code == 0, out
    (request,) = http_server.requests_to("/releases-beta.xml")
    assert request.headers.get("If-None-Match")  # a conditional GET, answered 304
    assert "beta-feed: ok; 0 announced, 0 new" in out and "delivered 0, failed 0" in out
    assert "bot.sinks.mail" in modules and "bot.web.metrics" in modules  # the output and the counters
    assert _loaded(modules, NOT_FOR_QUIET_ONCE) == []

    # Not vacuous: the next snapshot brings a release, whose mail is rendered and (the SMTP port
    # being closed) tried and kept queued — templates, the HTML cleaner (the feed's notes are HTML)
    # and the SMTP client load then.
    http_server.set_file("/releases-beta.xml", FEEDS / "history-2025-03-20-releases-beta-trimmed.xml")
    code, out, modules = _once(config)
    assert "1 announced" in out, out
    assert {"jinja2", "nh3", "aiosmtplib", "bot.presentation.engine"} <= modules
    assert {"bot.sources.feed", "bot.detect", "bot.presentation.batch", "bot.sinks.mailwire"} <= modules
