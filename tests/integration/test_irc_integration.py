"""The IRC output against real servers started by fixtures on 127.0.0.1 (tests/ircnet.py):
InspIRCd + Atheme (TLS, SASL PLAIN and EXTERNAL, NickServ) and ngIRCd.

The whole bot runs (real pipeline over the real Flatcar history served by a local HTTP server, the
SQLite outbox, `Bot.run`), and listening clients check what the channels really see. Listener calls
block, so they run in threads (`asyncio.to_thread`) while the bot runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.app import Bot
from bot.config import load_config
from bot.irc.client import ConnectSettings, IrcClient
from bot.irc.protocol import Incoming, SessionConfig
from bot.sinks.irc import IrcChannelSink, IrcNetwork
from tests.helpers import DATA, SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.ircnet import IrcListener, IrcServer, open_listeners
from tests.replay import serve_history

pytestmark = pytest.mark.integration

FILES = ("alpha", "beta", "stable", "lts")
PASSWORD_ENV = "RB_IT_SASL_PASSWORD"


def golden_irc(name: str) -> list[str]:
    """The announcement lines of a golden file (what a channel with no filter must see, in order)."""
    text = (DATA / "golden" / name).read_text(encoding="utf-8")
    return [line[len("irc: ") :] for line in text.splitlines() if line.startswith("irc: ")]


FEB = golden_irc("2025-01-31_to_2025-02-18.txt")  # 4 announcements
MAR = golden_irc("2025-02-18_to_2025-03-20.txt")  # 4 announcements


def serve(http: LocalHTTPServer, snapshot: str, *, patch: Callable[[str, Any], None] | None = None) -> None:
    serve_history(http, snapshot, FILES, patch=patch)


def irc_output(
    server: IrcServer, channels: str, *, tls: bool = False, port: int | None = None, **keys: Any
) -> str:
    """An [[outputs]] kind = "irc" table for `server` (fast reconnects for tests) plus `channels`."""
    values: dict[str, Any] = {
        "host": server.host,
        "port": port or (server.tls_port if tls else server.port),
        "tls": tls,
        "reconnect_initial": "0.3s",
        "reconnect_max": "1s",
        "connect_timeout": "20s",
        "flood_burst": 4,
        "flood_interval": "0.3s",
        "rejoin_delay": "0.5s",
        "user_rate_burst": 20,
        "channel_rate_burst": 20,
    }
    if tls and server.ca_file is not None:
        values["ca_file"] = str(server.ca_file)
    values.update(keys)
    admins = values.pop("admins", None)
    lines = ["[[outputs]]", 'name = "net"', 'kind = "irc"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    if admins:
        lines += ["[outputs.admins]", f"accounts = {json.dumps(admins)}"]
    return "\n".join(lines) + "\n" + textwrap.dedent(channels)


def write_config(tmp_path: Path, http: LocalHTTPServer, output: str, *, first_run: int = 0) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        deliver_interval = "1s"

        [http]
        timeout = "5s"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{http.url("/flatcar/")}"
        announce_on_first_run = {first_run}

        """)
        + output,
        encoding="utf-8",
    )
    return path


async def wait(
    listener: IrcListener, predicate: Callable[[str], bool], within: float = 30.0, since: int = 0
) -> str:
    return await asyncio.to_thread(listener.wait_for, predicate, within, since=since)


def texts(listener: IrcListener, target: str) -> list[str]:
    return [text for _, _, _, text in listener.privmsgs(target)]


_syncs = itertools.count(1)


async def sync(listener: IrcListener, within: float = 30.0) -> None:
    """Wait until `listener` has read everything the server sent it so far: it sends a PING and waits
    for the PONG, which the server writes after every earlier line (a barrier, not a sleep)."""
    token = f"sync-{next(_syncs)}"
    mark = listener.mark()
    listener.send_raw(f"PING :{token}")
    await wait(listener, lambda line: " PONG " in line and line.endswith(token), within, since=mark)


