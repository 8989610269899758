"""Kind `github_project`: `organization(login).projectV2(number).items` over GraphQL, 100 per page,
following `pageInfo.endCursor` up to `max_pages`.

GitHub's GraphQL API needs a token, read from the variable `token_env` names. GraphQL answers are
POSTs, so they cannot be conditional; each poll reads every page (a hash of the pages tells whether
anything changed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.config import GithubProjectSource, secret
from bot.errors import SourceError
from bot.model import RoadmapItem
from bot.roadmap import RoadmapDocument
from bot.sources.base import DocumentUpdate, KnownDocument, RoadmapFetch, Sleep, own
from bot.sources.github import PROJECT_QUERY, parse_project_page
from bot.sources.github_api import Deferred, github_headers, pace, patiently
from bot.sources.http import FetchResult, HttpFetcher
from bot.sources.kinds.listing import ListingKind

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["GITHUB_PROJECT", "GithubProjectKind"]


class GithubProjectKind(ListingKind):
    kind = "github_project"

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        source = own(source, GithubProjectSource)
        return [(f"project-{source.org}-{source.project_number}", source.api_url)]

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
        source = own(source, GithubProjectSource)
        token = secret(source.token_env) if source.token_env else None
        if not token:
            raise SourceError(
                f"environment variable {source.token_env} (token_env) is not set; "
                "GitHub's GraphQL API needs a token (read access to the organisation's projects)",
                source=source.name,
                url=url,
            )
        headers = github_headers(token, json_body=True)
        items: list[RoadmapItem] = []
        digest = hashlib.sha256()
        cursor: str | None = None
        complete = True
        pages = 0
        last_headers: Mapping[str, str] = {}
        try:
            while True:
                if pages >= source.max_pages:
                    complete = False
                    break
                if pages:
                    await pace(last_headers, source=source, url=url, sleep=sleep)
                variables = {
                    "org": source.org,
                    "number": source.project_number,
                    "field": source.status_field,
                    "cursor": cursor,
                }
                body = json.dumps({"query": PROJECT_QUERY, "variables": variables}).encode()

                async def one_page(body: bytes = body) -> tuple[FetchResult, list[RoadmapItem], str | None]:
                    # parsed here: a GraphQL rate limit is an error inside a 200 answer
                    result = await fetcher.post(url, source=source.name, content=body, headers=headers)
                    assert result.body is not None
                    found, following = parse_project_page(
                        result.body,
                        source=source.name,
                        project=source.project,
                        url=url,
                        headers=result.headers,
                    )
                    return result, found, following

                result, page_items, cursor = await patiently(one_page, source=source, sleep=sleep)
                assert result.body is not None
                digest.update(result.body)
                items += page_items
                last_headers, pages = result.headers, pages + 1
                if cursor is None:
                    break
        except Deferred:
            out.documents.append(RoadmapDocument(name, tuple(items), complete=False))
            raise
        sha = digest.hexdigest()
        changed = state is None or state.body_sha256 != sha
        out.documents.append(RoadmapDocument(name, tuple(items), complete=complete))
        out.updates.append(DocumentUpdate(name, url, None, None, sha, changed))


GITHUB_PROJECT = GithubProjectKind()
