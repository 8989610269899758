"""`[[sources]]`: one frozen dataclass per kind, a tagged union on `kind`.

Every kind has `name`, `project`, `interval`, `announce_on_first_run`, `flood_limit` and `documents()` (the
(document name, URL) pairs it fetches); `source.kind == "flatcar"` or `isinstance(source,
RoadmapSource)` narrows to the kind's own fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import quote

from bot.channels import DEFAULT_CHANNELS, FLATCAR_CHANNELS
from bot.config.table import Table

DEFAULT_FLATCAR_BASE_URL = "https://www.flatcar.org/releases-json/"
DEFAULT_RELEASE_LINK = "https://www.flatcar.org/releases#release-{version}"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_GITHUB_GRAPHQL = "https://api.github.com/graphql"
#: Source kinds that watch plans (roadmap items) rather than releases.
ROADMAP_KINDS: tuple[str, ...] = ("github_project", "github_issues", "roadmap_feed")
SourceKind = Literal["flatcar", "feed", "github_project", "github_issues", "roadmap_feed"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("flatcar", "feed", "github_project", "github_issues", "roadmap_feed")
#: Labels that make a roadmap item a deprecation notice.
DEFAULT_DEPRECATION_LABELS: tuple[str, ...] = ("kind/deprecation", "deprecation")

#: `[bot] flood_limit` when the config does not set it
DEFAULT_FLOOD_LIMIT = 20

_LTS_STREAM = re.compile(r"^lts-\d{4}$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_ISSUE_STATES: tuple[Literal["all", "open"], ...] = ("all", "open")


@dataclass(frozen=True, kw_only=True)
class _Source:
    """What every kind of source has."""

    name: str
    project: str
    interval: float = 900.0
    announce_on_first_run: int = 0
    #: more new releases than this from one document in one poll are announced as one summary (0: never;
    #: `bot.flood`); the source's own key, else `[bot] flood_limit`
    flood_limit: int = DEFAULT_FLOOD_LIMIT

    @property
    def is_roadmap(self) -> bool:
        """True for the kinds that watch plans (`RoadmapSource`); `isinstance(s, RoadmapSource)` also
        narrows the type."""
        return isinstance(self, GithubProjectSource | GithubIssuesSource | RoadmapFeedSource)


@dataclass(frozen=True, kw_only=True)
class FlatcarSource(_Source):
    """Flatcar's per-channel releases JSON."""

    kind: Literal["flatcar"] = "flatcar"
    project: str = "Flatcar"
    base_url: str = DEFAULT_FLATCAR_BASE_URL
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    lts_streams: tuple[str, ...] = ()
    release_link: str = DEFAULT_RELEASE_LINK

    def documents(self) -> list[tuple[str, str]]:
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        names = [f"releases-{c}.json" for c in (*self.channels, *self.lts_streams)]
        return [(name, base + name) for name in names]


@dataclass(frozen=True, kw_only=True)
class FeedSource(_Source):
    """Any Atom/RSS feed whose entries are releases of one stream."""

    kind: Literal["feed"] = "feed"
    url: str
    stream: str = "releases"
    version_pattern: str | None = None

    def documents(self) -> list[tuple[str, str]]:
        return [("feed", self.url)]


@dataclass(frozen=True, kw_only=True)
class _GithubSource(_Source):
    """What both GitHub API kinds have."""

    api_url: str  # GraphQL endpoint (github_project) or REST API base (github_issues)
    token_env: str | None = None
    max_pages: int = 10
    rate_limit_wait: float = 60.0
    deprecation_labels: tuple[str, ...] = DEFAULT_DEPRECATION_LABELS


@dataclass(frozen=True, kw_only=True)
class GithubProjectSource(_GithubSource):
    """A GitHub Project board (GraphQL): its items and their status column."""

    kind: Literal["github_project"] = "github_project"
    api_url: str = DEFAULT_GITHUB_GRAPHQL
    token_env: str | None = "GITHUB_TOKEN"
    org: str = "flatcar"
    project_number: int
    status_field: str = "Status"
    statuses: tuple[str, ...] = ()  # statuses worth announcing; empty: all

    def documents(self) -> list[tuple[str, str]]:
        return [(f"project-{self.org}-{self.project_number}", self.api_url)]


@dataclass(frozen=True, kw_only=True)
class GithubIssuesSource(_GithubSource):
    """Labelled issues of one repository (REST)."""

    kind: Literal["github_issues"] = "github_issues"
    api_url: str = DEFAULT_GITHUB_API
    max_pages: int = 5
    repo: str = "flatcar/Flatcar"
    labels: tuple[str, ...] = ("kind/roadmap",)
    state: Literal["all", "open"] = "all"

    @property
    def statuses(self) -> tuple[str, ...]:
        """Issues have no status column: every status is worth announcing."""
        return ()

    def documents(self) -> list[tuple[str, str]]:
        base = self.api_url.rstrip("/")
        query = f"state={self.state}&sort=updated&direction=desc&per_page=100"
        if not self.labels:
            return [("issues", f"{base}/repos/{self.repo}/issues?{query}")]
        return [
            (f"issues-{label}", f"{base}/repos/{self.repo}/issues?labels={quote(label, safe='')}&{query}")
            for label in self.labels
        ]


