"""A flood summarised, end to end (issue 9, item 5): a feed that brings 137 new entries in one poll is
announced as one summary on the console and in the mbox, with one WARNING line in the log; a re-poll
and later polls announce none of those entries one by one, while a new entry after them is announced
as usual. The same for a Flatcar channel restored after an outage."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.helpers import SNAPSHOTS, history_bytes
from tests.httpserver import LocalHTTPServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def atom(numbers: range | list[int]) -> bytes:
    entries = "".join(
        f"""
  <entry>
    <title>v1.{n}.0</title>
    <id>urn:flood:{n}</id>
    <link href="https://example.invalid/releases/v1.{n}.0"/>
    <updated>{(T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}</updated>
    <content type="html">&lt;p&gt;notes of {n}&lt;/p&gt;</content>
  </entry>"""
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"  <title>flood</title><id>urn:flood</id><updated>2025-01-01T00:00:00Z</updated>{entries}\n</feed>\n"
    ).encode()


def config(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
            [bot]
            state = "state.sqlite3"

            """)
        + textwrap.dedent(source)
        + textwrap.dedent("""
            [[outputs]]
            name = "console"
            kind = "console"

            [[outputs]]
            name = "mbox"
            kind = "mbox"
            path = "out.mbox"
            """),
        encoding="utf-8",
    )
    return path


def once(path: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(path), "once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def subjects(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Subject"]) for m in box]
    finally:
        box.close()


def test_137_new_feed_entries_are_one_summary_and_never_announced_one_by_one(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    http_server.set("/flood.atom", atom(range(3)), content_type="application/atom+xml")
    path = config(
        tmp_path,
        f"""\
        [[sources]]
        name = "flood"
        kind = "feed"
        project = "Flood"
        url = "{http_server.url("/flood.atom")}"
        """,
    )
    baseline = once(path)
    assert baseline.stdout == ""  # the silent baseline
    http_server.set("/flood.atom", atom(range(140)), content_type="application/atom+xml")
    flood = once(path)
    lines = flood.stdout.splitlines()
    assert lines == [
        "[Flood] 137 new releases in feed flood (too many to announce one by one); newest: v1.139.0 "
        "(2024-01-06), v1.138.0 (2024-01-06), v1.137.0 (2024-01-06), … — https://example.invalid/releases/v1.139.0"
    ]
    warnings = [line for line in flood.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, flood.stderr
    assert "source flood: 137 new releases in document feed, more than flood_limit 20" in warnings[0]
    mbox = tmp_path / "out.mbox"
    assert subjects(mbox) == ["[Flood] 137 new releases in feed flood, newest v1.139.0"]
    box = mailbox.mbox(mbox, create=False)
    payload = next(iter(box)).get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode("utf-8")
    box.close()
    for n in range(135, 140):  # the newest five, with their links
        assert f"https://example.invalid/releases/v1.{n}.0" in body
    assert "… and 132 older ones." in body

    again = once(path)  # the same feed again: nothing new, nothing re-announced
    assert again.stdout == ""
    http_server.set("/flood.atom", atom([*range(140), 140]), content_type="application/atom+xml")
    later = once(path)  # one more entry: announced on its own; none of the 137 ever comes one by one
    assert later.stdout.startswith("[Flood] releases v1.140.0 released")
    assert len(later.stdout.splitlines()) == 1
    assert subjects(mbox)[1:] == ["[Flood] v1.140.0 released"]
    status = subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(path), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=True,
    )
    outputs = {o["name"]: o for o in json.loads(status.stdout)["outputs"]}
    assert outputs["mbox"]["delivered"] == 2 and outputs["mbox"]["queued"] == 0


def test_a_flatcar_channel_restored_after_an_outage_is_one_summary(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    # stable answers with only its oldest release at first (an outage served a truncated file), then
    # the whole file comes back: 9 new stable releases, more than flood_limit 5
    whole = json.loads(history_bytes(SNAPSHOTS[-1], "stable"))
    versions = [v for v in whole if v[:1].isdigit()]  # besides "current" and the like
    oldest = min(versions, key=lambda v: str(whole[v]["release_date"]))
    http_server.set(
        "/flatcar/releases-stable.json",
        json.dumps({oldest: whole[oldest]}).encode(),
        content_type="application/json",
    )
    path = config(
        tmp_path,
        f"""\
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{http_server.url("/flatcar/")}"
        channels = ["stable"]
        flood_limit = 5
        """,
    )
    assert once(path).stdout == ""
    http_server.set(
        "/flatcar/releases-stable.json", json.dumps(whole).encode(), content_type="application/json"
    )
    restored = once(path)
    (line,) = restored.stdout.splitlines()
    assert line.startswith(f"[Flatcar] {len(versions) - 1} new releases in releases-stable.json")
    assert subjects(tmp_path / "out.mbox")[0].startswith(f"[Flatcar] {len(versions) - 1} new releases")
    assert once(path).stdout == ""
