"""The command line: `release-bot [-c CONFIG] [--log-level LEVEL] VERB [options]`.

Global options go before or after the verb. Each verb is imported when it runs (a `--help` or a
`query` starts fast). No expected failure reaches the user as a traceback: a config or state error,
a permission problem, a full disk, a closed pipe (`release-bot status | head -1`), Ctrl-C and
SIGTERM each end with one line and the exit code of the table in the README.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from bot.cli.parser import build_parser, verb_named
from bot.errors import BotError

__all__ = ["EXIT_BROKEN_PIPE", "Terminated", "build_parser", "main", "setup_logging"]

#: A reader closed our output early (`| head`): what a process killed by SIGPIPE reports.
EXIT_BROKEN_PIPE = 141


class Terminated(BaseException):
    """SIGTERM arrived outside the daemon's event loop (which handles it itself)."""


def __getattr__(name: str) -> object:
    if name == "setup_logging":  # kept importable from here; loaded only when asked for
        from bot.logsetup import setup_logging

        return setup_logging
    raise AttributeError(name)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _error(message: str) -> None:
    print(f"release-bot: error: {message}", file=sys.stderr)


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}: free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}: {exc.strerror}; check the owner and mode of the file or folder"
    return f"{exc.strerror or exc}{where}"


def _expected(exc: Exception) -> str | None:
    """The one-line message of an expected failure (state file read-only, disk full …), else None."""
    if type(exc).__module__ == "sqlite3":
        from bot.failures import describe_store_error

        return describe_store_error(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(verb_named(line)).parse_args(line)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): leave its signals alone
        previous = None
    daemon = args.verb == "run"
    try:
        return int(args.func(args))
    except BotError as exc:
        _error(str(exc))
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        # the daemon stopping on request is a normal stop; any other verb was interrupted
        if daemon:
            return 0
        print("release-bot: interrupted", file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    except BrokenPipeError:
        # the reader went away (`| head`): say nothing more, and let the exit not try to flush again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        _error(_os_error(exc))
        return 2
    except Exception as exc:
        message = _expected(exc)
        if message is None:
            raise
        _error(message)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
