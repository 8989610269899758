"""What channel commands look at: the known state, loaded once from the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING

from bot.channels import LTS_EOL_AFTER_DAYS, end_of_life_streams
from bot.model import Notice, Reach, Release, RoadmapItem

if TYPE_CHECKING:
    from bot.security import SecurityIndex
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
    #: an LTS stream without a release for this many days (while a newer one exists) is end of life
    eol_after_days: float | None = LTS_EOL_AFTER_DAYS
    #: the `lts-YYYY` streams the source's `current-YYYY` pointers name now (None: not known)
    live_lts: frozenset[str] | None = None
    #: "now" for the end-of-life age, in seconds; None: the newest release's date (pure, from the data)
    now: float | None = None

    @cached_property
    def end_of_life(self) -> frozenset[str]:
        """The LTS streams past their end of life (`bot.channels.end_of_life_streams`)."""
        newest: dict[str, float | None] = {}
        for release in self.releases:
            stamp = release.published.timestamp() if release.published else None
            old = newest.get(release.stream)
            if release.stream not in newest or (stamp is not None and (old is None or stamp > old)):
                newest[release.stream] = stamp
        now = self.now
        if now is None:
            now = max((s for s in newest.values() if s is not None), default=None)
        return end_of_life_streams(
            newest,
            now=now,
            eol_after_days=self.eol_after_days,
            live=self.live_lts,
            notices=tuple(n.text for n in self.notices),
        )

    def security_of(self, release: Release) -> SecurityIndex:
        """The security index of a release: the stored one, else from its notes."""
        stored = self.security.get(release.key)
        if stored is not None:
            return stored
        from bot.security import release_security  # `!cve`/`!security` only: not every command pays

        return release_security(release)

    @classmethod
    def of(
        cls,
        releases: Iterable[Release],
        *,
        notices: Iterable[Notice] = (),
        reaches: Iterable[Reach] = (),
        roadmap: Iterable[RoadmapItem] = (),
        security: Mapping[tuple[str, str, str], SecurityIndex] | None = None,
        eol_after_days: float | None = LTS_EOL_AFTER_DAYS,
        live_lts: frozenset[str] | None = None,
        now: float | None = None,
    ) -> StateView:
        return cls(
            tuple(releases),
            tuple(notices),
            tuple(reaches),
            tuple(roadmap),
            MappingProxyType(dict(security or {})),
            eol_after_days,
            live_lts,
            now,
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