async def until(predicate: Callable[[], bool], within: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(
    config: Path, *, prepare: Callable[[Bot], Awaitable[None]] | None = None
) -> AsyncIterator[Bot]:
    """The bot daemon (`Bot.run`) in a task; stopped (QUIT, closed) afterwards, whatever happened."""
    bot = Bot(load_config(config))
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        if prepare is not None:
            await prepare(bot)
        task = asyncio.create_task(bot.run(stop))
        yield bot
    finally:
        stop.set()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
        await bot.aclose()


def network(bot: Bot) -> IrcNetwork:
    sink = next(s for s in bot.sinks if isinstance(s, IrcChannelSink))
    return sink.network


def run(coro: Awaitable[None], timeout: float = 120) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro, timeout)

    asyncio.run(main())


@contextlib.contextmanager
def listeners(server: IrcServer, nicks: list[str], **kwargs: Any) -> Iterator[list[IrcListener]]:
    opened = open_listeners(server, nicks, **kwargs)
    try:
        yield opened
    finally:
        for listener in opened:
            listener.close()


def baseline_then(http: LocalHTTPServer, before: str, after: str) -> Callable[[Bot], Awaitable[None]]:
    """Poll `before` (a silent baseline), then serve `after` and poll again: its events are queued."""

    async def prepare(bot: Bot) -> None:
        serve(http, before)
        assert all(p.ok for p in await bot.poll_all())
        serve(http, after)
        polls = await bot.poll_all()
        assert all(p.ok for p in polls) and sum(len(p.announced) for p in polls) > 0

    return prepare


# --------------------------------------------------------------------------------------------------
# InspIRCd + Atheme: TLS, SASL PLAIN, routing, commands, admin
# --------------------------------------------------------------------------------------------------


def test_announcements_routed_over_tls_with_sasl_plain(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "testpass")
    channels = """
    [[outputs.channels]]
    name = "#ra-all"
    [[outputs.channels]]
    name = "#ra-stable"
    [outputs.channels.filter]
    channels = ["stable"]
    [[outputs.channels]]
    name = "#ra-promo"
    notice = true
    [outputs.channels.filter]
    kinds = ["promotion"]
    [[outputs.channels]]
    name = "#ra-lts"
    [outputs.channels.filter]
    channels = ["lts"]
    """
    output = irc_output(
        irc_net, channels, tls=True, nick="ra-bot", sasl="PLAIN", sasl_username="testbot",
        sasl_password_env=PASSWORD_ENV, admins=["otherbot"],
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)
    names = ["#ra-all", "#ra-stable", "#ra-promo", "#ra-lts"]

    async def test() -> None:
        with listeners(irc_net, ["ra-watch"], channels=names) as (watcher,):
            async with running(config, prepare=baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])) as bot:
                # each channel's last announcement (the channels are delivered in parallel)
                last = {"#ra-all": MAR[-1], "#ra-stable": MAR[1], "#ra-promo": MAR[0], "#ra-lts": MAR[3]}
                for channel, text in last.items():

                    def seen(line: str, c: str = channel, t: str = text) -> bool:
                        return f" {c} :" in line and t in line

                    await wait(watcher, seen)
                session = network(bot).client.session  # type: ignore[union-attr]
                assert session is not None and session.account == "testbot"  # SASL PLAIN over TLS
                assert texts(watcher, "#ra-all") == MAR
                assert texts(watcher, "#ra-stable") == [MAR[1]]
                assert texts(watcher, "#ra-promo") == [MAR[0]]
                assert [m for m in watcher.lines if " NOTICE #ra-promo :" in m[1]]  # notice = true
                assert texts(watcher, "#ra-lts") == [MAR[2], MAR[3]]
                expected = {"net/#ra-all": 4, "net/#ra-stable": 1, "net/#ra-promo": 1, "net/#ra-lts": 2}
                await until(
                    lambda: bot.store.outbox_counts() == {k: {"delivered": n} for k, n in expected.items()},
                    30,
                    "the outbox marked delivered",
                )

    run(test())


