"""What channel commands look at: the known state, loaded once from the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from bot.model import Notice, Reach, Release, RoadmapItem
from bot.security import SecurityIndex, release_security

if TYPE_CHECKING:
    from bot.store import StateStore


@dataclass(frozen=True)
class StateView:
    """What commands may look at: every known release, deprecation notice (and the channels each has
    reached), roadmap item still listed, and the security index stored with each release."""

    releases: tuple[Release, ...]
    notices: tuple[Notice, ...] = ()
    reaches: tuple[Reach, ...] = ()
    roadmap: tuple[RoadmapItem, ...] = ()
    #: (source, stream, version) → the stored security index; a release not in it is read from its notes
    security: Mapping[tuple[str, str, str], SecurityIndex] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def security_of(self, release: Release) -> SecurityIndex:
        """The security index of a release: the stored one, else from its notes."""
        stored = self.security.get(release.key)
        return stored if stored is not None else release_security(release)

    @classmethod
    def of(
        cls,
        releases: Iterable[Release],
        *,
        notices: Iterable[Notice] = (),
        reaches: Iterable[Reach] = (),
        roadmap: Iterable[RoadmapItem] = (),
        security: Mapping[tuple[str, str, str], SecurityIndex] | None = None,
    ) -> StateView:
        return cls(
            tuple(releases),
            tuple(notices),
            tuple(reaches),
            tuple(roadmap),
            MappingProxyType(dict(security or {})),
        )


def load_state_view(store: StateStore) -> StateView:
    """The state view of a state database (the bot's and `release-bot query`'s)."""
    return StateView.of(
        store.releases(),
        notices=store.notices(),
        reaches=store.reaches(),
        roadmap=store.roadmap_items(present_only=True),
        security=store.security_indexes(),
    )
