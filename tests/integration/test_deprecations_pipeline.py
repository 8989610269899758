"""The tests of tests/unit/test_deprecations.py that need a server, a subprocess or a socket."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import mailbox
import textwrap
from email.header import decode_header, make_header
from pathlib import Path

from bot.app import Bot
from bot.commands import answer, load_state_view
from bot.config import MboxOutput, load_config
from bot.sinks.console import ConsoleSink
from bot.sinks.mbox import MboxSink
from bot.store import Store
from tests.helpers import DATA, narrow
from tests.httpserver import LocalHTTPServer


def serve_until(server: LocalHTTPServer, cut: str) -> None:
    """Serve per-channel files holding the selected releases published before `cut` (YYYY-MM-DD)."""
    data = json.loads(gzip.decompress((DATA / "releases-selected.json.gz").read_bytes()))
    for channel in ("alpha", "beta", "stable", "lts"):
        kept = {v: r for v, r in data.items() if r["channel"] == channel and r["release_date"][:10] < cut}
        server.set(
            f"/f/releases-{channel}.json",
            json.dumps(kept, indent=2).encode(),
            content_type="application/json",
        )


def test_deprecations_through_the_pipeline(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"
        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "{http_server.url("/f/")}"
        [[outputs]]
        name = "console"
        kind = "console"
        [[outputs]]
        name = "stable-deprecations"
        kind = "mbox"
        path = "stable.mbox"
        [outputs.filter]
        kinds = ["deprecation"]
        channels = ["stable"]
        """),
        encoding="utf-8",
    )

    def poll(cut: str) -> list[str]:
        serve_until(http_server, cut)

        async def main() -> list[str]:
            loaded = load_config(config)
            out = io.StringIO()
            bot = Bot(
                loaded,
                sinks=[
                    ConsoleSink(loaded.outputs[0], stream=out),
                    MboxSink(narrow(loaded.outputs[1], MboxOutput)),
                ],
            )
            try:
                polls, _ = await bot.once()
                assert all(p.ok for p in polls), [p.error for p in polls]
            finally:
                await bot.aclose()
            return out.getvalue().splitlines()

        return asyncio.run(main())

    assert poll("2021-03-01") == []  # baseline: 2783.0.0 and its notice are recorded silently
    spring = poll("2021-05-01")
    assert spring == [
        spring[0],  # alpha 2801.0.0
        "[Flatcar] deprecation in alpha 2801.0.0: dhcpcd and containerd-stress will be deprecated from Alpha,"
        " also from other channels in the future (kinvolk/coreos-overlay#858)"
        " — https://www.flatcar.org/releases#release-2801.0.0",
        spring[2],  # the beta promotion of 2801
        "[Flatcar] deprecation reaches beta in 2801.1.0: Docker 1.12 will be deprecated from Alpha, also from"
        " other channels in the future. (first in alpha 2783.0.0) — https://www.flatcar.org/releases#release-2801.1.0",
        "[Flatcar] deprecation reaches beta in 2801.1.0: dhcpcd and containerd-stress will be deprecated from"
        " Alpha, also from other channels in the future (kinvolk/coreos-overlay#858)"
        " (first in alpha 2801.0.0) — https://www.flatcar.org/releases#release-2801.1.0",
        spring[5],  # alpha 2857.0.0
        "[Flatcar] deprecation in alpha 2857.0.0: rkt and kubelet-wrapper are deprecated and removed from"
        " Alpha, also from subsequent channels in the future. Please read the removal announcement to know"
        " more. — https://www.flatcar.org/releases#release-2857.0.0",
    ]
    assert "2801 promoted from alpha to beta: 2801.1.0" in spring[2]
    summer = poll("2021-08-01")
    reached_stable = [line for line in summer if "reaches stable" in line]
    assert [line.split(": ")[1][:30] for line in reached_stable] == [
        "Docker 1.12 will be deprecated",
        "dhcpcd and containerd-stress w",
        "rkt and kubelet-wrapper are de",
    ]
    assert all("in 2905.2.0" in line for line in reached_stable)
    rest = poll("2027-01-01")
    assert sum("reaches LTS in 3033.3.0" in line for line in rest) == 5  # docker, dhcpcd, rkt, cgroups, etcd
    assert poll("2027-01-01") == []  # nothing twice

    box = mailbox.mbox(tmp_path / "stable.mbox", create=False)
    try:
        subjects = [str(make_header(decode_header(str(m["Subject"])))) for m in box]
    finally:
        box.close()
    # routed: only the deprecation events of the stable channel — Docker 1.12, dhcpcd, rkt (2905.2.0),
    # cgroups v2, etcd v2 (2983.2.0), niftycloud (first in stable 3760.2.0), torcx and btrfs (3815.2.0)
    assert len(subjects) == 8
    assert subjects[-1].startswith(
        "[Flatcar] Deprecation reaches stable in 3815.2.0: Docker will remove the btrfs driver entirely"
    )
    assert subjects[0] == (
        "[Flatcar] Deprecation reaches stable in 2905.2.0: Docker 1.12 will be deprecated from Alpha, also"
        " from other channels in the future."
    )

    with Store(tmp_path / "state.sqlite3") as store:
        state = load_state_view(store)
    link = "https://www.flatcar.org/releases#release-"
    equinix = (
        "Dropped support for Equinix Metal (Packet). The servers are due to be switched off on June 30th"
    )
    equinix += " 2026."
    rackspace = (
        "Dropped support for Rackspace, including OnMetal. Rackspace-specific images are no longer built or"
        " published. Flatcar only had community level support for…"
    )
    vmware = (
        'Dropped the VMware "insecure" image. This was added a long time ago, and it is not clear to the'
        " current Flatcar team what purpose it served. It included the…"
    )
    vagrant = (
        "Dropped the Vagrant VirtualBox image because the regular Vagrant image also targets VirtualBox. The"
        " only difference between them was that the former was…"
    )
    dropped = (equinix, rackspace, vmware, vagrant)
    assert answer("!deprecations", state) == [
        f"{text} — alpha 4722.0.0 → beta 4722.1.0; not yet in stable, LTS — {link}4722.0.0"
        for text in dropped
    ]
    assert answer("!deprecations beta", state) == [
        f"{text} — arrived in beta 4722.1.0 — {link}4722.1.0" for text in dropped
    ]
    stable = answer("!deprecations stable", state)
    assert stable is not None and stable[:4] == [
        f"{text} — coming to stable: in beta since 4722.1.0 — {link}4722.0.0" for text in dropped
    ]
    assert stable[4].startswith('This release removes the legacy "torcx" image customisation')
    assert stable[4].endswith(f"— arrived in stable 3815.2.0 — {link}3815.2.0")
    assert stable[5] == "… and 1 more"  # the btrfs warning, also arrived with 3815.2.0
    lts = answer("!deprecations lts-2024", state)
    assert lts is not None and len(lts) == 6 and lts[-1] == "… and 6 more"
    assert all("— coming to LTS: in beta since 4722.1.0 —" in line for line in lts[:4])
    assert lts[4].endswith(f"— first seen in LTS 4081.3.0 — {link}4081.3.0")
    assert answer("!deprecations edge", state) == [
        "unknown channel 'edge'; try one of alpha, beta, stable, lts or roadmap"
    ]