def test_commands_in_channel_in_private_and_admin(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "testpass")
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rc"\n', nick="rc-bot", sasl="PLAIN",
        sasl_username="testbot", sasl_password_env=PASSWORD_ENV, admins=["otherbot"],
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        admin = await asyncio.to_thread(
            IrcListener, irc_net, "rc-admin", channels=["#rc"], sasl=("otherbot", "otherpass")
        )
        with listeners(irc_net, ["rc-user"], channels=["#rc"]) as (user,), contextlib.closing(admin):
            async with running(config, prepare=baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])):
                await wait(user, lambda line: MAR[-1] in line)

                mark = user.mark()
                user.privmsg("#rc", "!release stable")
                reply = await wait(
                    user, lambda line: line.startswith(":rc-bot!") and "stable" in line, since=mark
                )
                assert reply.endswith(
                    "PRIVMSG #rc :rc-user: Flatcar stable 4152.2.2 (2025-03-20) — kernel 6.6.83, systemd "
                    "255, "
                    "docker 27.2.1, containerd 1.7.23, ignition 2.20.0 — "
                    "https://www.flatcar.org/releases#release-4152.2.2"
                )

                mark = user.mark()
                user.privmsg("#rc", "rc-bot: changes stable")
                reply = await wait(
                    user, lambda line: line.startswith(":rc-bot!") and "since" in line, since=mark
                )
                assert "PRIVMSG #rc :rc-user: Flatcar stable 4152.2.2 (2025-03-20) since 4152.2.1" in reply

                mark = user.mark()
                user.privmsg("rc-bot", "release 4230.1.0")  # a private query: the answer comes privately
                reply = await wait(
                    user, lambda line: line.startswith(":rc-bot!") and "4230.1.0" in line, since=mark
                )
                assert " PRIVMSG rc-user :Flatcar beta 4230.1.0 (2025-03-20)" in reply

                mark = user.mark()
                user.privmsg("#rc", "!release")
                reply = await wait(
                    user,
                    lambda line: line.startswith(":rc-bot!") and ":rc-user: Flatcar: " in line,
                    since=mark,
                )
                assert reply.endswith(
                    ":rc-user: Flatcar: alpha 4230.0.1 (2025-02-18) | beta 4230.1.0 (2025-03-20) | stable "
                    "4152.2.2 (2025-03-20) | LTS-2024 4081.3.2 (2025-03-20) | LTS-2023 3510.3.7 (2025-03-20)"
                )

                mark = user.mark()
                user.privmsg("#rc", "!pause")
                await wait(
                    user,
                    lambda line: line.endswith(":sorry, !pause is for the bot's admins only"),
                    since=mark,
                )

                mark = admin.mark()
                admin.privmsg("#rc", "!pause")
                await wait(admin, lambda line: ":announcements paused in #rc" in line, since=mark)
                mark = admin.mark()
                admin.privmsg("rc-bot", "status")
                reply = await wait(
                    admin, lambda line: line.startswith(":rc-bot!") and " rc-admin :" in line, since=mark
                )
                assert "PRIVMSG rc-admin :rc-bot on 127.0.0.1:" in reply
                assert "account testbot" in reply and "#rc (paused)" in reply
                mark = admin.mark()
                admin.privmsg("#rc", "!resume #rc")
                await wait(admin, lambda line: ":announcements resumed in #rc" in line, since=mark)

                # an unknown command: silence in the channel, a hint when addressed by nick
                mark = user.mark()
                user.privmsg("#rc", "!frobnicate")
                user.privmsg("#rc", "rc-bot: frobnicate")
                reply = await wait(user, lambda line: line.startswith(":rc-bot!"), since=mark)
                assert reply.endswith(":rc-user: unknown command 'frobnicate'; try !help")

    run(test())


def test_sasl_external_with_a_client_certificate(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    assert irc_net.client_cert is not None and irc_net.client_key is not None
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rx"\n', tls=True, nick="rx-bot", sasl="EXTERNAL",
        client_cert=str(irc_net.client_cert), client_key=str(irc_net.client_key),
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(irc_net, ["rx-watch"], channels=["#rx"]) as (watcher,):
            async with running(config, prepare=baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])) as bot:
                await wait(watcher, lambda line: MAR[-1] in line)
                session = network(bot).client.session  # type: ignore[union-attr]
                assert session is not None and session.account == "testbot"

    run(test())


