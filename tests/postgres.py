"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries (`initdb`, `pg_ctl`),
one cluster per test session in a temp folder (fsync off), listening on a free loopback port and on a
unix socket in that folder; a fresh database per test, copied from a template (fast).

The bot connects as role `bot` with a password (scram over TCP), given through an environment
variable as an operator would (`[bot] state_password_env`); the fixture itself uses the superuser
over the unix socket. Under RELEASE_BOT_REQUIRE_SERVERS=1 a missing server fails the test.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port, require_or_skip

__all__ = ["PASSWORD", "PASSWORD_ENV", "PgCluster", "pg_cluster", "pg_url"]

#: the role the bot connects as, its password, and the variable that carries it
ROLE = "bot"
PASSWORD = "s3cret-for-tests"
PASSWORD_ENV = "RELEASE_BOT_TEST_PGPASSWORD"
TEMPLATE = "release_bot_template"

_BIN_DIRS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))


def _find(tool: str) -> str | None:
    for folder in _BIN_DIRS:
        if (folder / tool).is_file():
            return str(folder / tool)
    return shutil.which(tool)


@dataclass
class PgCluster:
    """A running throwaway cluster."""

    root: Path
    port: int
    user: str | None  # the OS user running the server (postgres when the tests run as root)
    pg_ctl: str
    psql: str
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)

    def sql(self, statement: str, *, database: str = "postgres") -> str:
        """Run one statement as the superuser (unix socket); its output."""
        done = subprocess.run(
            self._as_owner(
                self.psql,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                statement,
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {done.stderr.strip()}")
        return done.stdout.strip()

    def url(self, database: str) -> str:
        """The bot's connection URL for `database`: no password (that comes from PASSWORD_ENV)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database owned by the bot's role (a copy of the template); its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {ROLE}")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def start(self) -> None:
        log = self.root / "server.log"
        # fsync off: the machine does not crash under the tests, the server may (pg_ctl -m immediate);
        # synchronous_commit stays on: a commit acknowledged to the bot survives a server crash
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            self._as_owner(self.pg_ctl, "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start"),
            capture_output=True,
            timeout=60,
            check=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._as_owner(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"),
            capture_output=True,
            timeout=60,
            check=False,
        )

    def kill(self) -> None:
        """The server stops at once (immediate shutdown: every connection is cut)."""
        self.stop("immediate")

    def running(self) -> bool:
        done = subprocess.run(
            self._as_owner(self.pg_ctl, "-D", str(self.data), "status"), capture_output=True, check=False
        )
        return done.returncode == 0


def _start_cluster() -> PgCluster:
    initdb, pg_ctl, psql = _find("initdb"), _find("pg_ctl"), _find("psql")
    if initdb is None or pg_ctl is None or psql is None:
        require_or_skip("PostgreSQL (initdb, pg_ctl, psql) is not installed (Debian: apt install postgresql)")
        raise AssertionError("unreachable")
    user: str | None = None
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require_or_skip("running as root and there is no `postgres` user to own the test cluster")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="release-bot-pg-"))
    (root / "sock").mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "sock"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    cluster = PgCluster(root=root, port=free_port(), user=user, pg_ctl=pg_ctl, psql=psql)
    pwfile = root / "pw"
    pwfile.write_text("unused-superuser-password\n")
    if user is not None:
        os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
    subprocess.run(
        cluster._as_owner(
            initdb,
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ),
        capture_output=True,
        timeout=120,
        check=True,
    )
    cluster.start()
    cluster.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    cluster.sql(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE}")
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the whole test session."""
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database of the session's cluster, as the bot's URL; its password in PASSWORD_ENV."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    if not pg_cluster.running():  # a test that killed the server leaves it to the next one to restart
        pg_cluster.start()
        deadline = time.monotonic() + 30
        while not pg_cluster.running() and time.monotonic() < deadline:
            time.sleep(0.1)
    name = pg_cluster.new_database()
    try:
        yield pg_cluster.url(name)
    finally:
        if pg_cluster.running():
            pg_cluster.drop_database(name)
