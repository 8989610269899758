"""`[bot] state = "postgresql://…"`: the PostgreSQL state's keys, a password refused in the file, and
the SQLite default unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import parse_config
from bot.errors import ConfigError

REST = {
    "sources": [{"name": "flatcar", "kind": "flatcar"}],
    "outputs": [{"name": "console", "kind": "console"}],
}


def _bot(**keys: object):
    return parse_config({"bot": keys, **REST}, path=Path("/etc/release-bot/config.toml"))


def test_a_postgresql_url_selects_the_shared_state(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _bot(state="postgresql://bot@db.example.org:5432/releases", state_password_env="RB_DB_PW")
    assert config.database is not None
    assert config.database.url == "postgresql://bot@db.example.org:5432/releases"
    assert config.database.takeover == 30.0
    assert config.state_label == "postgresql://bot@db.example.org:5432/releases"
    monkeypatch.setenv("RB_DB_PW", "s3cret")
    assert config.database.password() == "s3cret"
    monkeypatch.delenv("RB_DB_PW")
    with pytest.raises(ConfigError, match="RB_DB_PW is not set"):
        config.database.password()
    assert _bot(state="postgres://bot@db/x", takeover_timeout="10s").database.takeover == 10.0


def test_a_password_in_the_url_is_refused_and_named() -> None:
    for url in ("postgresql://bot:hunter2@db/x", "postgresql://bot@db/x?password=hunter2"):
        with pytest.raises(ConfigError, match=r"config.toml: bot.state: the URL holds a password") as caught:
            _bot(state=url)
        assert "hunter2" not in str(caught.value)
    local = _bot(state="postgresql:///releases").database  # libpq's unix socket
    assert local is not None and local.password_env is None and local.password() is None


def test_sqlite_stays_the_default_and_refuses_the_postgresql_keys() -> None:
    config = _bot(state="/var/lib/release-bot/state.sqlite3")
    assert config.database is None and config.state == Path("/var/lib/release-bot/state.sqlite3")
    assert config.state_label == "/var/lib/release-bot/state.sqlite3"
    with pytest.raises(ConfigError, match="state_password_env"):
        _bot(state="state.sqlite3", state_password_env="X")
