"""Parsing a command line and dispatching it: a line in, reply lines out (sanitised).

Each command's module is imported when the command is first answered (`release-bot query '!release'`
does not load the deprecation extractor or the security index)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.text import sanitize

if TYPE_CHECKING:
    from bot.commands.state import StateView

HELP = (
    "commands: {p}release — current version of every channel; {p}release <channel> "
    "(alpha, beta, stable, lts, lts-YYYY) — version, date, key packages, link; "
    "{p}release <version> — where and when it was released; "
    "{p}changes <channel|version> — what changed since the previous release; "
    "{p}deprecations [channel] — deprecations and removals on their way, and where they are; "
    "{p}cve <CVE-…|GHSA-…> — which release of each channel first lists the fix; "
    "{p}security [channel|version] — the security fixes of the current release; "
    "{p}roadmap [status] — the project's plans; {p}help [command] — this text, or one command's"
)

#: `!help <command>`: what it does, its arguments, an example.
COMMAND_HELP: dict[str, str] = {
    "release": (
        "{p}release [channel|version|lts [all]] — the current version of every supported channel; "
        "with a channel (alpha, beta, stable, lts-YYYY) its release, key packages and link; "
        "`lts` every supported LTS stream on one line (`lts all` adds those past their end of life); "
        "a version says where and when it was released and whether it was superseded. "
        "Example: {p}release stable"
    ),
    "changes": (
        "{p}changes <channel|version> — what changed since the previous release of that channel. "
        "Example: {p}changes beta"
    ),
    "deprecations": (
        "{p}deprecations [channel] — deprecations and removals on their way and which channels they "
        "reached. Example: {p}deprecations stable"
    ),
    "cve": (
        "{p}cve <CVE-…|GHSA-…> — which release of each channel first lists the fix. "
        "Example: {p}cve CVE-2024-6387"
    ),
    "security": (
        "{p}security [channel|version] — the security fixes of the current release. "
        "Example: {p}security stable"
    ),
    "roadmap": "{p}roadmap [status] — the project's plans. Example: {p}roadmap in progress",
    "help": "{p}help [command] — all commands, or one command with an example. Example: {p}help release",
}
COMMAND_HELP["deprecation"] = COMMAND_HELP["deprecations"]


def help_reply(args: list[str], prefix: str) -> list[str]:
    if not args:
        return [HELP.format(p=prefix)]
    name = args[0].lower().removeprefix(prefix)
    text = COMMAND_HELP.get(name)
    if text is None:
        known = ", ".join(prefix + c for c in COMMAND_HELP if c != "deprecation")
        return [f"no command {name[:30]!r}; commands: {known}"]
    return [text.format(p=prefix)]


def answer(
    line: str, state: StateView, *, prefix: str = "!", unknown: Literal["hint", "silent"] = "hint"
) -> list[str] | None:
    """The reply to a command line, or None when the line is not a command (or an unknown command and
    `unknown` is "silent"). Replies are sanitised."""
    text = sanitize(line)
    if not text.startswith(prefix):
        return None
    words = text[len(prefix) :].split()
    if not words:
        return None
    command, args = words[0].lower(), words[1:]
    if not command[:1].isalpha():
        return None  # "!!!" or "! release" is chatter, not a command
    if command == "release":
        from bot.commands.releases import release_reply

        replies = release_reply(args, state)
    elif command == "changes":
        from bot.commands.changes import changes_reply

        replies = changes_reply(args, state, prefix)
    elif command in ("deprecations", "deprecation"):
        from bot.commands.plans import deprecations_reply

        replies = deprecations_reply(
            args,
            notices=state.notices,
            reaches=state.reaches,
            releases=state.releases,
            roadmap=state.roadmap,
            prefix=prefix,
        )
    elif command == "cve":
        from bot.security import cve_answer

        replies = cve_answer(" ".join(args[:1]), state.releases, index_of=state.security_of, prefix=prefix)
    elif command == "security":
        from bot.security import security_answer

        replies = security_answer(args, state.releases, index_of=state.security_of, prefix=prefix)
    elif command == "roadmap":
        from bot.commands.plans import roadmap_reply

        replies = roadmap_reply(args, items=state.roadmap, prefix=prefix)
    elif command == "help":
        replies = help_reply(args, prefix)
    elif unknown == "silent":
        return None
    else:
        return [f"unknown command {sanitize(command)[:30]!r}; try {prefix}help"]
    return [sanitize(r) for r in replies]
