"""Make tests/data/history/ and bot/demo_data/ from ../shared/fixtures/flatcar/history/.

Keeps, per snapshot and channel file, the `current*` pointers and every release dated 2024-06-01 or
later, unchanged (same key order, json.dump(indent=2) as the site does). Run from the repo root:
    python tests/data/trim_history.py ../shared/fixtures/flatcar/history
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

CUTOFF = "2024-06-01"
FILES = ("alpha", "beta", "stable", "lts", "lts-2023", "lts-2024")
DEMO_SNAPSHOTS = ("2025-02-18-56835e81", "2025-03-20-3e9fd11f")


def trim(data: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {k: v for k, v in data.items() if k.startswith("current") or str(v["release_date"]) >= CUTOFF}


def main(src: Path) -> None:
    root = Path(__file__).resolve().parent
    for snapshot in sorted(p for p in src.iterdir() if p.is_dir()):
        for name in FILES:
            data = json.loads(gzip.decompress((snapshot / f"releases-{name}.json.gz").read_bytes()))
            text = json.dumps(trim(data), indent=2) + "\n"
            targets = [root / "history" / snapshot.name]
            if snapshot.name in DEMO_SNAPSHOTS:
                targets.append(root.parent.parent / "bot" / "demo_data" / snapshot.name)
            for target in targets:
                target.mkdir(parents=True, exist_ok=True)
                (target / f"releases-{name}.json.gz").write_bytes(gzip.compress(text.encode(), mtime=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
