"""`send-test-message` through the Discord stand-in (each step printed) and `discord register-commands`
against a local server standing in for Discord's application commands endpoint."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakediscord import FakeDiscordServer, fake_discord
from tests.httpserver import LocalHTTPServer

__all__ = ["fake_discord"]


def test_send_test_message_through_discord(
    tmp_path: Path,
    fake_discord: FakeDiscordServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[bot]\nstate = "s.sqlite3"\n[[sources]]\nname = "flatcar"\nkind = "flatcar"\n'
        '[[outputs]]\nname = "chat"\nkind = "discord"\nwebhook_url_env = "HOOK"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOOK", fake_discord.webhook_url)
    assert main(["-c", str(path), "send-test-message", "chat"]) == 0
    out = capsys.readouterr().out
    assert "chat: connecting" in out and "chat: delivered" in out
    assert len(fake_discord.discord.messages) == 1
    monkeypatch.setenv("HOOK", fake_discord.webhook_url + "-wrong")
    assert main(["-c", str(path), "send-test-message", "chat"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "401" in out and "fake-webhook-token" not in out  # the URL's secret
    assert main(["-c", str(path), "send-test-message", "nope"]) == 2


def test_register_commands(
    http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str, list[dict[str, object]]]] = []

    def commands(handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.request_body)  # type: ignore[attr-defined]
        seen.append((handler.command, str(handler.headers.get("Authorization")), body))
        data = json.dumps([{**c, "id": str(i)} for i, c in enumerate(body)]).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    http_server.set_handler("/applications/11/guilds/22/commands", commands)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "bot-token")
    argv = [
        "discord",
        "register-commands",
        "--application-id",
        "11",
        "--guild-id",
        "22",
        "--api",
        http_server.url("/"),
    ]
    assert main(argv) == 0
    assert "registered /release, /changes" in capsys.readouterr().out
    ((method, auth, body),) = seen
    assert (method, auth) == ("PUT", "Bot bot-token")
    assert body[0]["name"] == "release"
