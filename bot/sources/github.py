"""Roadmap sources: a GitHub Project (v2, GraphQL), labelled GitHub issues (REST), any Atom/RSS feed.

Fetching goes through the shared HttpFetcher (deadline, byte cap, redirect rules). Parsing is pure.

- **github_project**: `organization(login).projectV2(number).items`, 100 per page, following
  `pageInfo.endCursor` up to `max_pages`; each item's status is the value of the configured status
  field (`fieldValueByName`). GitHub's GraphQL API needs a token, read from the variable `token_env`
  names. GraphQL answers are POSTs, so they cannot be conditional; each poll reads every page.
- **github_issues**: `GET /repos/{repo}/issues?labels=…&state=all&sort=updated&direction=desc`, one
  listing per label, following `Link: rel="next"` up to `max_pages`. Works without a token (60 requests
  an hour); the first page is a conditional request (ETag): sorted by update time, an unchanged first
  page means an unchanged listing, and a 304 costs no rate limit.
- **roadmap_feed**: every entry of an Atom/RSS feed is an item (its categories are its labels).

Rate limits: a 403/429 that says when to come back (`Retry-After`, `X-RateLimit-Remaining: 0` with
`X-RateLimit-Reset`), a GraphQL `RATE_LIMITED` error, or a page that leaves no requests for the next
one: the fetch waits when that is at most `rate_limit_wait`, otherwise it stops and reports when to
poll again (`RoadmapFetch.retry_after`) instead of failing.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import feedparser

from bot.config import (
    GithubIssuesSource,
    GithubProjectSource,
    GithubSource,
    RoadmapFeedSource,
    RoadmapSource,
    secret,
)
from bot.errors import ParseError, RateLimitError, SourceError
from bot.model import RoadmapItem
from bot.sources.feed import entry_identity, entry_link
from bot.sources.http import FetchResult, HttpFetcher, Validators, retry_after
from bot.store import DocumentState, DocumentUpdate
from bot.text import sanitize

__all__ = [
    "PROJECT_QUERY",
    "RoadmapDocument",
    "RoadmapFetch",
    "fetch_roadmap",
    "next_link",
    "parse_issues",
    "parse_project_page",
    "parse_roadmap_feed",
]

log = logging.getLogger("release-bot")

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

#: Longest issue/item body kept (the bot shows titles; the body is context for templates).
MAX_BODY = 2000

PROJECT_QUERY = """
query($org: String!, $number: Int!, $field: String!, $cursor: String) {
  organization(login: $org) {
    projectV2(number: $number) {
      title
      url
      items(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          isArchived
          createdAt
          updatedAt
          fieldValueByName(name: $field) {
            ... on ProjectV2ItemFieldSingleSelectValue { name }
            ... on ProjectV2ItemFieldIterationValue { title }
            ... on ProjectV2ItemFieldTextValue { text }
          }
          content {
            __typename
            ... on Issue {
              number title url state body createdAt updatedAt
              repository { nameWithOwner }
              labels(first: 20) { nodes { name } }
            }
            ... on PullRequest {
              number title url state body createdAt updatedAt
              repository { nameWithOwner }
              labels(first: 20) { nodes { name } }
            }
            ... on DraftIssue { title body createdAt updatedAt }
          }
        }
      }
    }
  }
}
""".strip()


@dataclass(frozen=True)
class RoadmapDocument:
    """The items one listing returned. `complete`: every page was read, so a known item missing from
    it is no longer listed."""

    name: str
    items: tuple[RoadmapItem, ...]
    complete: bool


@dataclass
class RoadmapFetch:
    """One poll of a roadmap source: documents read (a 304 is only an update), validators to store,
    errors, and — when rate limited beyond `rate_limit_wait` — how long to wait before the next poll."""

    documents: list[RoadmapDocument] = field(default_factory=list)
    updates: list[DocumentUpdate] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retry_after: float | None = None
    rate_limited: str | None = None  # the message, when the poll stopped for a rate limit


# -- parsing (pure) --------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _state(value: Any) -> Literal["open", "closed"]:
    return "open" if _text(value).lower() == "open" else "closed"


def _json(body: bytes, *, source: str, url: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        if body[:200].lstrip().startswith(b"<"):
            raise ParseError("expected JSON, got an HTML/XML page", source=source, url=url) from exc
        raise ParseError(f"not valid JSON: {exc}", source=source, url=url) from exc


def parse_issues(body: bytes, *, source: str, project: str, repo: str, url: str = "") -> list[RoadmapItem]:
    """One page of `GET /repos/{repo}/issues` → items ("owner/repo#number"), in page order."""
    data = _json(body, source=source, url=url)
    if not isinstance(data, list):
        message = data.get("message") if isinstance(data, dict) else None
        raise ParseError(
            f"expected a JSON list of issues{f': {message}' if message else ''}", source=source, url=url
        )
    items: list[RoadmapItem] = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("number"), int):
            raise ParseError("an issue without a number", source=source, url=url)
        labels = tuple(
            _text(label.get("name")) if isinstance(label, dict) else _text(label)
            for label in entry.get("labels") or ()
        )
        items.append(
            RoadmapItem(
                source=source,
                project=project,
                id=f"{repo}#{entry['number']}",
                title=_text(entry.get("title")),
                url=_text(entry.get("html_url")) or None,
                state=_state(entry.get("state")),
                labels=tuple(label for label in labels if label),
                number=entry["number"],
                repo=repo,
                kind="pull_request" if entry.get("pull_request") else "issue",
                updated=_time(entry.get("updated_at")),
                created=_time(entry.get("created_at")),
                body=_text(entry.get("body"))[:MAX_BODY],
            )
        )
    return items


_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of an RFC 8288 Link header (GitHub's pagination), or None."""
    for url, rels in _LINK.findall(header or ""):
        if "next" in rels.split():
            return str(url)
    return None


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL; None when it has none (or a bad port)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port) if parts.hostname else None


