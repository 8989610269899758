"""Make tests/data/releases-selected.json.gz from the full releases.json of flatcar-website.

Keeps the releases that show deprecation notices moving through the channels (and a few that must not
move them), unchanged, in the original key order, dumped as the site does (json.dump(indent=2)).
Run from the repo root:
    python tests/data/select_releases.py ../shared/fixtures/flatcar/releases-json/releases.json
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

SELECTED = (
    # Docker 1.12, dhcpcd, rkt: alpha 2783/2801/2857 → beta 2801.1.0/2905.1.0 → stable 2905.2.0 → LTS 3033.3.0
    "2783.0.0",
    "2801.0.0",
    "2801.1.0",
    "2857.0.0",
    "2905.1.0",
    "2905.2.0",
    # cgroups v2 by default: alpha 2969.0.0 → beta 2983.1.0 → stable 2983.2.0
    "2969.0.0",
    "2983.1.0",
    "2983.2.0",
    "3033.3.0",
    # torcx: heads-up in beta 3760.1.0 and stable 3602.2.2/3760.2.0, removed in alpha 3794.0.0 →
    # beta 3815.1.0 → stable 3815.2.0 → LTS 4081.3.0
    "3602.2.2",
    "3760.1.0",
    "3760.2.0",
    "3794.0.0",
    "3815.1.0",
    "3815.2.0",
    "4081.3.0",
    # Equinix Metal, Rackspace, Vagrant VirtualBox dropped: alpha 4722.0.0 → beta 4722.1.0
    "4722.0.0",
    "4722.1.0",
    # releases of an earlier major (older stable, older LTS streams): they must not move a notice
    "2765.2.6",
    "2605.22.1",
    "3510.3.1",
)


def main(src: Path) -> None:
    data = json.loads(src.read_bytes())
    missing = [v for v in SELECTED if v not in data]
    if missing:
        raise SystemExit(f"not in {src}: {', '.join(missing)}")
    kept = {k: v for k, v in data.items() if k in SELECTED}
    text = json.dumps(kept, indent=2) + "\n"
    target = Path(__file__).resolve().parent / "releases-selected.json.gz"
    target.write_bytes(gzip.compress(text.encode(), mtime=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
