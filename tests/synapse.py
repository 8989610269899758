"""A real Synapse homeserver for the Matrix tests: `matrix-synapse` in its own venv (not a project
dependency), SQLite, only the `client` resource on 127.0.0.1, users made through the shared-secret
registration admin API.

The venv is $RELEASE_BOT_SYNAPSE_VENV, else ~/.cache/release-bot-synapse (.ci/run installs it there).
Without it the tests skip — or fail under RELEASE_BOT_REQUIRE_SERVERS=1 (CI).

Message rate limit (`rc_message`): 1 per second, burst 6 — low enough for the rate-limit test to hit
it; the other tests lift it for their users with the admin API (`override_ratelimit`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import free_port, require_or_skip

SERVER_NAME = "localhost"
SECRET = "release-bot-test-secret"


def synapse_python() -> Path | None:
    venv = Path(os.environ.get("RELEASE_BOT_SYNAPSE_VENV", Path.home() / ".cache" / "release-bot-synapse"))
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    ok = subprocess.run(
        [str(python), "-c", "import synapse.app.homeserver"], capture_output=True, check=False
    )
    return python if ok.returncode == 0 else None


@dataclass
class User:
    user_id: str
    token: str


class Synapse:
    def __init__(self, python: Path, folder: Path) -> None:
        self.python = python
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "homeserver.yaml"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin: User | None = None

    def generate(self) -> None:
        subprocess.run(
            [str(self.python), "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
             "--config-path", str(self.config), "--data-directory", str(self.folder),
             "--generate-config", "--report-stats=no"],
            cwd=self.folder, check=True, capture_output=True,
        )  # fmt: skip
        config = yaml.safe_load(self.config.read_text())
        config.update(
            listeners=[
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            database={"name": "sqlite3", "args": {"database": str(self.folder / "homeserver.db")}},
            trusted_key_servers=[],
            registration_shared_secret=SECRET,
            enable_registration=False,
            report_stats=False,
            suppress_key_server_warning=True,
            rc_message={"per_second": 1, "burst_count": 6},
            rc_registration={"per_second": 100, "burst_count": 1000},
            rc_login={"address": {"per_second": 100, "burst_count": 1000}},
            rc_joins={"local": {"per_second": 100, "burst_count": 1000}},
            rc_invites={"per_room": {"per_second": 100, "burst_count": 1000}},
            media_store_path=str(self.folder / "media"),
        )
        config.pop("log_config", None)  # logs go to stderr → the file below
        self.config.write_text(yaml.safe_dump(config))

    def start(self) -> None:
        log = (self.folder / "synapse.out").open("ab")
        self.process = subprocess.Popen(
            [str(self.python), "-m", "synapse.app.homeserver", "--config-path", str(self.config)],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"synapse exited: {(self.folder / 'synapse.out').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("synapse did not start within 90 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- users and rooms -----------------------------------------------------------------------------

    def register(self, name: str, *, admin: bool = False, unlimited: bool = True) -> User:
        """A user made with the shared-secret registration admin API (what register_new_matrix_user
        does); `unlimited` lifts its message rate limit."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=10).json()["nonce"]
        password = f"pw-{name}"
        mac = hmac.new(SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [nonce.encode(), name.encode(), password.encode(), b"admin" if admin else b"notadmin"]
            )
        )
        answer = httpx.post(
            endpoint,
            json={
                "nonce": nonce,
                "username": name,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
            timeout=30,
        )
        answer.raise_for_status()
        user = User(answer.json()["user_id"], answer.json()["access_token"])
        if unlimited:
            self._admin_user()
            assert self.admin is not None
            httpx.post(
                f"{self.url}/_synapse/admin/v1/users/{user.user_id}/override_ratelimit",
                json={"messages_per_second": 0, "burst_count": 0},
                headers={"Authorization": f"Bearer {self.admin.token}"},
                timeout=10,
            ).raise_for_status()
        return user

    def _admin_user(self) -> None:
        if self.admin is None:
            self.admin = User("", "")  # guards the recursion below
            self.admin = self.register("admin", admin=True, unlimited=False)

    def call(self, user: User, method: str, path: str, body: object = None) -> dict[str, object]:
        answer = httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {user.token}"},
            timeout=30,
        )
        answer.raise_for_status()
        data = answer.json()
        assert isinstance(data, dict)
        return data

    def create_room(self, owner: User, alias: str, *, invite: tuple[str, ...] = ()) -> str:
        data = self.call(
            owner,
            "POST",
            "/_matrix/client/v3/createRoom",
            {"room_alias_name": alias, "preset": "public_chat", "invite": list(invite)},
        )
        return str(data["room_id"])

    def messages(self, user: User, room_id: str) -> list[dict[str, object]]:
        """Every m.room.message event of the room, oldest first."""
        from urllib.parse import quote

        data = self.call(
            user, "GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages?dir=b&limit=1000"
        )
        chunk = data["chunk"]
        assert isinstance(chunk, list)
        return [e for e in reversed(chunk) if e.get("type") == "m.room.message"]


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    python = synapse_python()
    if python is None:
        require_or_skip(
            "matrix-synapse is not installed (pip install matrix-synapse into ~/.cache/release-bot-synapse)"
        )
        raise AssertionError("unreachable")
    server = Synapse(python, tmp_path_factory.mktemp("synapse"))
    server.generate()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if os.environ.get("KEEP_SYNAPSE"):
            shutil.copytree(server.folder, os.environ["KEEP_SYNAPSE"], dirs_exist_ok=True)