def test_tls_certificate_is_verified_by_default(irc_net: IrcServer) -> None:
    """The testbed's certificate is self-signed: without its ca_file the connection must not be made."""
    assert irc_net.tls_port is not None

    class Quiet:
        def on_registered(self, nick: str) -> None: ...
        def on_joined(self, channel: str) -> None: ...
        def on_left(self, channel: str, reason: str) -> None: ...
        def on_incoming(self, message: Incoming) -> None: ...
        def on_auth_failed(self, reason: str, fatal: bool) -> None: ...
        def on_disconnected(self, reason: str) -> None: ...

    async def test() -> None:
        assert irc_net.tls_port is not None
        settings = ConnectSettings(host=irc_net.host, port=irc_net.tls_port, tls=True, reconnect_initial=30)
        config = SessionConfig(nick="rv-bot", username="rv", realname="r")
        client = IrcClient(name="rv", settings=settings, session_config=config, listener=Quiet())
        client.start()
        try:
            await until(lambda: client.stats.last_error is not None, what="the first connection attempt")
            assert "TLS certificate verification failed" in (client.stats.last_error or "")
            assert client.stats.connects == 0 and not client.connected
        finally:
            await client.stop()

    run(test())


def test_sasl_external_with_an_unknown_certificate_is_refused(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=stranger", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rxf"\n', tls=True, nick="rxf-bot", sasl="EXTERNAL",
        client_cert=str(cert), client_key=str(key), reconnect_initial="30s",
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)
    serve(http_server, SNAPSHOTS[2])

    async def test() -> None:
        with listeners(irc_net, ["rxf-watch"], channels=["#rxf"]) as (watcher,):
            async with running(config) as bot:
                await until(lambda: network(bot).client is not None, what="the connection to start")
                client = network(bot).client
                assert client is not None
                await until(lambda: client.fatal_error is not None, what="the SASL failure")
                assert "SASL EXTERNAL as 'rxf-bot' failed" in (client.fatal_error or "")
                assert "not continuing unauthenticated" in (client.fatal_error or "")
                assert not client.connected
                await sync(watcher)
                assert not any(line.startswith(":rxf-bot!") for _, line in watcher.lines)

    run(test())


def test_sasl_failure_stops_unless_allowed(
    irc_net: IrcServer,
    http_server: LocalHTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong password")
    channels = '[[outputs.channels]]\nname = "#rf"\n'
    serve(http_server, SNAPSHOTS[2])

    async def test() -> None:
        with listeners(irc_net, ["rf-watch"], channels=["#rf"]) as (watcher,):
            strict = irc_output(
                irc_net, channels, nick="rf-bot", sasl="PLAIN", sasl_username="testbot",
                sasl_password_env=PASSWORD_ENV, connect_timeout="5s", reconnect_initial="30s",
            )  # fmt: skip
            config = write_config(tmp_path, http_server, strict)
            async with running(config) as bot:
                await until(lambda: network(bot).client is not None, what="the connection to start")
                client = network(bot).client
                assert client is not None
                await until(lambda: client.fatal_error is not None, what="the SASL failure")
                assert "SASL PLAIN as 'testbot' failed: saslfail" in (client.fatal_error or "")
                assert "not continuing unauthenticated" in (client.fatal_error or "")
                assert not client.connected
                assert not any(" JOIN " in line and "rf-bot" in line for _, line in watcher.lines)
            assert "SASL PLAIN as 'testbot' failed" in caplog.text

            lenient = irc_output(
                irc_net, channels, nick="rf-bot2", sasl="PLAIN", sasl_username="testbot",
                sasl_password_env=PASSWORD_ENV, sasl_required=False,
            )  # fmt: skip
            (tmp_path / "lenient").mkdir()
            config = write_config(tmp_path / "lenient", http_server, lenient)
            async with running(config) as bot:
                await wait(watcher, lambda line: line.startswith(":rf-bot2!") and " JOIN " in line)
                session = network(bot).client.session  # type: ignore[union-attr]
                assert session is not None and session.account is None

    run(test())


def test_nickserv_identify_when_sasl_is_not_used(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "testpass")
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rn-ns"\n', nick="rns-bot", sasl_username="testbot",
        nickserv_password_env=PASSWORD_ENV,
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)
    serve(http_server, SNAPSHOTS[2])

    async def test() -> None:
        with listeners(irc_net, ["rns-watch"], channels=["#rn-ns"]) as (watcher,):
            async with running(config) as bot:
                await wait(watcher, lambda line: line.startswith(":rns-bot!") and " JOIN " in line)
                session = network(bot).client.session  # type: ignore[union-attr]
                assert session is not None and session.account == "testbot"  # identified before joining

    run(test())


