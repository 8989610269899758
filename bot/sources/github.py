"""GitHub's answers parsed (pure): a Project (v2, GraphQL) page and a page of labelled issues (REST).

- **github_project**: `organization(login).projectV2(number).items`, 100 per page; each item's status
  is the value of the configured status field (`fieldValueByName`).
- **github_issues**: a page of `GET /repos/{repo}/issues`, one item per issue or pull request.

Fetching (pagination, conditional requests, rate limits) lives in `bot.sources.kinds.github_*` and
`bot.sources.github_api`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from bot.errors import ParseError, RateLimitError
from bot.model import RoadmapItem
from bot.roadmap import RoadmapDocument
from bot.sources.github_api import next_link
from bot.sources.http import retry_after
from bot.text import sanitize

__all__ = [
    "MAX_BODY",
    "PROJECT_QUERY",
    "RoadmapDocument",
    "next_link",
    "parse_issues",
    "parse_project_page",
]

log = logging.getLogger("release-bot")

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
