"""Crash consistency of the chat outputs: the bundled real history replayed through `once` with a
Matrix room (a real Synapse), a Discord webhook and a Discord bot account (both tests/fakediscord.py,
its answers slowed), the process killed with SIGKILL at random moments (seeded), then finished cleanly.

Checked against a run without kills: the Matrix room receives every announcement exactly once (the
outbox message id is the txnId, so a send repeated after a kill is the same event); so does the Discord
bot account's channel (each post carries a nonce derived from the outbox message id, with
`enforce_nonce`: a post repeated after a kill returns the message Discord already created). The
webhook's channel is at least once: it loses none, and each duplicate is explained by a kill between
Discord storing the message and the bot journaling its answer (webhooks have no idempotency key; the
window is the few milliseconds of one answer per message, here widened to 50 ms).

RELEASE_BOT_CHAT_KILLS sets the number of kills (default 9), RELEASE_BOT_CRASH_SEED the seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fakediscord import BOT_TOKEN, BOT_USER_ID, WEBHOOK_ID, FakeDiscordServer, fake_discord
from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer
from tests.replay import flatcar_source, serve_history
from tests.synapse import Synapse, synapse

__all__ = ["fake_discord", "synapse"]

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("RELEASE_BOT_CHAT_KILLS", "9"))
SEED = int(os.environ.get("RELEASE_BOT_CRASH_SEED", "9"))
# seconds after Discord answered within which the bot records the answer (its journal, then the outbox
# mark); 0.5 s was seen exceeded on a machine at load average ~9, so a kill up to 2 s later explains a copy
MARK_MARGIN = 2.0


def write_config(
    folder: Path, http: LocalHTTPServer, synapse: Synapse, user_id: str, room: str, discord_api: str
) -> Path:
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        '[bot]\nstate = "state.sqlite3"\n[http]\ntimeout = "20s"\nretry_initial = "10s"\n'
        + flatcar_source(http)
        + textwrap.dedent(f"""\
        [[outputs]]
        name = "mx"
        kind = "matrix"
        homeserver = "{synapse.url}"
        user_id = "{user_id}"
        access_token_env = "MATRIX_TOKEN"
        answer_commands = false
        [[outputs.rooms]]
        room = "{room}"
        [[outputs]]
        name = "dc"
        kind = "discord"
        webhook_url_env = "DISCORD_WEBHOOK"
        backlog_summary_threshold = 1000
        [[outputs]]
        name = "dcbot"
        kind = "discord"
        bot_token_env = "DISCORD_BOT_TOKEN"
        channel_id = "9988"
        api_url = "{discord_api}"
        backlog_summary_threshold = 1000
        """),
        encoding="utf-8",
    )
    return path


def key(message: dict[str, object]) -> str:
    embed = message["embeds"][0]  # type: ignore[index]
    return f"{embed['title']}\n{embed.get('description', '')}"


def test_kill_9_matrix_and_discord_bot_exactly_once_discord_webhook_nothing_lost(
    http_server: LocalHTTPServer, synapse: Synapse, fake_discord: FakeDiscordServer, tmp_path: Path
) -> None:
    owner, bot = synapse.register("crashowner"), synapse.register("crashbot")
    control_room = synapse.create_room(owner, "crashcontrol")
    crash_room = synapse.create_room(owner, "crashroom")
    env = {
        **os.environ,
        "MATRIX_TOKEN": bot.token,
        "DISCORD_WEBHOOK": fake_discord.webhook_url,
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
    }
    fake_discord.discord.bucket_limit = 10**6
    fake_discord.discord.answer_delay = 0.05

    def once(path: Path) -> float:
        started = time.monotonic()
        cmd = [sys.executable, "-m", "bot", "-c", str(path), "--log-level", "error", "once"]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, cwd=REPO, env=env, check=False
        )
        assert result.returncode == 0, result.stderr
        return time.monotonic() - started

    def titles(author: str = WEBHOOK_ID) -> list[str]:  # title and description: notices share titles
        return [key(m) for m in fake_discord.discord.messages if m["author"]["id"] == author]

    control = write_config(
        tmp_path / "control",
        http_server,
        synapse,
        bot.user_id,
        "#crashcontrol:localhost",
        fake_discord.api_url,
    )
    durations = []
    for snapshot in SNAPSHOTS:
        serve_history(http_server, snapshot)
        durations.append(once(control))

    def bodies(room: str) -> list[str]:
        return [
            str(e["content"]["body"])  # type: ignore[index]
            for e in synapse.messages(owner, room)
            if e["sender"] == bot.user_id
        ]

    expected = bodies(control_room)
    expected_discord = titles()
    assert len(expected) == len(expected_discord) >= 10
    assert titles(BOT_USER_ID) == expected_discord
    fake_discord.discord.forget()  # the crash run's nonces are the control run's: same rows, same sinks

    path = write_config(
        tmp_path / "crash", http_server, synapse, bot.user_id, "#crashroom:localhost", fake_discord.api_url
    )
    hits = fake_discord.discord.nonce_hits
    rng = random.Random(SEED)
    window = max(durations) * 1.2
    kills: list[float] = []
    cmd = [sys.executable, "-m", "bot", "-c", str(path), "--log-level", "error", "once"]
    for index, snapshot in enumerate(SNAPSHOTS):
        serve_history(http_server, snapshot)
        for _ in range(KILLS // len(SNAPSHOTS) + (1 if index < KILLS % len(SNAPSHOTS) else 0)):
            process = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.0, window))
            kills.append(time.monotonic())
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        once(path)
    once(path)

    got = bodies(crash_room)
    assert [b for b, n in Counter(got).items() if n > 1] == []  # exactly once in Matrix
    assert got == expected  # nothing lost, in order
    assert titles(BOT_USER_ID) == expected_discord  # exactly once on the bot account, in order
    received = Counter(titles())
    assert sorted(received) == sorted(expected_discord)  # nothing lost on Discord, nothing extra
    assert len(set(expected_discord)) == len(expected_discord)
    by_id = {str(m["id"]): key(m) for m in fake_discord.discord.messages if m["author"]["id"] == WEBHOOK_ID}
    for title, copies in received.items():
        if copies == 1:
            continue
        windows = [
            (stored, answered)
            for mid, stored, answered in fake_discord.discord.timeline
            if by_id.get(mid) == title
        ]
        unexplained = [
            w for w in windows[:-1] if not any(w[0] <= kill <= w[1] + MARK_MARGIN for kill in kills)
        ]
        assert unexplained == [], f"{title}: {copies} copies, not explained by a kill"
    duplicates = sum(received.values()) - len(received)
    hits = fake_discord.discord.nonce_hits - hits
    print(
        f"{len(kills)} kills; {len(got)} Matrix messages; Discord webhook duplicates: {duplicates}; "
        f"bot-account posts answered from their nonce: {hits}"
    )


pytestmark = pytest.mark.integration
