"""Roadmap and deprecation plumbing: config of the roadmap sources, the HTTP client's POST and rate-limit
handling, the `!deprecations` / `!roadmap` commands, the digest sections, and the CLI verbs."""

from __future__ import annotations

import re
import textwrap
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.commands import HELP, StateView, answer
from bot.commands.plans import active_notices, merged
from bot.config import ROADMAP_KINDS, parse_config
from bot.digest import digest_context
from bot.errors import ConfigError
from bot.messages import event_context, message_id, sample_plan_events
from bot.model import DeprecationEvent, Notice, Reach, RoadmapEvent, RoadmapItem
from bot.render import Renderer
from bot.sinks import irc_line
from bot.sources.http import retry_after

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = '\n[[outputs]]\nname = "console"\nkind = "console"\n'


def config(text: str, tmp_path: Path) -> object:
    return parse_config(tomllib.loads(textwrap.dedent(text) + OUTPUT), path=tmp_path / "c.toml")


# -- configuration ---------------------------------------------------------------------------------


def test_roadmap_sources_config(tmp_path: Path) -> None:
    loaded = config(
        """
        [[sources]]
        name = "board"
        kind = "github_project"
        project_number = 7
        statuses = ["Planned", "In progress"]

        [[sources]]
        name = "issues"
        kind = "github_issues"
        labels = ["kind/roadmap", "kind/feature"]

        [[sources]]
        name = "plans"
        kind = "roadmap_feed"
        url = "https://example.org/plans.atom"
        """,
        tmp_path,
    )
    board, issues, plans = loaded.sources  # type: ignore[attr-defined]
    assert (board.org, board.project_number, board.status_field, board.token_env) == (
        "flatcar",
        7,
        "Status",
        "GITHUB_TOKEN",
    )
    assert board.documents() == [("project-flatcar-7", "https://api.github.com/graphql")]
    assert board.deprecation_labels == ("kind/deprecation", "deprecation") and board.is_roadmap
    assert issues.token_env is None and issues.repo == "flatcar/Flatcar" and issues.state == "all"
    assert issues.documents() == [
        (
            "issues-kind/roadmap",
            "https://api.github.com/repos/flatcar/Flatcar/issues?labels=kind%2Froadmap"
            "&state=all&sort=updated&direction=desc&per_page=100",
        ),
        (
            "issues-kind/feature",
            "https://api.github.com/repos/flatcar/Flatcar/issues?labels=kind%2Ffeature"
            "&state=all&sort=updated&direction=desc&per_page=100",
        ),
    ]
    assert plans.documents() == [("feed", "https://example.org/plans.atom")]
    assert set(ROADMAP_KINDS) == {board.kind, issues.kind, plans.kind}


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('kind = "github_project"', "sources[0].project_number", "missing; expected an integer ≥ 1"),
        (
            'kind = "github_project"\nproject_number = 0',
            "sources[0].project_number",
            "expected an integer ≥ 1",
        ),
        ('kind = "github_issues"\nrepo = "flatcar"', "sources[0].repo", 'expected "owner/name"'),
        ('kind = "github_issues"\nstate = "closed"', "sources[0].state", "expected one of 'all', 'open'"),
        ('kind = "github_project"\nproject_number = 7\ntoken_env = "not a var"', "sources[0].token_env", ""),
        ('kind = "github_project"\nproject_number = 7\ntoken = "ghp_x"', "sources[0].token", "unknown key"),
        ('kind = "roadmap_feed"', "sources[0].url", "missing"),
        ('kind = "github_issues"\nbase_url = "https://x"', "sources[0].base_url", "unknown key"),
    ],
)
def test_roadmap_config_errors(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(f'[[sources]]\nname = "r"\n{text}\n', tmp_path)
    assert f"{key}: " in str(info.value) and message in str(info.value)


def test_the_commented_roadmap_examples_in_config_example_toml_are_valid(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text.split("# Roadmap sources", 1)[1].split("# ------", 1)[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    toml = "\n".join(line for line in lines if re.match(r"^(\[\[sources\]\]|[a-z_]+ = )", line))
    loaded = config(toml, tmp_path)
    kinds = [s.kind for s in loaded.sources]  # type: ignore[attr-defined]
    assert kinds == ["github_project", "github_issues", "roadmap_feed"]
    example = tomllib.loads(toml)
    assert set(example["sources"][0]) >= {"org", "project_number", "status_field", "statuses", "token_env"}
    assert set(example["sources"][1]) >= {"repo", "labels", "state", "max_pages", "rate_limit_wait"}


def test_routing_filters_accept_the_new_kinds_and_the_roadmap_channel(tmp_path: Path) -> None:
    loaded = parse_config(
        tomllib.loads(
            '[[sources]]\nname = "f"\nkind = "flatcar"\n[[outputs]]\nname = "c"\nkind = "console"\n'
            '[outputs.filter]\nkinds = ["deprecation", "roadmap"]\nchannels = ["stable", "roadmap"]\n'
        ),
        path=tmp_path / "c.toml",
    )
    route = loaded.outputs[0].filter
    events = sample_plan_events()
    assert [
        route.matches(source=e.source, channel=e.channel, stream=e.stream, kind=e.kind) for e in events
    ] == [
        False,  # a notice first seen in alpha
        False,  # … reaching beta
        True,  # a deprecation on the roadmap
        True,
        True,
        True,  # roadmap changes
    ]


# -- the HTTP client: POST, rate limits ------------------------------------------------------------


def test_retry_after() -> None:
    now = 1_000_000.0
    assert retry_after({"retry-after": "120"}, now=now) == 120.0
    when = datetime.fromtimestamp(now, tz=UTC) + timedelta(seconds=30)
    assert retry_after({"retry-after": format_datetime(when, usegmt=True)}, now=now) == pytest.approx(
        30, abs=1
    )
    assert (
        retry_after({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + 600)}, now=now) == 600
    )
    assert retry_after({"x-ratelimit-remaining": "0"}, now=now) == 60.0
    assert retry_after({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1"}, now=now) is None
    assert retry_after({}, now=now) is None


# -- templates, message ids, digest ----------------------------------------------------------------


def test_templates_render_every_kind_as_one_safe_line() -> None:
    renderer = Renderer()
    lines = [irc_line(e, renderer) for e in sample_plan_events()]
    assert lines == [
        "[Flatcar] deprecation in alpha 4722.0.0: Dropped support for Rackspace, including OnMetal."
        " Rackspace-specific images are no longer built or published."
        " — https://www.flatcar.org/releases#release-4722.0.0",
        "[Flatcar] deprecation reaches beta in 4722.1.0: Dropped support for Rackspace, including OnMetal."
        " Rackspace-specific images are no longer built or published. (first in alpha 4722.0.0)"
        " — https://www.flatcar.org/releases#release-4722.1.0",
        "[Flatcar] deprecation on the roadmap: Deprecate the sample feature"
        " — https://github.com/flatcar/Flatcar/issues/1235",
        "[Flatcar roadmap] new: #1234 Sample roadmap item [In progress]"
        " — https://github.com/flatcar/Flatcar/issues/1234",
        "[Flatcar roadmap] #1234 Sample roadmap item: Planned → In progress"
        " — https://github.com/flatcar/Flatcar/issues/1234",
        "[Flatcar roadmap] closed: #1234 Sample roadmap item — https://github.com/flatcar/Flatcar/issues/1234",
    ]
    for event in sample_plan_events():
        context = event_context(event)
        for part in ("subject.j2", "txt.j2", "html.j2"):
            assert renderer.render(f"mail/{event.kind}.{part}", **{**context, "link_href": context["link"]})


def test_a_long_hostile_notice_is_shortened_and_sanitised() -> None:
    event = sample_plan_events()[0]
    assert isinstance(event, DeprecationEvent)
    notice = event.notice
    from dataclasses import replace

    hostile = replace(notice, summary="Dropped \x03support\x01 for\r\nPRIVMSG #x :pwned " + "x " * 300)
    line = irc_line(replace(event, notice=hostile), Renderer())
    assert not any(ch in line for ch in "\r\n\x00\x01\x03")
    assert len(line.encode()) < 400 and "…" in line


def test_a_hostile_board_status_stays_short_and_safe() -> None:
    """Statuses are a board's own words: long or with control codes, the line stays one safe line, and
    `!roadmap` shows them shortened."""
    from dataclasses import replace

    status_event = sample_plan_events()[4]
    assert isinstance(status_event, RoadmapEvent)
    item = status_event.item
    evil = "In \x02progress\x03\r\nPRIVMSG #x :pwned " + "y" * 400
    hostile = replace(status_event, item=replace(item, status=evil), previous_status="Planned " + "z" * 400)
    line = irc_line(hostile, Renderer())
    assert not any(ch in line for ch in "\r\n\x00\x01\x02\x03")
    assert len(line.encode()) < 300 and line.endswith("— https://github.com/flatcar/Flatcar/issues/1234")
    view = StateView.of([], roadmap=[replace(item, status=evil)])
    (summary, entry) = answer("!roadmap", view) or []
    assert len(entry.encode()) < 250 and "y" * 50 not in entry and "\n" not in summary


def test_message_ids_are_stable_and_distinct_per_event() -> None:
    events = sample_plan_events()
    ids = [message_id(e, "list") for e in events]
    # cut to fit one "Message-ID: " header line of 78 characters, ending in a hash of the whole id
    assert ids[0] == "<deprecation.sample.4722.0.0-20e.d00ee0668f83@release-bot.invalid>"
    assert all(len(f"Message-ID: {i}") <= 78 for i in ids)
    wanted = r"<roadmap\.Flatcar\.flatcar\.Flatcar\.[0-9a-f]{12}@release-bot\.invalid>"
    assert re.fullmatch(wanted, ids[3]), ids[3]
    assert ids == [message_id(e, "list") for e in sample_plan_events()]
    assert len(set(ids)) == 5  # "new, In progress" and "status → In progress" of one item are one key


def test_the_digest_has_deprecations_and_roadmap_sections() -> None:
    end = datetime(2026, 7, 14, tzinfo=UTC)
    context = digest_context(
        list(enumerate(sample_plan_events(), 1)),
        output="list",
        period_start=end - timedelta(days=7),
        period_end=end,
    )
    assert [s["title"] for s in context["sections"]] == ["Deprecations", "Roadmap"]
    text = Renderer().render("mail/digest.txt.j2", **context)
    assert "Deprecations: Flatcar" in text and "Roadmap: Flatcar" in text
    assert "Sample roadmap item: Planned → In progress" in text
    assert "(first in alpha 4722.0.0)" in text


# -- commands -------------------------------------------------------------------------------------


def test_help_lists_the_new_commands() -> None:
    assert "{p}deprecations [channel]" in HELP and "{p}roadmap [status]" in HELP


def test_commands_without_data() -> None:
    empty = StateView.of([])
    assert answer("!deprecations", empty) == ["no deprecation notices known yet"]
    assert answer("!roadmap", empty) == ["no roadmap items known yet"]


def test_active_notices_and_merged_items() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    done = Notice("f", "Flatcar", "1.0.0-a", "gone", "gone", "alpha", "alpha", "1.0.0", when)
    moving = Notice("f", "Flatcar", "2.0.0-b", "going", "going", "alpha", "alpha", "2.0.0", when)
    lts_only = Notice("f", "Flatcar", "3.3.0-c", "lts", "lts", "lts", "lts-2026", "3.3.0", when)
    on_roadmap = Notice("r", "Flatcar", "o/r#1", "plan", "plan", "roadmap", "roadmap", None, when)
    reaches = [Reach("f", "1.0.0-a", c, c, "1.x") for c in ("alpha", "beta", "stable", "lts")]
    reaches += [
        Reach("f", "2.0.0-b", "alpha", "alpha", "2.0.0"),
        Reach("f", "3.3.0-c", "lts", "lts-2026", "3.3.0"),
    ]
    item = RoadmapItem("r", "Flatcar", "o/r#1", "plan", state="open")
    active = active_notices([done, moving, lts_only, on_roadmap], reaches, [item])
    assert [p.notice.id for p in active] == ["2.0.0-b", "o/r#1"]
    assert active[0].pending == ("beta", "stable", "lts")
    closed = RoadmapItem("r", "Flatcar", "o/r#1", "plan", state="closed")
    assert [p.notice.id for p in active_notices([on_roadmap], [], [closed])] == []

    board = RoadmapItem("b", "Flatcar", "o/r#1", "plan", status="In progress", updated=when)
    issue = RoadmapItem("i", "Flatcar", "o/r#1", "plan", updated=when + timedelta(days=1))
    (one,) = merged([board, issue])
    assert one.source == "i" and one.status == "In progress"


# -- the command line ------------------------------------------------------------------------------