def _graphql_errors(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    errors = data.get("errors")
    return [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []


_ITEM_PATH = ("organization", "projectV2", "items", "nodes")


def _about_one_item(error: Mapping[str, Any]) -> bool:
    """An error about one board item (`path` organization.projectV2.items.nodes[i]…): GitHub answers the
    rest of the page, with that item's content null — an issue of a repository the token cannot read."""
    path = error.get("path")
    return (
        isinstance(path, list)
        and len(path) > len(_ITEM_PATH)
        and tuple(path[: len(_ITEM_PATH)]) == _ITEM_PATH
        and isinstance(path[len(_ITEM_PATH)], int)
        and error.get("type") != "RATE_LIMITED"
    )


def parse_project_page(
    body: bytes,
    *,
    source: str,
    project: str,
    url: str = "",
    headers: Mapping[str, str] | None = None,
) -> tuple[list[RoadmapItem], str | None]:
    """One GraphQL answer → (items, cursor of the next page or None).

    Raises RateLimitError for a `RATE_LIMITED` error, ParseError for any other error or shape — except
    errors about single items (a partial answer): those items are left out, the rest is read.
    """
    data = _json(body, source=source, url=url)
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object", source=source, url=url)
    errors = _graphql_errors(data)
    if errors and all(_about_one_item(e) for e in errors):
        first = _text(errors[0].get("message")) or "unknown error"
        log.info(
            "source %s: %d board item(s) left out (GraphQL: %s)", source, len(errors), sanitize(first)[:200]
        )
        errors = []
    if errors:
        if any(e.get("type") == "RATE_LIMITED" for e in errors):
            wait = retry_after(headers or {}) or 60.0
            raise RateLimitError(
                f"GraphQL rate limited, retry in {wait:.0f}s", source=source, url=url, retry_after=wait
            )
        messages = "; ".join(_text(e.get("message")) or "unknown error" for e in errors[:3])
        raise ParseError(f"GraphQL error: {messages}", source=source, url=url)
    try:
        board = data["data"]["organization"]["projectV2"]
        if board is None:
            raise ParseError("project not found (or not visible to the token)", source=source, url=url)
        page = board["items"]
        nodes = page["nodes"]
        info = page["pageInfo"]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"unexpected GraphQL answer: missing {exc}", source=source, url=url) from None
    items: list[RoadmapItem] = []
    for node in nodes or ():
        if not isinstance(node, dict) or node.get("isArchived"):
            continue
        item = _project_item(node, source=source, project=project)
        if item is not None:
            items.append(item)
    cursor = info.get("endCursor") if isinstance(info, dict) and info.get("hasNextPage") else None
    return items, (cursor if isinstance(cursor, str) and cursor else None)


def _project_item(node: Mapping[str, Any], *, source: str, project: str) -> RoadmapItem | None:
    value = node.get("fieldValueByName")
    status = ""
    if isinstance(value, dict):
        status = _text(value.get("name")) or _text(value.get("title")) or _text(value.get("text"))
    content = node.get("content")
    if not isinstance(content, dict):
        return None  # redacted (private) content
    typename = content.get("__typename")
    created = _time(node.get("createdAt")) or _time(content.get("createdAt"))
    updated = max(
        (t for t in (_time(node.get("updatedAt")), _time(content.get("updatedAt"))) if t is not None),
        default=None,
    )
    if typename in ("Issue", "PullRequest") and isinstance(content.get("number"), int):
        repo_data = content.get("repository")
        repo = _text(repo_data.get("nameWithOwner")) if isinstance(repo_data, dict) else ""
        label_nodes = (content.get("labels") or {}).get("nodes") or ()
        labels = tuple(_text(n.get("name")) for n in label_nodes if isinstance(n, dict) and n.get("name"))
        return RoadmapItem(
            source=source,
            project=project,
            id=f"{repo}#{content['number']}",
            title=_text(content.get("title")),
            url=_text(content.get("url")) or None,
            status=status,
            state=_state(content.get("state")),
            labels=labels,
            number=content["number"],
            repo=repo or None,
            kind="pull_request" if typename == "PullRequest" else "issue",
            updated=updated,
            created=created,
            body=_text(content.get("body"))[:MAX_BODY],
        )
    if typename == "DraftIssue":
        return RoadmapItem(
            source=source,
            project=project,
            id=_text(node.get("id")),
            title=_text(content.get("title")),
            url=None,
            status=status,
            kind="draft",
            updated=updated,
            created=created,
            body=_text(content.get("body"))[:MAX_BODY],
        )
    return None


def _feed_time(value: Any) -> datetime | None:
    if not isinstance(value, tuple) or len(value) < 6:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def parse_roadmap_feed(body: bytes, *, source: str, project: str, url: str) -> list[RoadmapItem]:
    """Every entry of an Atom/RSS feed as an open item; its id is the entry's id (else link, else a hash
    of title and date); its categories are its labels."""
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    entries = list(parsed.get("entries") or ())
    if not entries and (not parsed.get("version") or parsed.get("bozo")):
        raise ParseError("not an Atom/RSS feed", source=source, url=url)
    items: list[RoadmapItem] = []
    seen: set[str] = set()
    for entry in entries:
        ident = entry_identity(entry)
        if ident in seen:
            continue
        seen.add(ident)
        tags = tuple(_text(t.get("term")) for t in entry.get("tags") or () if isinstance(t, Mapping))
        published = _feed_time(entry.get("published_parsed")) or _feed_time(entry.get("updated_parsed"))
        items.append(
            RoadmapItem(
                source=source,
                project=project,
                id=ident,
                title=_text(entry.get("title")) or ident,
                url=entry_link(entry, base=url),
                labels=tuple(t for t in tags if t),
                kind="entry",
                updated=_feed_time(entry.get("updated_parsed")) or published,
                created=published,
                body=_text(entry.get("summary"))[:MAX_BODY],
            )
        )
    return items


# -- fetching --------------------------------------------------------------------------------------


class _Deferred(Exception):
    """Rate limited for longer than the source may wait: stop this poll."""

    def __init__(self, error: RateLimitError) -> None:
        super().__init__(str(error))
        self.error = error


def _github_headers(token: str | None, *, json_body: bool = False) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if json_body:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def _patiently(call: Callable[[], Awaitable[T]], *, source: GithubSource, sleep: Sleep) -> T:
    """`call()`, waiting out one rate limit of at most `rate_limit_wait` seconds."""
    try:
        return await call()
    except RateLimitError as exc:
        if exc.retry_after > source.rate_limit_wait:
            raise _Deferred(exc) from exc
        log.info("source %s: rate limited; waiting %.0f s", source.name, exc.retry_after)
        await sleep(exc.retry_after)
    try:
        return await call()
    except RateLimitError as exc:
        raise _Deferred(exc) from exc


async def _pace(headers: Mapping[str, str], *, source: GithubSource, url: str, sleep: Sleep) -> None:
    """Before asking for another page: when the last answer left no requests, wait for the reset (if
    that is short enough) or stop."""
    if (headers.get("x-ratelimit-remaining") or "").strip() != "0":
        return
    wait = retry_after(headers) or 0.0
    if wait > source.rate_limit_wait:
        raise _Deferred(
            RateLimitError(
                f"rate limit exhausted, resets in {wait:.0f}s", source=source.name, url=url, retry_after=wait
            )
        )
    if wait > 0:
        log.info("source %s: rate limit exhausted; waiting %.0f s for the reset", source.name, wait)
        await sleep(wait)


async def _fetch_issues(
    fetcher: HttpFetcher,
    source: GithubIssuesSource,
    name: str,
    url: str,
    state: DocumentState | None,
    out: RoadmapFetch,
    *,
    token: str | None,
    sleep: Sleep,
) -> None:
    previous = None
    if state is not None and state.url == url:
        previous = Validators(state.etag, state.last_modified, state.body_sha256)
    headers = _github_headers(token)
    first = await _patiently(
        lambda: fetcher.fetch(url, source=source.name, previous=previous, headers=headers),
        source=source,
        sleep=sleep,
    )
    if first.not_modified:
        v = first.validators
        out.updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, False))
        return
    assert first.body is not None
    items = parse_issues(first.body, source=source.name, project=source.project, repo=source.repo, url=url)
    complete = True
    link = next_link(first.headers.get("link"))
    headers_now = first.headers
    pages = 1
    try:
        while link is not None:
            if pages >= source.max_pages:
                complete = False
                break
            if _origin(link) is None or _origin(link) != _origin(url):
                # the token goes with every page: never to another host than the configured API's
                raise SourceError(
                    f"pagination link to another host refused: {link[:200]!r}", source=source.name, url=url
                )
            await _pace(headers_now, source=source, url=link, sleep=sleep)
            page_url = link
            page = await _patiently(
                functools.partial(fetcher.fetch, page_url, source=source.name, headers=headers),
                source=source,
                sleep=sleep,
            )
            assert page.body is not None
            items += parse_issues(
                page.body, source=source.name, project=source.project, repo=source.repo, url=page_url
            )
            link, headers_now, pages = next_link(page.headers.get("link")), page.headers, pages + 1
    except _Deferred:
        # what was read is used; the validators are not stored, so the next poll reads it all again
        out.documents.append(RoadmapDocument(name, tuple(items), complete=False))
        raise
    v = first.validators
    out.documents.append(RoadmapDocument(name, tuple(items), complete=complete))
    out.updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, True))


