"""Several instances, one voice (issue 16), with real processes and servers: two `release-bot run`
processes on one PostgreSQL database, a local IRC server (ngIRCd) and an SMTP sink, the bundled real
Flatcar history served by a local HTTP server.

The instance that holds the delivery lock is killed with SIGKILL again and again (RELEASE_BOT_FAILOVER_KILLS,
default 10), each time replaced by a new process; new history arrives between kills and during one
takeover. Checked: every announcement reached the channel exactly once and in order (the golden
lines), every mail exactly once (no duplicate Message-ID), only one instance is ever in the channel,
the standby took over within `takeover_timeout`, and the source was polled once per interval between
the instances (the poll lease), not once per instance.

A second test kills PostgreSQL itself while a bot runs: the bot waits, and once the server is back it
announces what arrived meanwhile, nothing lost or doubled.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.coordination import holders
from bot.store.pgstore import PgStore
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.integration.test_irc_integration import FEB, MAR, irc_output, serve
from tests.ircnet import IrcListener, IrcServer
from tests.postgres import PASSWORD, PASSWORD_ENV, PgCluster
from tests.replay import flatcar_source, mail_output
from tests.smtpserver import SMTPServerFactory, SMTPTestServer

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("RELEASE_BOT_FAILOVER_KILLS", "10"))
TAKEOVER = 30.0  # the configured takeover_timeout (the default)
NICK = "fo-bot"


def _config(
    folder: Path, http: LocalHTTPServer, pg_url: str, irc: IrcServer, smtp: SMTPTestServer, channel: str
) -> Path:
    path = folder / "config.toml"
    output = irc_output(irc, f'[[outputs.channels]]\nname = "{channel}"\n', nick=NICK)
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "{pg_url}"
        state_password_env = "{PASSWORD_ENV}"
        deliver_interval = "1s"
        takeover_timeout = "{TAKEOVER:.0f}s"

        [http]
        timeout = "5s"

        """)
        + flatcar_source(http, interval="10s", announce_on_first_run=0, lts_streams=None)
        + mail_output(smtp.port)
        + output,
        encoding="utf-8",
    )
    return path


class Fleet:
    """The `run` processes of the test, each with its own log file."""

    def __init__(self, folder: Path, config: Path) -> None:
        self.folder = folder
        self.config = config
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._n = 0

    def start(self) -> int:
        self._n += 1
        log = (self.folder / f"run-{self._n}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "-c", str(self.config), "run"],
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[proc.pid] = proc
        return proc.pid

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.procs.pop(pid).wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.folder.glob("run-*.log"))
        )


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Callable[[Path], Fleet]]:
    made: list[Fleet] = []

    def make(config: Path) -> Fleet:
        made.append(Fleet(tmp_path, config))
        return made[-1]

    yield make
    for f in made:
        f.stop_all()


