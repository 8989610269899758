"""The unit lane is pure: no network socket, no subprocess. A test here that opens either fails and
says where it belongs (tests/integration/). asyncio's own self-pipe (a unix socketpair) is allowed."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

_socket_init = socket.socket.__init__


def _guarded_socket_init(
    self: socket.socket, family: int = -1, type: int = -1, *args: Any, **kwargs: Any
) -> None:
    fileno = kwargs.get("fileno", args[1] if len(args) > 1 else None)
    if fileno is None and family != socket.AF_UNIX:
        raise AssertionError("a unit test opened a network socket: move it to tests/integration/")
    _socket_init(self, family, type, *args, **kwargs)


def _refuse_process(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a unit test started a process: move it to tests/integration/")


@pytest.fixture(autouse=True)
def _no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "__init__", _guarded_socket_init)
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse_process)
    yield
