"""The commented chat examples of config.example.toml (Matrix, Discord, Mastodon, Apprise) are valid:
uncommented into the whole example, `check-config` accepts the file with the environment variables
set (and names each one that is not), and every key the chat outputs know is shown."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bot import cli
from bot.config import load_config
from bot.config.apprise import AppriseOutput
from bot.config.discord import DiscordOutput
from bot.config.mastodon import MastodonOutput
from bot.config.matrix import MatrixOutput

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
START, END = "# --- chat examples start\n", "# --- chat examples end"
SECRETS = {
    "MATRIX_TOKEN": "syt_x",
    "DISCORD_BOT_TOKEN": "t",
    "MASTODON_TOKEN": "m",
    "APPRISE_URLS": "json://127.0.0.1/",
}


def uncommented(text: str) -> tuple[str, str]:
    """(the whole example with the chat block uncommented, the block alone)."""
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    lines = []
    for line in block.splitlines():
        assert line.startswith("#"), line
        if line.startswith("# #") or line == "#":
            continue  # prose
        lines.append(line[2:])
    toml = "\n".join(lines) + "\n"
    return head + toml + tail, toml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_accepts_the_uncommented_chat_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    text, _ = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    path = write(tmp_path, text)
    assert cli.main(["-c", str(path), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err and "error" not in err, err
    dump = json.loads(out[out.index("\n{") + 1 :])
    kinds = [o["kind"] for o in dump["outputs"]]
    assert kinds[-4:] == ["matrix", "discord", "mastodon", "apprise"]
    config = load_config(path)
    matrix, discord = config.outputs[-4], config.outputs[-3]
    assert isinstance(matrix, MatrixOutput) and [r.room for r in matrix.rooms] == [
        "#flatcar:example.org",
        "#flatcar-security:example.org",
    ]
    assert matrix.rooms[1].filter.security and not matrix.rooms[0].filter.security
    assert isinstance(discord, DiscordOutput) and discord.mode == "bot"
    assert discord.journal == tmp_path / "state/discord-discord.attempts.json"


def test_without_the_variables_check_config_names_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    path = write(tmp_path, uncommented(EXAMPLE.read_text(encoding="utf-8"))[0])
    assert cli.main(["-c", str(path), "check-config"]) == 0
    err = capsys.readouterr().err
    for name in SECRETS:
        assert f"= {name}: the environment variable is not set" in err


def test_the_webhook_variant_is_valid_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, _ = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    text = text.replace('bot_token_env = "DISCORD_BOT_TOKEN"', 'webhook_url_env = "DISCORD_WEBHOOK"', 1)
    text = text.replace('channel_id = "123456789012345678"', 'thread_id = "123456789012345678"', 1)
    discord = load_config(write(tmp_path, text)).outputs[-3]
    assert isinstance(discord, DiscordOutput) and discord.mode == "webhook"


def test_every_chat_key_is_shown(tmp_path: Path) -> None:
    import tomllib

    block = tomllib.loads(uncommented(EXAMPLE.read_text(encoding="utf-8"))[1])
    shown = {o["kind"]: set(o) for o in block["outputs"]}
    internal = {"kind", "name", "filter"}
    # the webhook-only keys are named in the Discord example's prose; api_url is for local stand-ins
    hidden = {"discord": {"webhook_url_env", "thread_id", "username", "api_url"}}
    for kind, cls in (
        ("matrix", MatrixOutput),
        ("discord", DiscordOutput),
        ("mastodon", MastodonOutput),
        ("apprise", AppriseOutput),
    ):
        fields = {f.name for f in dataclasses.fields(cls)} - internal - hidden.get(kind, set())
        assert fields <= shown[kind], (kind, fields - shown[kind])


BAD = [
    (
        'kind = "matrix"\nhomeserver = "http://matrix.example.org"\nuser_id = "@b:x"\n'
        'access_token_env = "T"\n[[outputs.rooms]]\nroom = "#r:x"\n',
        "outputs[0].homeserver: the access token",
    ),
    (
        'kind = "matrix"\nhomeserver = "https://m.x"\nuser_id = "bot"\naccess_token_env = "T"\n',
        "outputs[0].user_id: expected a Matrix user id",
    ),
    (
        'kind = "matrix"\nhomeserver = "https://m.x"\nuser_id = "@b:x"\naccess_token_env = "T"\n',
        "outputs[0].rooms: expected at least one",
    ),
    ('kind = "discord"\n', "outputs[0].webhook_url_env: required"),
    ('kind = "discord"\nbot_token_env = "T"\n', "outputs[0].channel_id: required with bot_token_env"),
    ('kind = "discord"\nwebhook_url_env = "W"\nstyle = "fancy"\n', "outputs[0].style: expected one of"),
    (
        'kind = "mastodon"\ninstance = "http://social.example"\naccess_token_env = "T"\n',
        "outputs[0].instance: the access token must not travel in clear text",
    ),
    (
        'kind = "mastodon"\ninstance = "https://s.example"\naccess_token_env = "T"\nvisibility = "all"\n',
        "outputs[0].visibility: expected one of",
    ),
    ('kind = "mastodon"\ninstance = "https://social.example"\n', "outputs[0].access_token_env: required"),
    ('kind = "apprise"\n', "outputs[0].urls_env: required"),
    ('kind = "apprise"\nurls_env = "not a name"\n', "outputs[0].urls_env: expected the name"),
    ('kind = "apprise"\nurls_env = "U"\nurl = "x"\n', "outputs[0].url: unknown key"),
]


@pytest.mark.parametrize(("table", "message"), BAD)
def test_check_config_refuses_bad_chat_outputs_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    text = f'[[sources]]\nname = "flatcar"\nkind = "flatcar"\n[[outputs]]\nname = "chat"\n{table}'
    path = write(tmp_path, text)
    assert cli.main(["-c", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"release-bot: error: {path}: {message}"), err
    assert "Traceback" not in err