def _until(predicate: Callable[[], bool], within: float, what: str, logs: Callable[[], str]) -> float:
    """Wait for `predicate`; the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"no {what} within {within} s\n{logs()}")
        time.sleep(0.05)
    return time.monotonic() - start


def _leader(store: PgStore) -> int | None:
    found = [h for h in holders(store) if h.what.startswith("delivery")]
    return int(found[0].instance.rsplit(":", 1)[1]) if found else None


def _bot_lines(listener: IrcListener, channel: str) -> list[str]:
    return [text for _, nick, _, text in listener.privmsgs(channel) if nick.startswith(NICK)]


def _mail_ids(smtp: SMTPTestServer) -> list[str]:
    return [str(m.message["Message-ID"]) for m in smtp.messages]


def test_kill_the_active_instance_again_and_again_one_voice_nothing_lost_or_doubled(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    pg_url: str,
    ngircd_server: IrcServer,
    smtp_server: SMTPServerFactory,
    fleet: Callable[[Path], Fleet],
) -> None:
    channel = "#failover"
    smtp = smtp_server()
    serve(http_server, SNAPSHOTS[0])
    run = fleet(_config(tmp_path, http_server, pg_url, ngircd_server, smtp, channel))
    listener = IrcListener(ngircd_server, "fo-watch", channels=[channel])
    run.start()
    run.start()
    _until(lambda: _open_ok(pg_url), 60, "schema", run.logs)
    store = PgStore(pg_url, password=PASSWORD, migrate=False)
    takeovers: list[float] = []
    try:
        _until(lambda: _leader(store) is not None, 60, "leader", run.logs)
        _until(lambda: _polled(store), 60, "baseline poll", run.logs)
        listener.wait_for(lambda line: f":{NICK}" in line and " JOIN " in line, 30)
        http_server.clear_requests()
        began = time.monotonic()
        for kill in range(KILLS):
            if kill == KILLS // 3:  # new history, announced between kills
                serve(http_server, SNAPSHOTS[1])
                _until(lambda: len(_bot_lines(listener, channel)) >= len(FEB), 90, "February lines", run.logs)
            leader = _leader(store)
            assert leader is not None and leader in run.procs, (leader, sorted(run.procs))
            run.kill(leader)
            started = time.monotonic()
            if kill == 2 * KILLS // 3:  # new history while nobody delivers: the next leader announces it
                serve(http_server, SNAPSHOTS[2])
            gone = leader
            _until(lambda: _leader(store) not in (None, gone), TAKEOVER + 30, "takeover", run.logs)  # noqa: B023
            takeovers.append(time.monotonic() - started)
            run.start()  # back to two instances
        expected = FEB + MAR
        _until(lambda: len(_bot_lines(listener, channel)) >= len(expected), 120, "every line", run.logs)

        _until(lambda: _all_delivered(store), 60, "an empty outbox", run.logs)
        time.sleep(3)  # anything doubled would arrive now
        lines = _bot_lines(listener, channel)
        assert lines == expected, f"channel saw {lines}\nexpected {expected}\n{run.logs()}"
        ids = _mail_ids(smtp)
        assert ids and not [i for i, n in Counter(ids).items() if n > 1], ids
        queued = sum(c.get("delivered", 0) for s, c in store.outbox_counts().items() if s == "list")
        assert len(ids) == queued
        # one voice: the bot's nick joined only once at a time (each JOIN after the previous one left)
        joins = [
            line
            for _, line in listener.lines
            if f":{NICK}" in line and (" JOIN " in line or " QUIT " in line)
        ]
        kinds = ["JOIN" if " JOIN " in line else "QUIT" for line in joins]
        assert all(a != b for a, b in itertools.pairwise(kinds)), joins
        assert len(takeovers) == KILLS and max(takeovers) <= TAKEOVER, takeovers
        # the poll lease: two (sometimes three) instances, yet polls of the source start ≥ 0.9 × 10 s
        # apart — never one per instance
        polls = len(http_server.requests_to("/flatcar/releases-alpha.json"))
        assert polls <= (time.monotonic() - began) / 9.0 + 1, polls
        mean = sum(takeovers) / len(takeovers)
        print(f"\n{KILLS} kills; takeover max {max(takeovers):.1f} s, mean {mean:.1f} s")
    finally:
        listener.close()
        store.close()


def _polled(store: PgStore) -> bool:
    status = store.source_status("flatcar")
    return status is not None and status.last_success_at is not None


def _all_delivered(store: PgStore) -> bool:
    counts = store.outbox_counts()
    return bool(counts) and all(set(c) == {"delivered"} for c in counts.values())


def _open_ok(pg_url: str) -> bool:
    try:
        PgStore(pg_url, password=PASSWORD, migrate=False).close()
    except Exception:
        return False
    return True


def test_postgresql_killed_mid_run_the_bot_waits_and_resumes_without_loss(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    pg_url: str,
    pg_cluster: PgCluster,
    ngircd_server: IrcServer,
    smtp_server: SMTPServerFactory,
    fleet: Callable[[Path], Fleet],
) -> None:
    channel = "#pgdown"
    smtp = smtp_server()
    serve(http_server, SNAPSHOTS[0])
    run = fleet(_config(tmp_path, http_server, pg_url, ngircd_server, smtp, channel))
    listener = IrcListener(ngircd_server, "pg-watch", channels=[channel])
    try:
        run.start()
        _until(lambda: _open_ok(pg_url), 60, "schema", run.logs)
        with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
            _until(lambda: _polled(store), 60, "baseline poll", run.logs)
        serve(http_server, SNAPSHOTS[1])
        _until(lambda: len(_bot_lines(listener, channel)) >= len(FEB), 90, "February lines", run.logs)
        with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
            _until(lambda: _all_delivered(store), 30, "February marked delivered", run.logs)
        pg_cluster.kill()  # every connection cut; the bot's polls and deliveries fail
        serve(http_server, SNAPSHOTS[2])
        time.sleep(12)  # at least one poll interval without the database
        assert len(run.procs) == 1 and next(iter(run.procs.values())).poll() is None, run.logs()
        pg_cluster.start()
        expected = FEB + MAR
        _until(lambda: len(_bot_lines(listener, channel)) >= len(expected), 120, "every line", run.logs)
        time.sleep(3)
        assert _bot_lines(listener, channel) == expected, run.logs()
        ids = _mail_ids(smtp)
        with PgStore(pg_url, password=PASSWORD, migrate=False) as store:
            mails = store.outbox_counts()["list"]
        assert mails == {"delivered": len(ids)} and len(ids) == len(set(ids)), (mails, ids)
        assert "cannot connect to the state database" in run.logs()  # it noticed, said so, and waited
    finally:
        listener.close()
