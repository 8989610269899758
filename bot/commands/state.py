"""What channel commands look at: the known state, loaded once from the store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.model import Notice, Reach, Release, RoadmapItem

if TYPE_CHECKING:
    from bot.store import StateStore


@dataclass(frozen=True)
class StateView:
    """What commands may look at: every known release, deprecation notice (and the channels each has
    reached) and roadmap item still listed."""

    releases: tuple[Release, ...]
    notices: tuple[Notice, ...] = ()
    reaches: tuple[Reach, ...] = ()
    roadmap: tuple[RoadmapItem, ...] = ()

    @classmethod
    def of(
        cls,
        releases: Iterable[Release],
        *,
        notices: Iterable[Notice] = (),
        reaches: Iterable[Reach] = (),
        roadmap: Iterable[RoadmapItem] = (),
    ) -> StateView:
        return cls(tuple(releases), tuple(notices), tuple(reaches), tuple(roadmap))


def load_state_view(store: StateStore) -> StateView:
    """The state view of a state database (the bot's and `release-bot query`'s)."""
    return StateView.of(
        store.releases(),
        notices=store.notices(),
        reaches=store.reaches(),
        roadmap=store.roadmap_items(present_only=True),
    )
