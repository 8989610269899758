"""The store side of a poll: what is known before it (`load_known`) and the one place a poll is
written (`record`): success and failure alike go through `Store.commit_poll`, in one transaction."""

from __future__ import annotations

from datetime import datetime

from bot.fetched import DocumentUpdate as FetchedUpdate
from bot.pipeline import Known, PollPlan
from bot.store import DocumentUpdate, PollRecord, StateStore

__all__ = ["load_known", "record"]


def load_known(store: StateStore, source: str, *, roadmap: bool) -> Known:
    """What `plan_poll` needs to know about `source`, read once."""
    notices = tuple(store.notices(source))
    if roadmap:
        return Known(
            documents=store.document_baselines(source),
            notices=notices,
            roadmap_items={item.id: item for item in store.roadmap_items(source)},
        )
    return Known(
        documents=store.document_baselines(source),
        releases=store.known_releases(source),
        notices=notices,
        reached=frozenset((r.notice_id, r.channel) for r in store.reaches(source)),
    )


def record(store: StateStore, plan: PollPlan, *, now: datetime) -> list[int]:
    """Write one poll: validators, new releases, notices, roadmap items, events and their outbox rows
    and the poll's error. A failed plan (rendering failed) carries nothing but its error, so only the
    failure is recorded. Returns the new outbox ids."""
    return store.commit_poll(
        PollRecord(
            plan.source,
            now=now,
            documents=[_stored(update) for update in plan.updates],
            new_releases=plan.new_releases,
            events=plan.messages,
            error=plan.error,
            notices=plan.notices,
            reaches=plan.reaches,
            roadmap_items=plan.roadmap_items,
            roadmap_absent=plan.roadmap_absent,
        )
    )


def _stored(u: FetchedUpdate) -> DocumentUpdate:
    return DocumentUpdate(u.name, u.url, u.etag, u.last_modified, u.body_sha256, u.changed, u.entries)
