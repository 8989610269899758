"""The asyncio connection against a scripted server (tests/fakeircd.py): bad lines from the server,
guarded handlers, confirmation of delivery, reconnect, PING timeout, reply priority."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.irc.client import ConnectSettings, IrcClient, NotConnected, Refused
from bot.irc.flood import Priority
from bot.irc.protocol import ChannelJoin, Incoming, SessionConfig
from tests.fakeircd import FakeIrcd


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.raise_on_incoming = False
        self.client: IrcClient | None = None

    def on_registered(self, nick: str) -> None:
        self.events.append(("registered", nick))

    def on_joined(self, channel: str) -> None:
        self.events.append(("joined", channel))

    def on_left(self, channel: str, reason: str) -> None:
        self.events.append(("left", channel))

    def on_incoming(self, message: Incoming) -> None:
        self.events.append(("incoming", message.text))
        if self.raise_on_incoming:
            raise RuntimeError("a bug in a handler")
        if self.client is not None and message.text.startswith("!"):
            self.client.queue_text(
                message.target, f"reply to {message.text}", notice=False, priority=Priority.REPLY
            )

    def on_auth_failed(self, reason: str, fatal: bool) -> None:
        self.events.append(("auth_failed", reason))

    def on_disconnected(self, reason: str) -> None:
        self.events.append(("disconnected", reason))


def run(test: Callable[[FakeIrcd], Awaitable[None]]) -> None:
    async def main() -> None:
        server = await FakeIrcd().start()
        try:
            await asyncio.wait_for(test(server), 60)
        finally:
            await server.stop()

    asyncio.run(main())


def make_client(server: FakeIrcd, recorder: Recorder, **settings: object) -> IrcClient:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "tls": False,
        "reconnect_initial": 0.2,
        "reconnect_max": 0.5,
        "flood_burst": 10,
        "flood_interval": 0.05,
        "confirm_timeout": 5.0,
    }
    base.update(settings)
    session = SessionConfig(nick="rbot", username="rb", realname="r", channels=(ChannelJoin("#c"),))
    client = IrcClient(name="t", settings=ConnectSettings(**base), session_config=session, listener=recorder)  # type: ignore[arg-type]
    recorder.client = client
    client.start()
    return client


async def joined(client: IrcClient) -> None:
    assert await client.wait_until(lambda: client.is_joined("#c"), 10), "did not join #c"


def test_bad_lines_from_the_server_do_not_drop_the_connection():
    async def test(server: FakeIrcd) -> None:
        recorder = Recorder()
        client = make_client(server, recorder)
        await joined(client)
        conn = server.conn
        for bad in (
            b":x!y@z PRIVMSG #c :caf\xe9 latin-1 \xff\xfe",
            b"PRIVMSG",
            b":only.prefix",
            b"\x00\x01\x02",
            b":x!y@z QUIT",
            b"@tags-only",
            b":x!y@z PRIVMSG #c :\xc3\x28 invalid utf-8",
            b"   ",
        ):
            conn.send(bad)
        conn.send(":alice!a@h PRIVMSG #c :!ping after garbage")
        await server.wait_for(lambda line: line == "PRIVMSG #c :reply to !ping after garbage")
        assert ("incoming", "café latin-1 ÿþ") in recorder.events
        assert not any(kind == "disconnected" for kind, _ in recorder.events)
        assert len(server.conns) == 1
        await client.stop()

    run(test)


def test_an_exception_in_a_handler_is_contained():
    async def test(server: FakeIrcd) -> None:
        recorder = Recorder()
        recorder.raise_on_incoming = True
        client = make_client(server, recorder)
        await joined(client)
        server.conn.send(":alice!a@h PRIVMSG #c :hello")
        server.conn.send("PING :still-alive")
        await server.wait_for(lambda line: line == "PONG still-alive")
        assert client.connected and len(server.conns) == 1
        await client.stop()

    run(test)


def test_send_text_is_confirmed_by_pong_and_sanitised():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder())
        await joined(client)
        await client.send_text(
            "#c",
            "hi\r\nQUIT :x\x00\x01",
            notice=False,
            priority=Priority.ANNOUNCE,
            confirm=True,
            channel="#c",
        )
        lines = [line for _, line in server.conn.lines]
        index = lines.index("PRIVMSG #c :hi QUIT :x")
        assert lines[index + 1].startswith("PING rb-")
        assert not any(line.startswith("QUIT") for line in lines)
        await client.stop()

    run(test)


def test_no_pong_means_not_delivered():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder(), confirm_timeout=0.5)
        await joined(client)
        server.answer_pings = False
        with pytest.raises(NotConnected, match="did not confirm"):
            await client.send_text(
                "#c", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#c"
            )
        await client.stop()

    run(test)


def test_disconnect_before_confirmation_fails_the_delivery():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder())
        await joined(client)
        server.answer_pings = False
        server.on_line = lambda conn, line: conn.close() if line.startswith("PRIVMSG") else None
        with pytest.raises(NotConnected):
            await client.send_text(
                "#c", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#c"
            )
        await client.stop()

    run(test)


def test_refused_by_the_server():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder())
        await joined(client)

        def refuse(conn, line: str) -> None:
            if line.startswith("PRIVMSG #c"):
                conn.send(":fake.test 404 rbot #c :Cannot send to channel (+m)")

        server.on_line = refuse
        with pytest.raises(Refused, match=r"Cannot send to channel \(\+m\)"):
            await client.send_text(
                "#c", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#c"
            )
        await client.stop()

    run(test)


def test_not_joined_or_not_connected():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder())
        with pytest.raises(NotConnected):
            await client.send_text(
                "#c", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#c"
            )
        await joined(client)
        with pytest.raises(NotConnected, match="not in #other"):
            await client.send_text(
                "#other", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#other"
            )
        await client.stop()

    run(test)


def test_reconnects_and_rejoins_after_the_server_drops_us():
    async def test(server: FakeIrcd) -> None:
        recorder = Recorder()
        client = make_client(server, recorder)
        await joined(client)
        server.drop_all()
        assert await client.wait_until(lambda: not client.connected, 5)
        await joined(client)
        assert len(server.conns) == 2
        kinds = [kind for kind, _ in recorder.events]
        assert kinds.count("joined") == 2 and "left" in kinds and "disconnected" in kinds
        await client.stop()
        assert server.conn.lines[-1][1] == "QUIT :release-bot stopping"

    run(test)


def test_server_down_then_up():
    async def test(server: FakeIrcd) -> None:
        port = server.port
        await server.stop()
        recorder = Recorder()
        client = make_client(server, recorder)
        # a few failed attempts (backoff 0.2 → 0.5)
        assert await client.wait_until(lambda: client.stats.failure_streak >= 2, 20)
        assert not client.connected
        assert "cannot connect" in (client.stats.last_error or "")
        await server.start(port)
        await joined(client)
        assert client.stats.failure_streak == 0
        await client.stop()

    run(test)


def test_ping_timeout_reconnects():
    async def test(server: FakeIrcd) -> None:
        recorder = Recorder()
        session = SessionConfig(
            nick="rbot",
            username="rb",
            realname="r",
            channels=(ChannelJoin("#c"),),
            ping_interval=1.0,
            ping_timeout=1.0,
        )
        client = IrcClient(
            name="t",
            settings=ConnectSettings(host="127.0.0.1", port=server.port, tls=False, reconnect_initial=0.1),
            session_config=session,
            listener=recorder,
        )
        client.start()
        await joined(client)
        server.answer_pings = False
        await server.wait_for(lambda line: line.startswith("PING keepalive"))
        assert await client.wait_until(lambda: len(server.conns) == 2 and client.is_joined("#c"), 10)
        reasons = [str(r) for kind, r in recorder.events if kind == "disconnected"]
        assert reasons and "ping timeout" in reasons[0]
        await client.stop()

    run(test)


def test_replies_go_ahead_of_queued_announcements_and_pacing():
    interval = 0.5

    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder(), flood_burst=1, flood_interval=interval)
        await joined(client)
        start = len(server.conn.lines)
        announcements = [
            asyncio.create_task(
                client.send_text(
                    "#c",
                    f"announcement {i}",
                    notice=False,
                    priority=Priority.ANNOUNCE,
                    confirm=False,
                    channel="#c",
                )
            )
            for i in range(4)
        ]
        # once the first announcement is out, the others wait for tokens: the reply goes before them
        await server.wait_for(lambda line: line == "PRIVMSG #c :announcement 0", within=30)
        client.queue_text("#c", "urgent reply", notice=False, priority=Priority.REPLY)
        await asyncio.gather(*announcements)
        sent = [(t, line) for t, line in server.conn.lines[start:] if line.startswith("PRIVMSG")]
        texts = [line.split(" :", 1)[1] for _, line in sent]
        assert texts == [
            "announcement 0",
            "urgent reply",
            "announcement 1",
            "announcement 2",
            "announcement 3",
        ]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
        assert all(gap >= interval - 0.05 for gap in gaps), gaps  # the server's own timestamps
        await client.stop()

    run(test)


def test_event_loop_is_never_blocked_by_flood_control():
    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder(), flood_burst=1, flood_interval=0.5)
        await joined(client)
        for i in range(5):
            client.queue_text("#c", f"line {i}", notice=False, priority=Priority.REPLY)
        # while five lines wait for tokens (0.5 s each: a blocking sleep would stall the loop that long),
        # the loop stays responsive; the margins allow for a busy machine
        ticks = 0
        stalls = []
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - before)
            ticks += 1
        assert max(stalls) < 0.4, stalls
        assert ticks > 15
        assert client.queued() > 0  # lines were still waiting for tokens all along
        await client.stop()

    run(test)


def test_a_failure_writing_the_confirming_ping_fails_the_delivery_instead_of_hanging():
    """The connection can die between an announcement's last line and the PING that confirms it: the
    waiting delivery must fail (and stay queued), not wait forever and hold up its channel."""

    async def test(server: FakeIrcd) -> None:
        client = make_client(server, Recorder())
        await joined(client)
        write = client.outgoing.write

        async def dying(writer: asyncio.StreamWriter, line: str) -> None:
            await write(writer, line)
            if line.startswith("PRIVMSG #c :x"):
                writer.transport.abort()  # gone right after the message: the PING cannot be written

        client.outgoing.write = dying  # type: ignore[method-assign]
        with pytest.raises(NotConnected):
            await asyncio.wait_for(
                client.send_text(
                    "#c", "x", notice=False, priority=Priority.ANNOUNCE, confirm=True, channel="#c"
                ),
                20,
            )
        client.outgoing.write = write  # type: ignore[method-assign]
        await joined(client)  # and it reconnects as usual
        await client.stop()

    run(test)