@dataclass(frozen=True, kw_only=True)
class RoadmapFeedSource(_Source):
    """Any Atom/RSS feed whose entries are plans."""

    kind: Literal["roadmap_feed"] = "roadmap_feed"
    url: str
    deprecation_labels: tuple[str, ...] = DEFAULT_DEPRECATION_LABELS

    @property
    def statuses(self) -> tuple[str, ...]:
        """Feed entries have no status column: every status is worth announcing."""
        return ()

    def documents(self) -> list[tuple[str, str]]:
        return [("feed", self.url)]


#: Sources of releases (snapshot → release/promotion events).
ReleaseSource = FlatcarSource | FeedSource
#: Sources read through GitHub's API (token, paging, rate limits).
GithubSource = GithubProjectSource | GithubIssuesSource
#: Sources of plans (roadmap items → roadmap/deprecation events).
RoadmapSource = GithubProjectSource | GithubIssuesSource | RoadmapFeedSource
#: One `[[sources]]` table.
SourceConfig = ReleaseSource | RoadmapSource


def parse_source(table: Table, *, flood_limit: int = DEFAULT_FLOOD_LIMIT) -> SourceConfig:
    """One `[[sources]]` table (unknown keys are errors); `flood_limit` is the bot-wide default."""
    name = table.name()
    kind = table.choice("kind", SOURCE_KINDS)
    interval = table.duration("interval", 900.0, minimum=10.0)
    announce = table.integer("announce_on_first_run", 0, minimum=0)
    limit = table.integer("flood_limit", flood_limit, minimum=0)
    config: SourceConfig
    if kind == "flatcar":
        config = _flatcar(table, name=name, interval=interval, announce=announce)
    elif kind == "feed":
        pattern = table.optional_string("version_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise table.error("version_pattern", f"not a valid regular expression: {exc}") from exc
        config = FeedSource(
            name=name,
            project=table.string("project", name),
            interval=interval,
            announce_on_first_run=announce,
            url=table.url("url"),
            stream=table.string("stream", "releases"),
            version_pattern=pattern,
        )
    else:
        config = _roadmap(table, kind=kind, name=name, interval=interval, announce=announce)
    table.finish()
    return replace(config, flood_limit=limit)


def _flatcar(table: Table, *, name: str, interval: float, announce: int) -> FlatcarSource:
    channels = table.str_list("channels", DEFAULT_CHANNELS, choices=FLATCAR_CHANNELS)
    streams = table.str_list("lts_streams")
    for i, stream in enumerate(streams):
        if not _LTS_STREAM.match(stream):
            raise table.error(f"lts_streams[{i}]", f'expected a name like "lts-2024", got {stream!r}')
    if not channels and not streams:
        raise table.error("channels", "no channels and no lts_streams: nothing to watch")
    link = table.string("release_link", DEFAULT_RELEASE_LINK)
    try:
        link.format(version="1.2.3", channel="stable", stream="stable")
    except (KeyError, IndexError, ValueError) as exc:
        raise table.error(
            "release_link", f"bad placeholder {exc}; use {{version}}, {{channel}}, {{stream}}"
        ) from exc
    return FlatcarSource(
        name=name,
        project=table.string("project", "Flatcar"),
        interval=interval,
        announce_on_first_run=announce,
        base_url=table.url("base_url", DEFAULT_FLATCAR_BASE_URL),
        channels=channels,
        lts_streams=streams,
        release_link=link,
    )


def _roadmap(table: Table, *, kind: SourceKind, name: str, interval: float, announce: int) -> RoadmapSource:
    """github_project (a GitHub Project board, GraphQL), github_issues (labelled issues, REST) and
    roadmap_feed (any Atom/RSS feed whose entries are plans)."""
    project = table.string("project", name)
    labels = table.str_list("deprecation_labels", DEFAULT_DEPRECATION_LABELS)
    if kind == "roadmap_feed":
        return RoadmapFeedSource(
            name=name,
            project=project,
            interval=interval,
            announce_on_first_run=announce,
            url=table.url("url"),
            deprecation_labels=labels,
        )
    token_env = table.env_name("token_env", "GITHUB_TOKEN" if kind == "github_project" else None)
    max_pages = table.integer("max_pages", 10 if kind == "github_project" else 5, minimum=1)
    rate_limit_wait = table.duration("rate_limit_wait", 60.0, minimum=0.0)
    if kind == "github_project":
        org = table.string("org", "flatcar")
        if not _ORG.match(org):
            raise table.error("org", f"expected a GitHub organisation login, got {org!r}")
        return GithubProjectSource(
            name=name,
            project=project,
            interval=interval,
            announce_on_first_run=announce,
            deprecation_labels=labels,
            token_env=token_env,
            max_pages=max_pages,
            rate_limit_wait=rate_limit_wait,
            api_url=table.url("api_url", DEFAULT_GITHUB_GRAPHQL),
            org=org,
            project_number=table.integer("project_number", minimum=1),
            status_field=table.string("status_field", "Status"),
            statuses=table.str_list("statuses"),
        )
    repo = table.string("repo", "flatcar/Flatcar")
    if not _REPO.match(repo):
        raise table.error("repo", f'expected "owner/name", got {repo!r}')
    return GithubIssuesSource(
        name=name,
        project=project,
        interval=interval,
        announce_on_first_run=announce,
        deprecation_labels=labels,
        token_env=token_env,
        max_pages=max_pages,
        rate_limit_wait=rate_limit_wait,
        api_url=table.url("api_url", DEFAULT_GITHUB_API),
        repo=repo,
        labels=table.str_list("labels", ("kind/roadmap",)),
        state=table.choice("state", _ISSUE_STATES, "all"),
    )