# --------------------------------------------------------------------------------------------------
# Flood control, backlog summary
# --------------------------------------------------------------------------------------------------


def test_flood_pacing_measured_by_the_receiver_and_replies_first(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    burst, interval = 3, 1.0
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rp"\n', nick="rp-bot", flood_burst=burst,
        flood_interval=f"{interval}s", backlog_summary_threshold=100,
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)

    async def prepare(bot: Bot) -> None:
        serve(http_server, SNAPSHOTS[0])
        await bot.poll_all()
        for snapshot in SNAPSHOTS[1:]:
            serve(http_server, snapshot)
            await bot.poll_all()

    async def test() -> None:
        with listeners(irc_net, ["rp-watch"], channels=["#rp"]) as (watcher,):
            async with running(config, prepare=prepare):
                await wait(watcher, lambda line: FEB[1] in line)  # the second announcement is out
                asked = time.monotonic()
                watcher.privmsg("#rp", "!release stable")
                await wait(watcher, lambda line: MAR[-1] in line, within=60)
            seen = watcher.privmsgs("#rp")
            announcements = [(t, text) for t, nick, _, text in seen if nick == "rp-bot" and text in FEB + MAR]
            assert [text for _, text in announcements] == FEB + MAR  # all, once, in order
            (reply_time,) = [
                t
                for t, nick, _, text in seen
                if nick == "rp-bot" and text.startswith("rp-watch: Flatcar stable")
            ]
            # the reply overtook the queued announcements: it came within an interval or so (in turn it
            # would have waited ~6 s behind them), and announcements were still being sent after it
            assert reply_time - asked < 3 * interval + 0.5
            assert sum(1 for t, _ in announcements if t > reply_time) >= 3
            # pacing: in any window, at most burst + window / interval lines. The receiver's timestamps
            # are taken by a thread of this process, which a busy machine can hold back for a moment: a
            # late first line makes a window look shorter, hence the slack (without flood control all
            # 9 lines would arrive within a few milliseconds, and fail this by far)
            jitter = 0.3
            times = sorted(t for t, nick, _, _ in seen if nick == "rp-bot")
            for i, start in enumerate(times):
                for j in range(i + burst, len(times)):
                    window = times[j] - start
                    assert j - i + 1 <= burst + (window + jitter) / interval, (i, j, window, times)
            span = times[-1] - times[0]
            assert span >= (len(times) - burst) * interval - jitter

    run(test())


def test_a_long_backlog_is_summarised_not_dropped(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rs"\n', nick="rs-bot", backlog_summary_threshold=3
    )
    config = write_config(tmp_path, http_server, output)

    async def prepare(bot: Bot) -> None:
        serve(http_server, SNAPSHOTS[0])
        await bot.poll_all()
        for snapshot in SNAPSHOTS[1:]:
            serve(http_server, snapshot)
            await bot.poll_all()

    async def test() -> None:
        with listeners(irc_net, ["rs-watch"], channels=["#rs"]) as (watcher,):
            async with running(config, prepare=prepare) as bot:
                await until(
                    lambda: bot.store.outbox_counts().get("net/#rs", {}).get("queued", 0) == 0, 30, "delivery"
                )
                assert bot.store.outbox_counts()["net/#rs"] == {"delivered": 8}
                # delivered = the server answered the bot's PING after relaying every line: once the
                # watcher has read up to its own PONG, it has them all
                await sync(watcher)
            got = texts(watcher, "#rs")
            assert got and len(got) < 8
            # as many as fit in a line, each with its release notes link
            assert got[0].startswith("4 queued announcements (4 more follow): ")
            joined = " ".join(got)
            for line in FEB + MAR:
                assert line.split(" — ")[0] in joined  # every release is named
                assert line.rsplit(" — ", 1)[-1] in joined  # with its link

    run(test())


# --------------------------------------------------------------------------------------------------
# The server dies mid-delivery
# --------------------------------------------------------------------------------------------------


