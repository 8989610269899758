"""Deprecation and removal notices: release notes → notices, and notices followed across channels. Pure.

**Extraction** (`extract_notices`) reads Flatcar's Markdown release notes of every era — bold headings
(`**Deprecation**`, 2021), `####` headings (`#### Breaking changes`, 2025), lead paragraphs
(`**This release removes the legacy "torcx" …**`) and plain list items. The notes are cut into blocks
(a paragraph, or a list item together with its sub-items), each under the heading it appears below:

- every block under a *notice heading* (Deprecation, Breaking changes, Removals, …) is a notice;
- blocks under *routine headings* (Security fixes, Bug fixes, Updates, Known issues, …) are not — so
  an ordinary update line such as "- containerd (1.7.27)" is not a notice — unless they say "breaking
  change"; the plain labels of the 2018–2020 notes ("Changes:", "Bug fixes:") are headings too;
- any other block is a notice when it says so: "deprecat…" (not "non-deprecated"), "will be removed",
  "will remove", "has been removed", "removed entirely/from …", "dropped support", "no longer
  supported/built/published/…", "end of life", "end of its … lifespan", "no more releases", "breaking",
  a whole architecture, image or platform removed or dropped ("Remove ARM64 architecture"), or a ⚠
  warning sign next to "removed"/"dropped";
- a lead paragraph (before any heading) or one under a heading of its own ("Update to CGroupsV2") is
  an announcement; it is a notice also when it "removes", "replaces", changes something "by default"
  or asks users to "migrate".

A changelog line that only starts with "Removed …" is an ordinary change, not a notice.

**Identity**: a notice is identified by the release it first appeared in and a hash of its normalised
text. Later releases repeat notices — the same text in the next alpha, or reworded in the beta, stable
or LTS notes ("… are deprecated and removed from Beta"). A block is such a restatement, not a new
notice, when it has the same text as a known notice of any channel (a backport told in stable first,
then in the next beta and alpha, is one notice); or, for a known notice of the same or an earlier
channel, when it shares at least half of its significant words with it and that notice is of the same
or an earlier major (a quarter, when two of them are found in no other notice, like "torcx" and
"systemd-sysext"); or names that notice's release ("From Alpha 3794.0.0 Torcx has been removed") and
shares a word with it. A second block of the same release about the same thing (a lead paragraph and
its details) joins the first.

**Following** (`detect_deprecations`): Flatcar's channels ship every earlier alpha major's changes, so a
notice first seen in alpha major N reaches beta, stable and LTS with the first release of that channel
whose major is N or later (alpha 2801.0.0 → beta 2801.1.0 → stable 2905.2.0 → LTS 3033.3.0) — or
earlier, with a release of an older major whose notes carry the notice's very words (a backport: alpha
1883.0.0 → beta 1855.3.0). Each of those is one event, keyed `deprecation:<source>/<notice-id>/<channel>`.
"""

from __future__ import annotations

from bot.deprecations.extract import ExtractedNotice, extract_notices
from bot.deprecations.follow import DeprecationDetection, detect_deprecations
from bot.deprecations.identity import notice_id, shorten, similar

__all__ = [
    "DeprecationDetection",
    "ExtractedNotice",
    "detect_deprecations",
    "extract_notices",
    "notice_id",
    "shorten",
    "similar",
]
