"""`main` builds only the parser of the verb a command line names (`verb_named`): the same parse, the
same errors and the same help as the parser of every verb, without building — and importing — the
others."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from bot.cli.parser import VERBS, build_parser, verb_named

LINES = [
    ["once"],
    ["-c", "x.toml", "once"],
    ["-cx.toml", "--log-level", "debug", "run"],
    ["--config=x.toml", "status", "--check"],
    ["--conf", "x.toml", "--log", "info", "status", "--json"],
    ["--co=x.toml", "query", "!release", "stable"],
    ["query", "-c", "x.toml", "release", "stable"],
    ["-c", "once", "once"],  # a config file named like a verb
    ["preview", "flatcar", "--last", "3"],
    ["retry"],
    ["retry", "list"],
    ["demo", "--keep", "/tmp/d"],
    ["check-config", "--log-level", "error"],
    ["send-test-mail", "list", "--to", "me@example.org"],
    ["digest", "--preview", "--html"],
    ["deliver", "--now"],
    ["send-test-message", "matrix"],
    ["discord", "register-commands", "--application-id", "1"],
    ["migrate"],
    ["migrate-state", "--from", "s.sqlite3", "--to", "postgresql://db/x"],
]

BAD_LINES = [
    ["once", "--bogus"],
    ["-c"],
    ["query"],
    ["status", "--check", "--json"],
    ["digest"],
    ["preview", "flatcar", "--last", "many"],
    ["--log-level", "loud", "once"],
]


def _verbs_of(parser: argparse.ArgumentParser) -> list[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices)


def _plain(args: argparse.Namespace) -> tuple[dict[str, Any], Any, list[Any]]:
    """The namespace with its verb function as what identifies it: its code and what it closes over."""
    values = vars(args).copy()
    func: Callable[..., Any] = values.pop("func")
    return values, func.__code__, [cell.cell_contents for cell in func.__closure__ or ()]


def test_every_verb_is_known_and_in_help_order() -> None:
    assert _verbs_of(build_parser()) == list(VERBS)
    for verb in VERBS:
        # the verb, and at most the other verbs its module adds (send-test-mail: digest and deliver)
        built = _verbs_of(build_parser(verb))
        assert verb in built and len(built) <= 3, (verb, built)
    assert _verbs_of(build_parser("once")) == ["once"]


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        (["once"], "once"),
        (["-c", "x", "--log-level", "debug", "once"], "once"),
        (["-cx", "status", "--check"], "status"),
        (["--config=x", "--log-level=info", "run"], "run"),
        (["--conf", "x", "--l", "info", "query", "!help"], "query"),
        (["-c", "query", "once"], "once"),
        ([], None),
        (["--help"], None),
        (["-h", "once"], None),
        (["--version"], None),
        (["--verbose", "once"], None),  # not an option of ours: argparse says so, with every verb
        (["-x", "once"], None),
        (["--", "once"], None),
        (["onc"], None),
        (["-c"], None),
    ],
)
def test_verb_named(line: list[str], verb: str | None) -> None:
    assert verb_named(line) == verb


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_the_verbs_parser_parses_as_the_whole_parser(line: list[str]) -> None:
    verb = verb_named(line)
    assert verb is not None and verb in VERBS
    assert _plain(build_parser(verb).parse_args(line)) == _plain(build_parser().parse_args(line))


@pytest.mark.parametrize("line", BAD_LINES, ids=" ".join)
def test_the_verbs_parser_refuses_as_the_whole_parser(
    line: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    said = []
    for parser in (build_parser(verb_named(line)), build_parser()):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(line)
        said.append((exit_.value.code, capsys.readouterr()))
    assert said[0] == said[1]
    assert said[0][0] == 2 and said[0][1].err


@pytest.mark.parametrize("verb", VERBS)
def test_the_verbs_help_is_the_whole_parsers(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    helps = []
    for parser in (build_parser(verb), build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args([verb, "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1]
    assert f"usage: release-bot {verb}" in helps[0]