async def _fetch_project(
    fetcher: HttpFetcher,
    source: GithubProjectSource,
    name: str,
    url: str,
    state: DocumentState | None,
    out: RoadmapFetch,
    *,
    token: str | None,
    sleep: Sleep,
) -> None:
    if not token:
        raise SourceError(
            f"environment variable {source.token_env} (token_env) is not set; "
            "GitHub's GraphQL API needs a token (read access to the organisation's projects)",
            source=source.name,
            url=url,
        )
    headers = _github_headers(token, json_body=True)
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
                await _pace(last_headers, source=source, url=url, sleep=sleep)
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
                    result.body, source=source.name, project=source.project, url=url, headers=result.headers
                )
                return result, found, following

            result, page_items, cursor = await _patiently(one_page, source=source, sleep=sleep)
            assert result.body is not None
            digest.update(result.body)
            items += page_items
            last_headers, pages = result.headers, pages + 1
            if cursor is None:
                break
    except _Deferred:
        out.documents.append(RoadmapDocument(name, tuple(items), complete=False))
        raise
    sha = digest.hexdigest()
    changed = state is None or state.body_sha256 != sha
    out.documents.append(RoadmapDocument(name, tuple(items), complete=complete))
    out.updates.append(DocumentUpdate(name, url, None, None, sha, changed))


