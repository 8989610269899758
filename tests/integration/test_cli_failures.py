"""Expected failures end with one clear line and an exit code, never a traceback: an unwritable state
folder, a read-only state file (the read verbs still work), a full disk, a closed pipe, Ctrl-C and
SIGTERM. Each runs the CLI as a new process, as an operator would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SNAPSHOTS
from tests.httpserver import LocalHTTPServer, hang
from tests.integration.test_pipeline import REPO, serve, write_config

pytestmark = pytest.mark.integration

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="release-bot-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody() -> list[str]:
    """The command prefix that runs a process as a user owning none of the files: root (who may write
    anything) runs it as nobody; another user runs it as itself (the tests then use file modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to another user")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def run_cli(config: Path, *args: str, as_other_user: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process, as an operator would run it (as another user: see `as_nobody`)."""
    prefix = as_nobody() if as_other_user else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error:" not in result.stderr.replace("error:", ""), result.stderr


def test_unwritable_state_folder(http_server: LocalHTTPServer, shared_dir: Path) -> None:
    serve(http_server, SNAPSHOTS[1])
    config = write_config(shared_dir, http_server)
    (shared_dir / "config.toml").chmod(0o644)
    if os.geteuid() != 0:
        shared_dir.chmod(0o555)
    for verb in ("once", "run"):
        result = run_cli(config, verb, as_other_user=True)
        assert result.returncode == 2, result.stderr
        assert "cannot create the state here" in result.stderr and "not writable" in result.stderr
        assert_clean(result)
    shared_dir.chmod(0o755)


def test_read_only_state_file_read_verbs_still_work(http_server: LocalHTTPServer, shared_dir: Path) -> None:
    serve(http_server, SNAPSHOTS[1])
    config = write_config(shared_dir, http_server)
    assert run_cli(config, "once").returncode == 0
    for path in shared_dir.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    if os.geteuid() != 0:
        (shared_dir / "state.sqlite3").chmod(0o444)
        shared_dir.chmod(0o555)
    try:
        for verb in ("once", "run"):
            result = run_cli(config, verb, as_other_user=True)
            assert result.returncode == 2, result.stderr
            assert "read-only for this user" in result.stderr
            assert_clean(result)
        status = run_cli(config, "status", as_other_user=True)
        assert status.returncode == 0, status.stderr
        assert "source flatcar:" in status.stdout and "last error:   none" in status.stdout
        query = run_cli(config, "query", "!release", "stable", as_other_user=True)
        assert query.returncode == 0, query.stderr
        assert query.stdout.startswith("Flatcar stable ")
        check = run_cli(config, "status", "--check", as_other_user=True)
        assert check.returncode == 0 and check.stdout.startswith("healthy"), check.stdout
    finally:
        shared_dir.chmod(0o755)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _unshare_works(), reason="needs unshare (user and mount namespaces) for a small tmpfs"
)
def test_disk_full(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    """The state on a 96 KiB tmpfs (in a private mount namespace): the baseline does not fit."""
    serve(http_server, SNAPSHOTS[1])
    config = write_config(tmp_path, http_server)
    disk = tmp_path / "disk"
    disk.mkdir()
    config.write_text(config.read_text().replace('state = "state.sqlite3"', f'state = "{disk}/s.sqlite3"'))
    script = f"mount -t tmpfs -o size=400k tmpfs {disk} && exec {sys.executable} -m bot -c {config} once"
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode != 0
    assert "source flatcar: the disk is full" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_broken_pipe_is_quiet(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    serve(http_server, SNAPSHOTS[1])
    config = write_config(tmp_path, http_server)
    assert run_cli(config, "once").returncode == 0
    for args in (("status",), ("query", "!release"), ("check-config",), ("--help",)):
        # the reader is gone before the first line is written, as with `| head -1` on a long output
        read, write = os.pipe()
        os.close(read)
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "-c", str(config), *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
        os.close(write)
        assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, (args, proc.stderr)
        assert proc.returncode in (0, 141), (args, proc.returncode)
    shell = subprocess.run(
        f"{sys.executable} -m bot -c {config} status | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert shell.stdout.startswith("state: ") and shell.stderr == ""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_once_during_a_fetch(
    http_server: LocalHTTPServer, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    serve(http_server, SNAPSHOTS[1])
    http_server.set_handler("/flatcar/releases-alpha.json", hang())  # the fetch never ends
    config = write_config(tmp_path, http_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", str(config), "once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    deadline = time.monotonic() + 20
    while not http_server.requests_to("/flatcar/releases-alpha.json") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the fetch is waiting for an answer that never comes
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == code, err
    assert err.rstrip().endswith("release-bot: interrupted")
    assert "Traceback" not in err, err
