"""`!cve` and `!security` from the stored state: the security index column (schema 5), written with
every release (baseline included) and read back through `StateStore`; the commands on `release-bot
query` (a new process over a real state file) and in `answer`."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import HELP, StateView, answer, load_state_view
from bot.model import Release
from bot.security import SecurityFix, SecurityIndex, cve_answer, release_security, security_answer
from bot.store import SCHEMA_VERSION, PollRecord, Store
from tests.helpers import DATA, SNAPSHOTS, history_snapshot

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def _releases() -> list[Release]:
    snapshot = history_snapshot(SNAPSHOTS[2])
    return [r for d in snapshot.documents for r in d.releases]


def test_the_index_is_stored_with_each_release_and_read_back(tmp_path: Path) -> None:
    releases = _releases()
    with Store(tmp_path / "s.sqlite3") as store:
        store.commit_poll(PollRecord("flatcar", now=NOW, new_releases=releases))
        stored = store.security_indexes()
        assert set(stored) == {r.key for r in releases}
        assert all(stored[r.key] == release_security(r) for r in releases)
        assert store.security_indexes("other") == {}
        assert sum(1 for r in releases if len(stored[r.key])) > 20  # most releases fix something
        view = load_state_view(store)
    assert view.security_of(releases[0]) == stored[releases[0].key]


def test_a_state_file_of_schema_3_gets_the_column_filled_from_the_notes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    shutil.copy(DATA / "state-v3.sqlite3", path)
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 5
        releases = store.releases()
        stored = store.security_indexes()
        assert releases and set(stored) == {r.key for r in releases}
        assert all(stored[r.key] == release_security(r) for r in releases)


def test_a_damaged_column_is_an_error_naming_the_release(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        store.commit_poll(PollRecord("flatcar", now=NOW, new_releases=_releases()[:1]))
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE releases SET security = '{\"nope\": 1}'")
    with Store(path) as store, pytest.raises(Exception, match=r"release flatcar/.*security index"):
        store.security_indexes()


def test_commands_use_the_stored_index() -> None:
    releases = _releases()
    stable = max(
        (r for r in releases if r.stream == "stable"), key=lambda r: [int(x) for x in r.version.split(".")]
    )
    fake = SecurityIndex((SecurityFix("zlib", ("CVE-1999-0001",)),))
    view = StateView.of(releases, security={stable.key: fake})
    reply = answer("!cve cve-1999-0001", view)
    assert reply is not None
    assert reply[0].startswith(
        f"CVE-1999-0001 (zlib) is first listed in the notes of stable {stable.version}"
    )
    assert answer("!security stable", view) == [
        f"Flatcar stable {stable.version} (2025-03-20): 1 security fixes — zlib 1 (CVE-1999-0001)"
        f" — {stable.link}"
    ]
    # without a stored index the notes are read: the same answers as over the notes
    plain = StateView.of(releases)
    assert answer("!cve CVE-2024-6387", plain) == cve_answer("CVE-2024-6387", releases)
    assert answer("!security", plain) == security_answer([], releases)


def test_cve_answers_bad_input_clearly() -> None:
    view = StateView.of(_releases())
    assert answer("!cve", view) == ["usage: !cve CVE-YYYY-NNNN or !cve GHSA-xxxx-xxxx-xxxx"]
    bad = answer("!cve CVE-12\x01", view)
    assert bad is not None and bad[0].startswith("not a CVE or GHSA id")
    assert answer("!cve CVE-2001-99999", view) == ["no Flatcar release notes mention CVE-2001-99999"]
    assert answer("!cve CVE-2001-99999", StateView.of([])) == [
        "no releases known yet — the first poll has not completed"
    ]
    assert "!cve <CVE-…|GHSA-…>" in HELP.format(p="!") and "!security [channel|version]" in HELP.format(p="!")
