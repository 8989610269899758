"""Crash consistency (issue 9): the bundled real history replayed through `once` with an mbox and a mail
output (aiosmtpd, its reply to each final "." slowed to widen the windows), the process killed with
SIGKILL at random moments (seeded), then finished cleanly.

Checked: after every kill `PRAGMA integrity_check` is ok; at the end 0 lost (every announcement of a
run without kills is in the mbox and was received by mail), 0 duplicate Message-IDs in the mbox, and
each duplicate mail explained by a kill inside its late-reply window: after the server stored the
message and before the bot could record its reply (docs/RELIABILITY.md).

RELEASE_BOT_CRASH_KILLS sets the number of kills (default 30), RELEASE_BOT_CRASH_SEED the seed.
"""

from __future__ import annotations

import mailbox
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.replay import flatcar_source, mail_output, mbox_output, serve_history
from tests.smtpserver import SMTPServerFactory, SMTPTestServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("RELEASE_BOT_CRASH_KILLS", "30"))
SEED = int(os.environ.get("RELEASE_BOT_CRASH_SEED", "9"))
REPLY_DELAY = 0.05  # the SMTP server's reply to each final "." (the message is stored before it)
MARK_MARGIN = 0.5  # seconds after a reply within which the bot records it (SQLite commit)


def write_config(folder: Path, http: LocalHTTPServer, smtp: SMTPTestServer) -> Path:
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        '[bot]\nstate = "state.sqlite3"\n[http]\ntimeout = "20s"\nretry_initial = "10s"\n'
        + flatcar_source(http)
        + mbox_output()
        + mail_output(smtp.port),
        encoding="utf-8",
    )
    return path


def command(path: Path) -> list[str]:
    return [sys.executable, "-m", "bot", "-c", str(path), "--log-level", "error", "once"]


def once(path: Path) -> float:
    started = time.monotonic()
    result = subprocess.run(command(path), capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def integrity(path: Path) -> str:
    if not path.exists():
        return "ok"
    db = sqlite3.connect(path, timeout=30)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def mbox_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]) for m in box]
    finally:
        box.close()


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(
    http_server: LocalHTTPServer, smtp_server: SMTPServerFactory, tmp_path: Path
) -> None:
    # the control: the same replay without kills
    control_smtp = smtp_server()
    control_smtp.reply_late(REPLY_DELAY, times=10**9)
    control = write_config(tmp_path / "control", http_server, control_smtp)
    durations = []
    for snapshot in SNAPSHOTS:
        serve_history(http_server, snapshot)
        durations.append(once(control))
    expected_mbox = mbox_ids(tmp_path / "control" / "out.mbox")
    expected_mail = sorted(str(m.message["Message-ID"]) for m in control_smtp.messages)
    # one mbox message per event; the list gets one mail per release, with the deprecation notices
    # arriving with it inside that mail (bot.presentation.mailcontext): a release mail per release
    # message of the mbox, and no more notice mails than the mbox has notices
    releases_mbox = [m for m in expected_mbox if not m.startswith("<deprecation.")]
    releases_mail = [m for m in expected_mail if not m.startswith("<deprecation.")]
    assert len(releases_mbox) == len(releases_mail) >= 10
    assert len(expected_mail) - len(releases_mail) < len(expected_mbox) - len(releases_mbox)

    smtp = smtp_server()
    smtp.reply_late(REPLY_DELAY, times=10**9)
    path = write_config(tmp_path / "crash", http_server, smtp)
    state = tmp_path / "crash" / "state.sqlite3"
    rng = random.Random(SEED)
    window = max(durations) * 1.2
    kills: list[float] = []
    for index, snapshot in enumerate(SNAPSHOTS):
        serve_history(http_server, snapshot)
        for _ in range(KILLS // len(SNAPSHOTS) + (1 if index < KILLS % len(SNAPSHOTS) else 0)):
            process = subprocess.Popen(
                command(path), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.0, window))
            kills.append(time.monotonic())
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert integrity(state) == "ok", f"after kill {len(kills)}"
        once(path)  # finish this snapshot cleanly
    once(path)

    got_mbox = mbox_ids(tmp_path / "crash" / "out.mbox")
    assert [i for i, n in Counter(got_mbox).items() if n > 1] == []  # 0 duplicate Message-IDs
    assert sorted(got_mbox) == sorted(expected_mbox)  # 0 lost, nothing extra
    received = Counter(str(m.message["Message-ID"]) for m in smtp.messages)
    assert sorted(received) == expected_mail  # 0 lost, nothing extra
    for mid, copies in received.items():
        if copies == 1:
            continue
        windows = [(stored, replied) for m, stored, replied in smtp.timeline if m == mid]
        # each copy but the last was stored while a kill stopped the bot before it recorded the reply
        unexplained = [
            (stored, replied)
            for stored, replied in windows[:-1]
            if not any(stored <= kill <= replied + MARK_MARGIN for kill in kills)
        ]
        assert unexplained == [], f"{mid}: {copies} copies, not explained by a kill in the late-reply window"
    assert len(kills) == KILLS
    print(
        f"{len(kills)} kills; {len(got_mbox)} mbox messages, {sum(received.values())} mails received for "
        f"{len(received)} Message-IDs ({sum(received.values()) - len(received)} in the late-reply window)"
    )
