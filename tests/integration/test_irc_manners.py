"""The bot's manners on the real network (tests/ircnet.py: InspIRCd + Atheme): answers that name the
asker, `!release lts` on one line without end-of-life streams, silence on unknown commands, CTCP,
rejoin on INVITE and after a ban is lifted, held lines released by -m, and no doubled line after the
bot is killed between sending an announcement and reading its confirmation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import Bot
from bot.config import load_config
from bot.irc.client import IrcClient
from tests.helpers import SNAPSHOTS, narrow
from tests.httpserver import LocalHTTPServer
from tests.integration.test_irc_integration import (
    MAR,
    Gate,
    baseline_then,
    irc_output,
    listeners,
    network,
    run,
    running,
    serve,
    sync,
    texts,
    until,
    wait,
    write_config,
)
from tests.ircnet import IrcServer

pytestmark = pytest.mark.integration


def with_old_lts(name: str, data: Any) -> None:
    """The real LTS file names LTS-2021 and LTS-2022 only by their current-YYYY pointers; give them
    their release records, as the file had while they were supported (last releases 2022 and 2023)."""
    if name == "lts":
        data["2605.3.9"] = dict(data["current-2021"])
        data["3033.3.18"] = dict(data["current-2022"])


def baseline_with_old_lts(http: LocalHTTPServer):
    async def prepare(bot: Bot) -> None:
        serve(http, SNAPSHOTS[1], patch=with_old_lts)
        assert all(p.ok for p in await bot.poll_all())
        serve(http, SNAPSHOTS[2], patch=with_old_lts)
        assert all(p.ok for p in await bot.poll_all())

    return prepare


def from_bot(nick: str):
    return lambda line: line.startswith(f":{nick}!")


def test_answers_in_a_channel(irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path) -> None:
    output = irc_output(irc_net, '[[outputs.channels]]\nname = "#rq"\n', nick="rq-bot")
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(irc_net, ["rq-user"], channels=["#rq"]) as (user,):
            async with running(config, prepare=baseline_with_old_lts(http_server)):
                await wait(user, lambda line: MAR[-1] in line)

                mark = user.mark()
                user.privmsg("#rq", "!release stable")
                reply = await wait(user, from_bot("rq-bot"), since=mark)
                assert reply.endswith(
                    "PRIVMSG #rq :rq-user: Flatcar stable 4152.2.2 (2025-03-20) — kernel 6.6.83, systemd "
                    "255, docker 27.2.1, containerd 1.7.23, ignition 2.20.0 — "
                    "https://www.flatcar.org/releases#release-4152.2.2"
                )

                # !release lts: one line, the supported streams newest first, no end-of-life stream
                mark = user.mark()
                user.privmsg("#rq", "!release lts")
                reply = await wait(user, from_bot("rq-bot"), since=mark)
                assert " PRIVMSG #rq :rq-user: Flatcar LTS, newest first: LTS-2024 4081.3.2 " in reply
                assert reply.index("LTS-2024") < reply.index("| LTS-2023 3510.3.7")
                assert "LTS-2022" not in reply and "LTS-2021" not in reply
                user.privmsg("#rq", "!help release")  # answered after the line before: a barrier
                await wait(user, lambda line: from_bot("rq-bot")(line) and "Example: " in line, since=mark)
                answers = [t for _, n, _, t in user.privmsgs("#rq")[-5:] if n == "rq-bot"]
                assert sum("LTS, newest first" in t for t in answers) == 1  # one line, not one per stream

                mark = user.mark()
                user.privmsg("#rq", "!release lts all")
                reply = await wait(user, from_bot("rq-bot"), since=mark)
                assert "LTS-2022 3033.3.18 (2023-10-25, kernel " in reply and "end of life)" in reply

                # an unknown command in the channel: silence (the next command's answer comes first)
                mark = user.mark()
                user.privmsg("#rq", "!frobnicate")
                user.privmsg("#rq", "rq-bot help")  # addressed without punctuation
                reply = await wait(user, from_bot("rq-bot"), since=mark)
                assert " PRIVMSG #rq :rq-user: commands: !release" in reply
                await sync(user)
                assert not [
                    line for _, line in user.lines[mark:] if "frobnicate" in line and "rq-bot!" in line
                ]
                # addressed by nick, the hint comes
                mark = user.mark()
                user.privmsg("#rq", "rq-bot: frobnicate")
                await wait(
                    user,
                    lambda line: line.endswith(
                        " PRIVMSG #rq :rq-user: unknown command 'frobnicate'; try !help"
                    ),
                    since=mark,
                )

                # CTCP VERSION, PING and TIME answered by NOTICE
                mark = user.mark()
                user.privmsg("rq-bot", "\x01VERSION\x01")
                reply = await wait(user, lambda line: "\x01VERSION" in line and "rq-bot!" in line, since=mark)
                assert " NOTICE rq-user :\x01VERSION release-bot " in reply
                user.privmsg("rq-bot", "\x01PING 12345\x01")
                await wait(user, lambda line: line.endswith(":\x01PING 12345\x01") and "rq-bot!" in line)

    run(test())


def test_rejoin_at_once_on_invite_and_soon_after_a_ban_is_lifted(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    output = irc_output(
        irc_net, '[[outputs.channels]]\nname = "#rj"\n', nick="rj-bot", rejoin_delay="60s",
        join_retry="60s", join_retry_max="60s",
    )  # fmt: skip
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(irc_net, ["rj-op"], channels=["#rj"]) as (op,):  # the first in: channel operator
            serve(http_server, SNAPSHOTS[2])
            async with running(config) as bot:
                await until(lambda: network(bot).client is not None, 30, "the connection")
                client = narrow(network(bot).client, IrcClient)
                await until(lambda: client.is_joined("#rj"), 30, "the bot in #rj")
                # invite-only, then kicked: the JOIN is refused (473), the next try only in 60 s
                op.send_raw("MODE #rj +i")
                op.send_raw("KICK #rj rj-bot :out")
                await until(lambda: not client.is_joined("#rj"), 10, "the kick")
                await asyncio.sleep(1.0)  # its first rejoin was refused
                mark = op.mark()
                op.send_raw("INVITE rj-bot #rj")
                invited = time.monotonic()
                await wait(op, lambda line: line.startswith(":rj-bot!") and " JOIN " in line, 10, since=mark)
                assert time.monotonic() - invited < 5.0
        # the ban: the default short capped retries (1 s doubling, at most 4 s)
        output2 = irc_output(
            irc_net, '[[outputs.channels]]\nname = "#rb"\n', nick="rb-bot", rejoin_delay="1s"
        )
        config2 = write_config(tmp_path, http_server, output2)
        with listeners(irc_net, ["rb-op"], channels=["#rb"]) as (op,):
            async with running(config2) as bot:
                await until(lambda: network(bot).client is not None, 30, "the connection")
                client = narrow(network(bot).client, IrcClient)
                await until(lambda: client.is_joined("#rb"), 30, "the bot in #rb")
                op.send_raw("MODE #rb +b rb-bot!*@*")
                op.send_raw("KICK #rb rb-bot :banned")
                await until(lambda: not client.is_joined("#rb"), 10, "the kick")
                await asyncio.sleep(12.0)  # refused JOINs; the backoff has reached its cap
                mark = op.mark()
                op.send_raw("MODE #rb -b rb-bot!*@*")
                lifted = time.monotonic()
                await wait(op, lambda line: line.startswith(":rb-bot!") and " JOIN " in line, 10, since=mark)
                assert time.monotonic() - lifted < 5.0

    run(test(), timeout=150)


def test_held_lines_go_out_at_once_after_minus_m(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    output = irc_output(irc_net, '[[outputs.channels]]\nname = "#rh"\n', nick="rh-bot")
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(irc_net, ["rh-op"], channels=["#rh"]) as (op,):
            op.send_raw("MODE #rh +m")  # moderated before the bot comes: its announcements are refused
            await sync(op)
            async with running(config, prepare=baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])) as bot:
                await until(lambda: network(bot).client is not None, 30, "the connection")
                client = narrow(network(bot).client, IrcClient)
                await until(lambda: client.is_joined("#rh"), 30, "the bot in #rh")
                await until(lambda: bool(network(bot).muted), 30, "the first refusal (404)")
                await asyncio.sleep(2.0)
                assert texts(op, "#rh") == []
                mark = op.mark()
                op.send_raw("MODE #rh -m")
                opened = time.monotonic()
                await wait(op, lambda line: MAR[0] in line, 10, since=mark)
                assert time.monotonic() - opened < 5.0
                await wait(op, lambda line: MAR[-1] in line, 30, since=mark)
                assert texts(op, "#rh") == MAR  # each once, in order
                await until(lambda: bot.store.outbox_counts()["net/#rh"] == {"delivered": 4}, 30, "outbox")

    run(test())


def _start_bot(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(config), "--log-level", "info", "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_no_doubled_line_after_a_kill_between_sending_and_confirming(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    """The channel keeps history (+H, InspIRCd chanhistory), the server offers echo-message and
    labeled-response. The gate drops the server's lines to the bot from the echo of its first
    announcement on; the bot is killed (SIGKILL) before it could read any confirmation, then started
    again: it finds its line in the replayed history and does not send it twice."""

    async def test() -> None:
        gate = await Gate(irc_net.host, irc_net.port).start()
        output = irc_output(
            irc_net, '[[outputs.channels]]\nname = "#rx"\n', port=gate.port, nick="rx-bot",
            flood_burst=1, flood_interval="1s", backlog_summary_threshold=100,
        )  # fmt: skip
        config = write_config(tmp_path, http_server, output)
        bot = Bot(load_config(config))
        try:
            await baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])(bot)
        finally:
            await bot.aclose()
        process: subprocess.Popen[str] | None = None
        with listeners(irc_net, ["rx-op"], channels=["#rx"]) as (op,):
            op.send_raw("MODE #rx +H 50:1h")
            await sync(op)
            try:
                gate.drop_from = b" PRIVMSG #rx :" + MAR[0].encode()[:30]
                process = _start_bot(config)
                await wait(op, lambda line: MAR[0] in line, 60)
                await asyncio.sleep(0.5)  # whatever the bot does now, no confirmation reaches it
                assert gate.dropping
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                gate.drop_from, gate.dropping = None, False
                process = _start_bot(config)
                await wait(op, lambda line: MAR[-1] in line, 60)
                await asyncio.sleep(1.0)
                assert texts(op, "#rx") == MAR  # the first one once, not twice
            finally:
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(15)
                    if process.poll() is None:
                        process.kill()
                        process.wait(5)
                if process is not None and process.stderr is not None:
                    log = process.stderr.read()
                    assert "is in the channel's history already; not sent again" in log, log[-3000:]
                await gate.stop()

    run(test(), timeout=180)


def test_echo_message_caps_are_used_on_inspircd(
    irc_net: IrcServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    output = irc_output(irc_net, '[[outputs.channels]]\nname = "#re"\n', nick="re-bot")
    config = write_config(tmp_path, http_server, output)

    async def test() -> None:
        with listeners(irc_net, ["re-user"], channels=["#re"]) as (user,):
            async with running(config, prepare=baseline_then(http_server, SNAPSHOTS[1], SNAPSHOTS[2])) as bot:
                await wait(user, lambda line: MAR[-1] in line)
                client = network(bot).client
                assert client is not None and client.session is not None
                assert {"echo-message", "labeled-response", "message-tags"} <= client.session.caps
                await until(lambda: bot.store.outbox_counts()["net/#re"] == {"delivered": 4}, 30, "outbox")
                assert texts(user, "#re") == MAR

    run(test())