class Gate:
    """A TCP forwarder in front of the IRC server that the test can close to new connections, so the
    bot comes back only after the listener has rejoined (and the listener sees everything)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.target = host, port
        self.open = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._client: asyncio.StreamWriter | None = None  # the newest connection's side towards the bot
        self._at_line_start = True  # the last bytes forwarded to the bot ended a line
        self._forwarded = asyncio.Event()
        #: from the first server line containing this on, nothing more reaches the bot (its
        #: confirmation is lost: a bot "killed between sending and confirming")
        self.drop_from: bytes | None = None
        self.dropping = False

    async def inject(self, *lines: bytes) -> None:
        """Send raw lines to the bot as if the server had sent them, between two of the server's lines."""
        assert self._client is not None, "no connection through the gate"
        while not self._at_line_start:  # the server's line in flight is completed first
            self._forwarded.clear()
            await asyncio.wait_for(self._forwarded.wait(), 30)
        self._client.write(b"".join(line + b"\r\n" for line in lines))
        await self._client.drain()

    async def start(self) -> Gate:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target)
        except OSError:
            writer.close()
            return
        self._writers += [writer, up_writer]
        self._client, self._at_line_start = writer, True

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    drop_from = self.drop_from
                    if dst is self._client and (self.dropping or (drop_from and drop_from in data)):
                        if not self.dropping and drop_from:
                            self.dropping = True
                            dst.write(data[: data.rfind(b"\n", 0, data.index(drop_from)) + 1])
                        continue
                    dst.write(data)
                    if dst is self._client:
                        self._at_line_start = data.endswith(b"\n")
                        self._forwarded.set()
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


def test_server_killed_and_restarted_mid_delivery(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "testpass")

    async def test() -> None:
        gate = await Gate(irc_net.host, irc_net.port).start()
        output = irc_output(
            irc_net, '[[outputs.channels]]\nname = "#rk"\n', port=gate.port, nick="rk-bot", sasl="PLAIN",
            sasl_username="testbot", sasl_password_env=PASSWORD_ENV, flood_burst=1, flood_interval="1s",
            backlog_summary_threshold=100,
        )  # fmt: skip
        config = write_config(tmp_path, http_server, output)

        async def prepare(bot: Bot) -> None:
            serve(http_server, SNAPSHOTS[0])
            await bot.poll_all()
            for snapshot in SNAPSHOTS[1:]:
                serve(http_server, snapshot)
                await bot.poll_all()

        first = await asyncio.to_thread(IrcListener, irc_net, "rk-watch", channels=["#rk"])
        second: IrcListener | None = None
        try:
            async with running(config, prepare=prepare) as bot:
                await wait(first, lambda line: FEB[1] in line)
                gate.open = False
                await asyncio.to_thread(irc_net.stop, True)  # SIGKILL mid-delivery
                client = network(bot).client
                assert client is not None
                await until(lambda: not client.connected, 30, "the bot to notice")
                await asyncio.to_thread(irc_net.start)
                second = await asyncio.to_thread(IrcListener, irc_net, "rk-watch2", channels=["#rk"])
                gate.open = True
                await wait(second, lambda line: MAR[-1] in line, within=60)
                await until(lambda: bot.store.outbox_counts()["net/#rk"] == {"delivered": 8}, 30, "outbox")
            before = [text for _, nick, _, text in first.privmsgs("#rk") if nick == "rk-bot"]
            after = [text for _, nick, _, text in second.privmsgs("#rk") if nick == "rk-bot"]
            assert len(before) >= 2
            assert before + after == FEB + MAR  # each once, in order, nothing lost across the crash
        finally:
            first.close()
            if second is not None:
                second.close()
            await gate.stop()

    run(test(), timeout=150)


# --------------------------------------------------------------------------------------------------
# Hostile input: latin-1, injection in feed data and in query arguments; kick; nick in use
# --------------------------------------------------------------------------------------------------