async def _fetch_feed(
    fetcher: HttpFetcher,
    source: RoadmapFeedSource,
    name: str,
    url: str,
    state: DocumentState | None,
    out: RoadmapFetch,
) -> None:
    previous = None
    if state is not None and state.url == url:
        previous = Validators(state.etag, state.last_modified, state.body_sha256)
    result = await fetcher.fetch(url, source=source.name, previous=previous)
    v = result.validators
    if result.not_modified:
        out.updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, False))
        return
    assert result.body is not None
    items = await asyncio.to_thread(
        parse_roadmap_feed, result.body, source=source.name, project=source.project, url=url
    )
    out.documents.append(RoadmapDocument(name, tuple(items), complete=True))
    out.updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, True))


async def fetch_roadmap(
    fetcher: HttpFetcher,
    source: RoadmapSource,
    states: Mapping[str, DocumentState],
    *,
    sleep: Sleep = asyncio.sleep,
) -> RoadmapFetch:
    """Fetch every document of a roadmap source. Errors are collected per document (other documents
    are still read); a rate limit longer than `rate_limit_wait` stops the poll with `retry_after` set."""
    out = RoadmapFetch()
    token_env = None if isinstance(source, RoadmapFeedSource) else source.token_env
    token = secret(token_env) if token_env else None
    for name, url in source.documents():
        try:
            if isinstance(source, GithubIssuesSource):
                await _fetch_issues(
                    fetcher, source, name, url, states.get(name), out, token=token, sleep=sleep
                )
            elif isinstance(source, GithubProjectSource):
                await _fetch_project(
                    fetcher, source, name, url, states.get(name), out, token=token, sleep=sleep
                )
            else:
                await _fetch_feed(fetcher, source, name, url, states.get(name), out)
        except _Deferred as deferred:
            out.retry_after = deferred.error.retry_after
            out.rate_limited = str(deferred.error)
            break
        except SourceError as exc:
            out.errors.append(str(exc))
    return out
