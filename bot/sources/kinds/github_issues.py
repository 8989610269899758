"""Kind `github_issues`: `GET /repos/{repo}/issues?labels=…&state=all&sort=updated&direction=desc`,
one listing per label, following `Link: rel="next"` up to `max_pages`.

Works without a token (60 requests an hour); the first page is a conditional request (ETag): sorted
by update time, an unchanged first page means an unchanged listing, and a 304 costs no rate limit.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.config import GithubIssuesSource, secret
from bot.errors import SourceError
from bot.model import RoadmapItem
from bot.roadmap import RoadmapDocument
from bot.sources.base import KnownDocument, RoadmapFetch, Sleep, own, previous_validators, update_of
from bot.sources.github import parse_issues
from bot.sources.github_api import Deferred, github_headers, next_link, origin, pace, patiently
from bot.sources.http import HttpFetcher
from bot.sources.kinds.listing import ListingKind

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["GITHUB_ISSUES", "GithubIssuesKind"]


class GithubIssuesKind(ListingKind):
    kind = "github_issues"

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        source = own(source, GithubIssuesSource)
        base = source.api_url.rstrip("/")
        query = f"state={source.state}&sort=updated&direction=desc&per_page=100"
        if not source.labels:
            return [("issues", f"{base}/repos/{source.repo}/issues?{query}")]
        return [
            (f"issues-{label}", f"{base}/repos/{source.repo}/issues?labels={quote(label, safe='')}&{query}")
            for label in source.labels
        ]

    async def fetch_one(
        self,
        fetcher: HttpFetcher,
        source: SourceConfig,
        name: str,
        url: str,
        state: KnownDocument | None,
        out: RoadmapFetch,
        *,
        sleep: Sleep,
    ) -> None:
        source = own(source, GithubIssuesSource)
        token = secret(source.token_env) if source.token_env else None
        previous = previous_validators(state, url)
        headers = github_headers(token)
        first = await patiently(
            lambda: fetcher.fetch(url, source=source.name, previous=previous, headers=headers),
            source=source,
            sleep=sleep,
        )
        if first.not_modified:
            out.updates.append(update_of(name, url, first, changed=False))
            return
        assert first.body is not None
        items: list[RoadmapItem] = parse_issues(
            first.body, source=source.name, project=source.project, repo=source.repo, url=url
        )
        complete = True
        link = next_link(first.headers.get("link"))
        headers_now = first.headers
        pages = 1
        try:
            while link is not None:
                if pages >= source.max_pages:
                    complete = False
                    break
                if origin(link) is None or origin(link) != origin(url):
                    # the token goes with every page: never to another host than the configured API's
                    raise SourceError(
                        f"pagination link to another host refused: {link[:200]!r}",
                        source=source.name,
                        url=url,
                    )
                await pace(headers_now, source=source, url=link, sleep=sleep)
                page_url = link
                page = await patiently(
                    functools.partial(fetcher.fetch, page_url, source=source.name, headers=headers),
                    source=source,
                    sleep=sleep,
                )
                assert page.body is not None
                items += parse_issues(
                    page.body, source=source.name, project=source.project, repo=source.repo, url=page_url
                )
                link, headers_now, pages = next_link(page.headers.get("link")), page.headers, pages + 1
        except Deferred:
            # what was read is used; the validators are not stored, so the next poll reads it all again
            out.documents.append(RoadmapDocument(name, tuple(items), complete=False))
            raise
        out.documents.append(RoadmapDocument(name, tuple(items), complete=complete))
        out.updates.append(update_of(name, url, first, changed=True))


GITHUB_ISSUES = GithubIssuesKind()