def test_latin1_from_the_server_and_injection_attempts(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    evil = "6.6.83\r\nPRIVMSG #ri-other :pwned\r\nQUIT :bye\u0000\u0001ACTION waves\u0001\u0003"

    def poison(name: str, data: Any) -> None:
        if name == "stable":
            data["4152.2.2"]["major_software"]["kernel"] = [evil]

    output = irc_output(irc_net, '[[outputs.channels]]\nname = "#ri"\n', nick="ri-bot")
    config = write_config(tmp_path, http_server, output)

    async def prepare(bot: Bot) -> None:
        serve(http_server, SNAPSHOTS[1])
        await bot.poll_all()
        serve(http_server, SNAPSHOTS[2], patch=poison)
        await bot.poll_all()

    async def test() -> None:
        other = await asyncio.to_thread(IrcListener, irc_net, "ri-other", channels=["#ri-other"])
        with listeners(irc_net, ["ri-watch"], channels=["#ri"]) as (watcher,), contextlib.closing(other):
            async with running(config, prepare=prepare):
                await wait(watcher, lambda line: MAR[-1] in line)
                stable = [text for text in texts(watcher, "#ri") if "stable 4152.2.2" in text]
                assert len(stable) == 1 and "PRIVMSG #ri-other :pwned QUIT :byeACTION waves" in stable[0]

                # a latin-1 line (and other undecodable bytes) through the real server
                watcher.send_raw(b"PRIVMSG #ri :caf\xe9 cr\xe8me br\xfbl\xe9e \xff\xfe")
                mark = watcher.mark()
                watcher.send_raw(b"PRIVMSG #ri :!release caf\xe9")
                reply = await wait(watcher, lambda line: line.startswith(":ri-bot!"), since=mark)
                assert reply.endswith(
                    ":ri-watch: unknown channel 'café'; known: alpha, beta, stable, lts-2024, lts-2023, lts"
                )

                # injection in query arguments: CR, CTCP, colour codes
                mark = watcher.mark()
                watcher.send_raw(b"PRIVMSG #ri :!release \x01ACTION x\x01\rPRIVMSG #ri-other :pwned2\x03")
                reply = await wait(watcher, lambda line: line.startswith(":ri-bot!"), since=mark)
                assert "\x01" not in reply and "\r" not in reply and "\x03" not in reply

                mark = watcher.mark()
                watcher.privmsg("#ri", "!release stable")
                await wait(watcher, lambda line: line.startswith(":ri-bot!") and "stable" in line, since=mark)
                # everything the bot sent before that reply was handled by the server before it: once the
                # second client has read up to its own PONG, it has seen whatever reached it
                await sync(other)
            # the bot never sent anything anywhere else: the second client saw no line from it
            assert not [line for _, line in other.lines if line.startswith(":ri-bot!") and "PRIVMSG" in line]
            assert not [line for _, line in other.lines if "pwned" in line]
            from_bot = [line.split(" ", 2) for _, line in watcher.lines if line.startswith(":ri-bot!")]
            assert {parts[1] for parts in from_bot} <= {"JOIN", "PRIVMSG", "QUIT"}
            assert not [parts for parts in from_bot if parts[1] == "QUIT" and "bye" in parts[2]]

    run(test())


def test_malformed_and_latin1_lines_from_the_server_keep_the_connection(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    serve(http_server, SNAPSHOTS[2])

    async def test() -> None:
        gate = await Gate(irc_net.host, irc_net.port).start()
        output = irc_output(irc_net, '[[outputs.channels]]\nname = "#rm"\n', port=gate.port, nick="rm-bot")
        config = write_config(tmp_path, http_server, output)

        async def polled(bot: Bot) -> None:
            assert all(p.ok for p in await bot.poll_all())

        try:
            with listeners(irc_net, ["rm-user"], channels=["#rm"]) as (user,):
                async with running(config, prepare=polled) as bot:
                    await wait(user, lambda line: line.startswith(":rm-bot!") and " JOIN " in line)
                    client = network(bot).client
                    assert client is not None
                    # lines a real server would not send, in the bot's stream from the server
                    await gate.inject(
                        b":irc.test NOTICE rm-bot :caf\xe9 cr\xe8me br\xfbl\xe9e \xff\xfe",  # latin-1
                        b":x!y@z PRIVMSG #rm :\xc3\x28 invalid utf-8",
                        b"PRIVMSG",
                        b":only.a.prefix",
                        b"\x00\x01\x02 garbage \xff",
                        b"@tags-only",
                        b"   ",
                        b":irc.test 001",
                        b":irc.test 005 rm-bot BOT= NICKLEN=abc =x -NOPE :are supported",
                        b":irc.test 352 rm-bot",
                        b":rm-bot!x@y JOIN :#bad\x00chan",
                        b"PING :a\x00b",
                        b":x!y@z PRIVMSG #rm :" + b"\xe9" * 2000,  # longer than any IRC line
                    )
                    mark = user.mark()
                    user.privmsg("#rm", "!release stable")
                    reply = await wait(
                        user, lambda line: line.startswith(":rm-bot!") and "4152.2.2" in line, since=mark
                    )
                    assert " PRIVMSG #rm :rm-user: Flatcar stable 4152.2.2 (2025-03-20)" in reply
                    assert client.connected and client.stats.connects == 1  # never dropped
            errors = [r for r in caplog.records if r.name.startswith("release-bot") and r.levelno >= 40]
            assert not errors, [r.getMessage() for r in errors]
        finally:
            await gate.stop()

    run(test())


def test_kick_rejoin_and_nick_in_use(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    output = irc_output(irc_net, '[[outputs.channels]]\nname = "#rj"\n', nick="rj-bot", alt_nicks=["rj-alt"])
    config = write_config(tmp_path, http_server, output)
    serve(http_server, SNAPSHOTS[2])

    async def test() -> None:
        # rj-op is first in the channel (so it is chanop); then a squatter takes the bot's nick
        op = await asyncio.to_thread(IrcListener, irc_net, "rj-op", channels=["#rj"])
        squatter = await asyncio.to_thread(IrcListener, irc_net, "rj-bot", channels=["#rj"])
        with contextlib.closing(op), contextlib.closing(squatter):
            async with running(config) as bot:
                await wait(op, lambda line: line.startswith(":rj-alt!") and " JOIN " in line)
                client = network(bot).client
                assert client is not None and client.session is not None and client.session.nick == "rj-alt"

                squatter.close()  # the nick is free again: the bot takes it back
                await wait(
                    op, lambda line: line.startswith(":rj-alt!") and " NICK " in line and "rj-bot" in line
                )

                mark = op.mark()
                op.send_raw("KICK #rj rj-bot :testing rejoin")
                await wait(op, lambda line: line.startswith(":rj-bot!") and " JOIN " in line, since=mark)
                await until(lambda: client.is_joined("#rj"), 30, "rejoin")
                mark = op.mark()
                op.privmsg("#rj", "!release beta")
                await wait(op, lambda line: line.startswith(":rj-bot!") and "4230.1.0" in line, since=mark)

    run(test())


# --------------------------------------------------------------------------------------------------
# ngIRCd: a second, simpler server (no services)
# --------------------------------------------------------------------------------------------------


def test_ngircd_smoke_once(
    ngircd_server: IrcServer, http_server: LocalHTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = irc_output(ngircd_server, '[[outputs.channels]]\nname = "#rn"\n', nick="rn-bot")
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(ngircd_server, ["rn-watch"], channels=["#rn"]) as (watcher,):
            bot = Bot(load_config(config))
            try:
                await baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])(bot)
                result = await bot.deliver()  # `release-bot once`: connect, wait for the join, deliver
                assert (result.delivered, result.failed) == (4, 0)
                await wait(watcher, lambda line: MAR[-1] in line)
                mark = watcher.mark()
                watcher.privmsg("#rn", "!release stable")
                await wait(
                    watcher, lambda line: line.startswith(":rn-bot!") and "4152.2.2" in line, since=mark
                )
            finally:
                await bot.aclose()
            await wait(watcher, lambda line: line.startswith(":rn-bot!") and " QUIT " in line)
            assert texts(watcher, "#rn")[:4] == MAR

    run(test())
    # the command line reads the same state: per-channel outbox counts, and the same answers
    capsys.readouterr()
    assert cli.main(["-c", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "output net (irc): 0 queued, 4 delivered, 0 failed permanently" in out
    assert "  net/#rn: 0 queued, 4 delivered, 0 failed permanently" in out
    assert cli.main(["-c", str(config), "query", "!changes", "stable"]) == 0
    assert capsys.readouterr().out.startswith(
        "Flatcar stable 4152.2.2 (2025-03-20) since 4152.2.1 (2025-02-18)"
    )
