"""`[[outputs]] kind = "irc"`: the documented example, defaults, errors naming the key, the sinks built."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot import cli
from bot.config import Filter, IrcOutput, load_config
from bot.errors import ConfigError
from bot.irc.config import irc_settings
from bot.sinks import build_sinks
from bot.sinks.irc import IrcChannelSink

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"

HEAD = """\
[bot]
state = "state.sqlite3"

[[sources]]
name = "flatcar"
kind = "flatcar"

[[outputs]]
name = "net"
kind = "irc"
host = "127.0.0.1"
"""
CHANNEL = """
[[outputs.channels]]
name = "#c"
"""


def example_irc_block() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text.split("# --- irc example start\n", 1)[1].split("# --- irc example end", 1)[0]
    lines = []
    for line in block.splitlines():
        assert line.startswith("#"), line
        if line.startswith("# # "):
            continue  # optional keys shown commented out
        lines.append(line[2:])
    return "\n".join(lines) + "\n"


def load(tmp_path: Path, text: str) -> IrcOutput:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    (output,) = [o for o in config.outputs if o.kind == "irc"]
    assert isinstance(output, IrcOutput)
    return output


def error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_example_block_parses_and_shows_the_real_defaults(tmp_path: Path):
    head = HEAD.split("[[outputs]]")[0]
    output = load(tmp_path, head + example_irc_block())
    defaults = IrcOutput(name=output.name, filter=output.filter, host=output.host, channels=output.channels)
    assert output == defaults  # every key the example shows has the value the code uses by default
    settings = irc_settings(output)
    connect = settings.connect
    assert (connect.host, connect.port, connect.tls, connect.flood_burst, connect.flood_interval) == (
        "irc.libera.chat",
        6697,
        True,
        4,
        2.0,
    )
    assert (connect.connect_timeout, connect.reconnect_initial, connect.reconnect_max) == (30.0, 5.0, 300.0)
    first, second = settings.channels
    assert (first.name, first.notice, first.key_env, first.filter) == ("#flatcar", False, None, Filter())
    assert second.filter == Filter(channels=("alpha", "beta"), kinds=("promotion",))


def test_minimal_irc_output_and_plain_port(tmp_path: Path):
    output = load(tmp_path, HEAD + "tls = false\n" + CHANNEL)
    connect = irc_settings(output).connect
    assert connect.port == 6667 and not connect.tls
    assert (output.port, output.tls) == (6667, False)
    assert output.nick == "release-bot" and output.username == "release-bo"
    assert output.sasl is None


def test_channels_inherit_the_output_filter(tmp_path: Path):
    text = HEAD + '[outputs.filter]\nkinds = ["release"]\n' + CHANNEL + '[[outputs.channels]]\nname = "#d"\n'
    text += '[outputs.channels.filter]\nchannels = ["stable"]\n'
    output = load(tmp_path, text)
    assert [c.filter for c in output.channels] == [Filter(kinds=("release",)), Filter(channels=("stable",))]


def test_sasl_settings_and_secrets_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RB_PW", "hunter2")
    monkeypatch.setenv("RB_KEY", "chankey")
    text = HEAD + 'sasl = "plain"\nsasl_username = "acct"\nsasl_password_env = "RB_PW"\n'
    text += CHANNEL + 'key_env = "RB_KEY"\n'
    settings = irc_settings(load(tmp_path, text))
    session = settings.session_config()
    assert (session.sasl, session.sasl_username, session.sasl_password) == ("PLAIN", "acct", "hunter2")
    assert session.channels[0].key == "chankey"
    assert settings.missing_secrets() == []
    monkeypatch.delenv("RB_PW")
    assert settings.missing_secrets() == ["RB_PW"]


def test_tls_files_resolve_against_the_config_folder(tmp_path: Path):
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "bot.pem").write_text("x")
    output = load(
        tmp_path, HEAD + 'ca_file = "ca.pem"\nclient_cert = "bot.pem"\nsasl = "EXTERNAL"\n' + CHANNEL
    )
    assert irc_settings(output).connect.ca_file == tmp_path / "ca.pem"
    assert output.client_cert == tmp_path / "bot.pem"
    assert output.sasl == "EXTERNAL"


@pytest.mark.parametrize(
    ("extra", "channel", "where", "message"),
    [
        ("", "", "outputs[0].channels", "no channels"),
        ('sasl = "PLAIN"\n', CHANNEL, "outputs[0].sasl_password_env", "needs sasl_password_env"),
        (
            'sasl = "SCRAM"\n',
            CHANNEL,
            "outputs[0].sasl",
            "one of 'none', 'PLAIN', 'SCRAM-SHA-256', 'EXTERNAL'",
        ),
        ('sasl = "EXTERNAL"\n', CHANNEL, "outputs[0].client_cert", "needs client_cert"),
        ('nick = "9lives"\n', CHANNEL, "outputs[0].nick", "not a valid IRC nick"),
        ('alt_nicks = ["ok", "bad nick"]\n', CHANNEL, "outputs[0].alt_nicks[1]", "not a valid IRC nick"),
        ("port = 70000\n", CHANNEL, "outputs[0].port", "1-65535"),
        ('ca_file = "missing.pem"\n', CHANNEL, "outputs[0].ca_file", "file not found"),
        ('prefix = ""\n', CHANNEL, "outputs[0].prefix", "1-5 characters"),
        ('unknown_command = "loud"\n', CHANNEL, "outputs[0].unknown_command", "'hint', 'silent'"),
        ("flood_burst = 0\n", CHANNEL, "outputs[0].flood_burst", "integer ≥ 1"),
        ('flood_interval = "0s"\n', CHANNEL, "outputs[0].flood_interval", "at least 0.1"),
        (
            'sasl_password_env = "not a var"\n',
            CHANNEL,
            "outputs[0].sasl_password_env",
            "environment variable",
        ),
        ("rejoin_on_kick = 1\n", CHANNEL, "outputs[0].rejoin_on_kick", "true or false"),
        ("chanels = []\n", CHANNEL, "outputs[0].chanels", "unknown key"),
        ("", '\n[[outputs.channels]]\nname = "nohash"\n', "outputs[0].channels[0].name", "channel name"),
        ("", CHANNEL + "nosuch = 1\n", "outputs[0].channels[0].nosuch", "unknown key"),
        ("", CHANNEL + 'notice = "yes"\n', "outputs[0].channels[0].notice", "true or false"),
        ("", CHANNEL + CHANNEL.replace("#c", "#C"), "outputs[0].channels[1].name", "duplicate channel"),
        (
            "",
            CHANNEL + '[outputs.channels.filter]\nkinds = ["x"]\n',
            "outputs[0].channels[0].filter.kinds[0]",
            "expected one of",
        ),
        (
            '[outputs.admins]\nhostmasks = ["alice"]\n',
            CHANNEL,
            "outputs[0].admins.hostmasks[0]",
            "nick!user@host",
        ),
        ('[outputs.admins]\nacounts = ["a"]\n', CHANNEL, "outputs[0].admins.acounts", "unknown key"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, extra: str, channel: str, where: str, message: str):
    text = error(tmp_path, HEAD + extra + channel)
    assert f"bad.toml: {where}: " in text, text
    assert message in text, text


def test_host_is_required(tmp_path: Path):
    text = error(tmp_path, re.sub(r"host = .*\n", "", HEAD) + CHANNEL)
    assert "outputs[0].host: missing" in text


def test_one_sink_per_channel_sharing_one_connection(tmp_path: Path):
    text = HEAD + CHANNEL + '[[outputs.channels]]\nname = "#d"\nnotice = true\n[outputs.channels.filter]\n'
    text += 'channels = ["stable"]\n'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    sinks = build_sinks(load_config(path).outputs)
    assert [s.name for s in sinks] == ["net/#c", "net/#d"]
    assert all(isinstance(s, IrcChannelSink) for s in sinks)
    first, second = sinks
    assert isinstance(first, IrcChannelSink) and isinstance(second, IrcChannelSink)
    assert first.network is second.network
    assert second.config.filter == Filter(channels=("stable",)) and second.channel.notice
    assert not first.ready()  # not connected


def test_check_config_renders_irc_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "config.toml"
    path.write_text(HEAD + 'sasl = "PLAIN"\nsasl_password_env = "RB_UNSET_PW"\n' + CHANNEL, encoding="utf-8")
    assert cli.main(["-c", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "RB_UNSET_PW (NOT SET)" in out


def test_each_channel_sink_routes_with_its_own_filter(tmp_path: Path):
    from bot.messages import sample_events

    text = HEAD + '[[outputs.channels]]\nname = "#all"\n'
    text += '[[outputs.channels]]\nname = "#stable"\n[outputs.channels.filter]\n'
    text += 'channels = ["stable"]\nkinds = ["release"]\n'
    text += '[[outputs.channels]]\nname = "#lts"\n[outputs.channels.filter]\nchannels = ["lts"]\n'
    text += '[[outputs.channels]]\nname = "#promo"\n[outputs.channels.filter]\nkinds = ["promotion"]\n'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    sinks = build_sinks(load_config(path).outputs)
    stable_release, stable_promotion, lts_release = sample_events()
    wanted = {s.name: [s.wants(e) for e in (stable_release, stable_promotion, lts_release)] for s in sinks}
    assert wanted == {
        "net/#all": [True, True, True],
        "net/#stable": [True, False, False],
        "net/#lts": [False, False, True],
        "net/#promo": [False, True, False],
    }


REMOTE = HEAD.replace('host = "127.0.0.1"', 'host = "irc.example.org"') + "tls = false\n"


@pytest.mark.parametrize(
    ("extra", "channel", "where"),
    [
        ('sasl = "PLAIN"\nsasl_password_env = "RB_PW"\n', CHANNEL, "outputs[0].sasl_password_env"),
        ('server_password_env = "RB_PASS"\n', CHANNEL, "outputs[0].server_password_env"),
        ('nickserv_password_env = "RB_NS"\n', CHANNEL, "outputs[0].nickserv_password_env"),
        ("", CHANNEL + 'key_env = "RB_KEY"\n', "outputs[0].channels[0].key_env"),
    ],
)
def test_plaintext_credentials_to_a_remote_host_are_refused(
    tmp_path: Path, extra: str, channel: str, where: str
):
    text = error(tmp_path, REMOTE + extra + channel)
    assert f"bad.toml: {where}: refusing to send the secret" in text, text
    assert "unencrypted to 'irc.example.org'" in text and "allow_insecure_auth = true" in text, text
    # the same over TLS, or to this machine, or with the explicit override, is accepted
    tls = load(tmp_path, REMOTE.replace("tls = false\n", "") + extra + channel)
    assert tls.tls and not tls.allow_insecure_auth
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        local = load(tmp_path, REMOTE.replace("irc.example.org", host) + extra + channel)
        assert local.host == host and not local.tls
    allowed = load(tmp_path, REMOTE + "allow_insecure_auth = true\n" + extra + channel)
    assert allowed.allow_insecure_auth and not allowed.tls


def test_plaintext_without_credentials_needs_no_override(tmp_path: Path):
    output = load(tmp_path, REMOTE + CHANNEL)
    assert (output.host, output.tls, output.allow_insecure_auth) == ("irc.example.org", False, False)
    # a password variable that is never sent (no sasl = "PLAIN") is no reason to refuse
    unused = load(tmp_path, REMOTE + 'sasl_password_env = "RB_PW"\n' + CHANNEL)
    assert unused.sasl is None


def test_allow_insecure_auth_must_be_a_boolean(tmp_path: Path):
    text = error(tmp_path, REMOTE + 'allow_insecure_auth = "yes"\n' + CHANNEL)
    assert "bad.toml: outputs[0].allow_insecure_auth: expected true or false" in text, text


def test_manners_keys_reach_the_router_and_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RB_PW", "pencil")
    text = HEAD + 'sasl = "scram-sha-256"\nsasl_password_env = "RB_PW"\nunknown_command = "hint"\n'
    text += 'address_asker = false\nrepeat_window = "10s"\nignore = ["otherbot", "*!*@bots.example"]\n'
    text += 'lts_eol_after_days = 0\njoin_retry = "2s"\njoin_retry_max = "30s"\n' + CHANNEL
    output = load(tmp_path, text)
    settings = irc_settings(output)
    router = settings.router_config()
    assert (router.unknown_command, router.address_asker, router.repeat_window) == ("hint", False, 10.0)
    assert router.ignore == ("otherbot", "*!*@bots.example")
    session = settings.session_config()
    assert (session.sasl, session.sasl_password) == ("SCRAM-SHA-256", "pencil")
    assert (session.join_retry, session.join_retry_max) == (2.0, 30.0)
    assert session.version.startswith("release-bot ")
    assert output.lts_eol_after_days is None


def test_an_ignore_entry_with_spaces_is_refused(tmp_path: Path):
    text = error(tmp_path, HEAD + 'ignore = ["a b"]\n' + CHANNEL)
    assert "bad.toml: outputs[0].ignore[0]: expected a nick or a mask" in text, text


def test_an_unset_password_variable_means_no_connection_attempts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    import asyncio

    path = tmp_path / "config.toml"
    path.write_text(HEAD + 'sasl = "PLAIN"\nsasl_password_env = "RB_UNSET_PW"\n' + CHANNEL, encoding="utf-8")
    (sink,) = build_sinks(load_config(path).outputs)
    assert isinstance(sink, IrcChannelSink)
    with caplog.at_level("ERROR", logger="release-bot.irc"):
        asyncio.run(sink.network.start())
        asyncio.run(sink.network.start())  # every attempt refused, said once
    assert sink.network.client is None and not sink.ready()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        "irc net: environment variable(s) RB_UNSET_PW not set; not connecting (set them and restart)"
    ]
