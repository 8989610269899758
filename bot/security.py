"""Security fixes in release notes: notes → (package, ids), and the answers built on them. Pure.

**Extraction** (`extract_security`) finds every CVE and GHSA id in a release's notes and the package
it is listed under, in every era of Flatcar's notes:

- `- Linux ([CVE-…](…), …)`, `- Linux - [CVE-…](…)`, `* curl (CVE-…, CVE-…)`, `- SDK: qemu (…)`,
  `- tcpdump and libpcap: [CVE-…]` — the package is the text before the ids;
- `* Linux` with the ids as sub-items below it (2020/2021) — the package is the parent item;
- 2018–2020 prose under a plain "Security fixes:" label: `- Fix curl buffer overflow ([CVE-…])`,
  `- Fix denial of service in libtasn1 (…)`, `- Linux kernel: Fix … [CVE-…]` — the word after
  "Fix" (unless it is a word like "denial" or "multiple"), else the name after the last " in ",
  else the name before a colon;
- anything else ("Similar to [CVE-…], Malicious URLs can cause Git …") is kept as *unattributed*.

An id counts where the notes show it: in the text, or in a link whose text names no id
(`[2026-21441](…?id=CVE-2026-21441)`); a link whose text names one id and whose target names another
(a typo in the notes) counts for its text only. Ids are normalised (`CVE-2024-6387`,
`GHSA-6g2q-w5j3-fwh4`). Every id of the notes is indexed, whatever section it is in.

**Answers** (`cve_answer`, `security_answer`) are pure functions over a sequence of `Release`.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import accumulate

from bot.channels import stream_label, stream_sort_key
from bot.model import Release
from bot.model import version_key as _version_key
from bot.text import html_to_text, sanitize, truncate_utf8

__all__ = [
    "CveStatus",
    "SecurityFix",
    "SecurityIndex",
    "StreamStatus",
    "cve_answer",
    "cve_status",
    "extract_security",
    "id_link",
    "normalize_id",
    "release_security",
    "security_answer",
    "summary_line",
]

version_key = lru_cache(maxsize=16384)(_version_key)

#: The most notes text looked at (the longest real notes are ~120 kB).
MAX_NOTES_CHARS = 2_000_000
#: Lines of one answer at most.
MAX_LINES = 5
#: Ids shown per package in `!security <channel>`, and packages shown.
IDS_SHOWN = 3
PACKAGES_SHOWN = 6

_ID = re.compile(r"(?<![A-Za-z0-9])(?:CVE-\d{4}-\d{4,7}|GHSA(?:-[0-9a-z]{4}){3})(?![0-9A-Za-z])", re.I)
_STRICT_CVE = re.compile(r"^CVE-\d{4}-\d{4,7}$", re.I)
_STRICT_GHSA = re.compile(r"^GHSA(?:-[0-9a-z]{4}){3}$", re.I)
_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\(([^()\s]{0,2000})\)")
_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|\d{1,3}[.)])\s+(?P<t>\S.*)$")
_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s+.*|(?:\*\*|__)[^*_].{0,80}(?:\*\*|__)\s*:?|[A-Za-z][A-Za-z /-]{1,38}:?)\s*$"
)
_NAME = re.compile(r"^[A-Za-z0-9][\w.+/@-]*(?:(?:\s*,\s*|\s+and\s+|:\s+|\s+)[A-Za-z0-9][\w.+/@-]*){0,5}$")
_TOKEN = re.compile(r"[A-Za-z0-9][\w.+/-]*")
#: Words that make a head prose rather than a package name.
_PROSE_WORDS = "fix fixes fixed for to of in the a an can via with from by on is are was not similar when use"
_PROSE = frozenset(_PROSE_WORDS.split())
#: Words after "Fix" that are not a package ("Fix denial of service in libtasn1").
_NOT_PACKAGE_WORDS = (
    "a an the multiple several various denial privilege privileges incorrect invalid issues issue secret "
    "bypass code stack-based heap-based panic arbitrary race remote local buffer integer memory information"
)
_NOT_PACKAGE = frozenset(_NOT_PACKAGE_WORDS.split())


@dataclass(frozen=True)
class SecurityFix:
    """The ids one release's notes list under one package name (as written: "Linux", "SDK: qemu")."""

    package: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SecurityIndex:
    """The security fixes of one release: per package, and the ids no package could be found for."""

    fixes: tuple[SecurityFix, ...] = ()
    unattributed: tuple[str, ...] = ()

    @cached_property
    def ids(self) -> tuple[str, ...]:
        """Every id, in order of first appearance, each once."""
        seen: dict[str, None] = {}
        for fix in self.fixes:
            seen.update(dict.fromkeys(fix.ids))
        seen.update(dict.fromkeys(self.unattributed))
        return tuple(seen)

    @cached_property
    def id_set(self) -> frozenset[str]:
        return frozenset(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def packages(self) -> list[tuple[str, int]]:
        """(package, number of ids), most first, then by name."""
        counts = [(f.package, len(f.ids)) for f in self.fixes]
        return sorted(counts, key=lambda pc: (-pc[1], pc[0].casefold(), pc[0]))

    def to_json(self) -> str:
        """A compact JSON text, for a state column (`from_json` reads it back)."""
        data = {
            "fixes": [[f.package, list(f.ids)] for f in self.fixes],
            "unattributed": list(self.unattributed),
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SecurityIndex:
        """Raises ValueError on anything `to_json` does not write."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {"fixes", "unattributed"}:
            raise ValueError("security index: expected an object with 'fixes' and 'unattributed'")
        fixes = []
        for entry in data["fixes"]:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ValueError(f"security index: bad fix entry {str(entry)[:60]!r}")
            fixes.append(SecurityFix(entry[0], tuple(_checked_ids(entry[1]))))
        return cls(tuple(fixes), tuple(_checked_ids(data["unattributed"])))


def _checked_ids(values: object) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and normalize_id(v) == v for v in values):
        raise ValueError(f"security index: bad id list {str(values)[:60]!r}")
    return list(values)


def normalize_id(text: str) -> str | None:
    """`CVE-2024-6387` / `GHSA-xxxx-xxxx-xxxx` in canonical case, or None when `text` is not one."""
    text = text.strip()
    if _STRICT_CVE.match(text):
        return text.upper()
    if _STRICT_GHSA.match(text):
        return "GHSA-" + text[5:].lower()
    return None


def id_link(ident: str) -> str:
    """Where an id is described: NVD for CVEs, GitHub's advisory database for GHSA ids."""
    if ident.startswith("GHSA-"):
        return f"https://github.com/advisories/{ident}"
    return f"https://nvd.nist.gov/vuln/detail/{ident}"


# -- extraction -------------------------------------------------------------------------------------


def _shown(text: str) -> tuple[str, list[str]]:
    """The text as shown (links → their text) and the ids it shows, in order (see the module doc)."""
    ids: list[str] = []
    out: list[str] = []
    pos = 0
    for match in _LINK.finditer(text):
        out.append(text[pos : match.start()])
        label, target = match.group(1), match.group(2)
        out.append(f" {label} " if _ID.search(label) else f" {label}\x00{target}\x00 ")
        pos = match.end()
    out.append(text[pos:])
    shown = "".join(out)
    ids = [normalize_id(m.group(0)) or m.group(0) for m in _ID.finditer(shown)]
    return re.sub(r"\x00[^\x00]*\x00", "", shown), ids


def _name(head: str) -> str | None:
    """`head` itself when it reads as a package name ("Linux", "SDK: qemu", "tcpdump and libpcap")."""
    head = " ".join(head.replace("`", "").split()).strip(" -–:,")
    if not head or len(head) > 60 or not _NAME.match(head):
        return None
    words = {w.casefold() for w in re.split(r"[\s,:]+", head)}
    return None if words & _PROSE else head


def _package(head: str) -> str | None:
    """The package a unit's head names (the text before its first id), or None."""
    head = " ".join(head.split())
    cut = min((i for i in (head.find("("), head.find("[")) if i >= 0), default=len(head))
    first = head[:cut].strip()
    name = _name(first)
    if name or not first:
        return name
    colon = first.find(": ")
    if colon > 0 and (name := _name(first[:colon])):
        return name  # "Linux kernel: Fix AF_PACKET overflow …", "Bind: fixes for …"
    versioned = re.search(r"\sin\s+([A-Za-z][\w.+/-]*)\s+v?\d", first)
    if versioned:
        return versioned.group(1)  # "Fix AppArmor restriction bypass issue in runc 1.0.0-rc8 or older"
    words = first.split()
    if words and words[0].casefold() in ("fix", "fixes", "fixed"):
        rest = [w for w in words[1:] if w.casefold() not in ("the", "multiple")]
        if rest and rest[0].strip(".,;").casefold() not in _NOT_PACKAGE:
            word = _TOKEN.match(rest[0])
            if word:
                return word.group(0).rstrip(".,;")
    found = [m for m in re.finditer(r"\sin\s+(?:the\s+)?([A-Za-z][\w.+/-]*)", first)]
    for match in reversed(found):
        token = match.group(1).rstrip(".,;")
        if token.casefold() not in _NOT_PACKAGE:
            return token
    return None


@dataclass
class _Unit:
    indent: int
    item: bool
    text: str


def _units(notes: str) -> list[_Unit | None]:
    """List items (with their continuation lines) and paragraphs; None marks a heading."""
    units: list[_Unit | None] = []
    current: _Unit | None = None
    for raw in notes.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.expandtabs(4)
        if not line.strip():
            current = None
            continue
        if _HEADING.match(line) and not _ID.search(line):
            units.append(None)
            current = None
            continue
        item = _ITEM.match(line)
        if item:
            current = _Unit(len(item.group("indent")), True, item.group("t"))
            units.append(current)
        elif current is not None:
            current.text += " " + line.strip()
        else:
            current = _Unit(len(line) - len(line.lstrip()), False, line.strip())
            units.append(current)
    return units


def extract_security(notes: str) -> SecurityIndex:
    """The CVE and GHSA ids of one release's notes, per package (see the module doc)."""
    notes = notes[:MAX_NOTES_CHARS]
    if not _ID.search(notes):
        return SecurityIndex()
    by_package: dict[str, dict[str, None]] = {}
    loose: dict[str, None] = {}
    parents: list[tuple[int, str | None]] = []  # open list items: (indent, package)
    for unit in _units(notes):
        if unit is None:
            parents = []
            continue
        shown, ids = _shown(unit.text)
        head = shown[: _ID.search(shown).start()] if ids else shown  # type: ignore[union-attr]
        package = _package(head)
        while parents and parents[-1][0] >= unit.indent:
            parents.pop()
        if not unit.item:
            parents = []
        if package is None and ids and not head.strip(" -*([:,"):
            package = next((p for _, p in reversed(parents) if p), None)  # "* Linux" then "  - [CVE-…]"
        if unit.item:
            parents.append((unit.indent, package))
        if not ids:
            continue
        if package is None:
            loose.update(dict.fromkeys(ids))
        else:
            by_package.setdefault(package, {}).update(dict.fromkeys(ids))
    attributed = {i for ids in by_package.values() for i in ids}
    return SecurityIndex(
        fixes=tuple(SecurityFix(p, tuple(ids)) for p, ids in by_package.items()),
        unattributed=tuple(i for i in loose if i not in attributed),
    )


@lru_cache(maxsize=4096)
def _cached(notes: str, html: bool) -> SecurityIndex:
    return extract_security(html_to_text(notes) if html else notes)


def release_security(release: Release) -> SecurityIndex:
    """The security index of a release's notes (memoised on the notes text)."""
    return _cached(release.notes, release.notes_format == "html")


# -- summaries --------------------------------------------------------------------------------------


def summary_line(index: SecurityIndex, budget: int = 120) -> str:
    """'security: 43 CVEs in Linux, 2 in openssl and 3 more packages' in at most `budget` UTF-8 bytes
    ("" for a release without security fixes)."""
    if not len(index):
        return ""
    cves = all(i.startswith("CVE-") for i in index.ids)
    parts = [(p, n) for p, n in index.packages()]
    if index.unattributed:
        parts.append(("other", len(index.unattributed)))

    def unit(n: int) -> str:
        return ("CVE" if cves else "fix") + ("" if n == 1 else ("s" if cves else "es"))

    def render(shown: int) -> str:
        total = f"security: {len(index)} {unit(len(index))}"
        if not shown:
            return f"{total} in {len(parts)} packages" if len(parts) > 1 else total
        bits = [
            f"{n} {unit(n)} in {p}" if k == 0 else f"{n} in {p}" for k, (p, n) in enumerate(parts[:shown])
        ]
        rest = len(parts) - shown
        more = f" and {rest} more package{'' if rest == 1 else 's'}" if rest else ""
        return "security: " + ", ".join(bits) + more

    for shown in range(len(parts), -1, -1):
        text = render(shown)
        if len(text.encode()) <= budget:
            return text
    return truncate_utf8(f"security: {len(index)} {unit(len(index))}", budget) if budget >= 4 else ""


def mail_lines(index: SecurityIndex) -> list[str]:
    """The full list for a mail body: one line per package, then each id with its link."""
    lines: list[str] = []
    groups = [
        (f.package, f.ids) for f in sorted(index.fixes, key=lambda f: (-len(f.ids), f.package.casefold()))
    ]
    if index.unattributed:
        groups.append(("other", index.unattributed))
    for package, ids in groups:
        lines.append(f"{package} ({len(ids)}):")
        lines += [f"  {i} {id_link(i)}" for i in ids]
    return lines


# -- !cve -------------------------------------------------------------------------------------------

Indexer = Callable[[Release], SecurityIndex]


@dataclass(frozen=True)
class StreamStatus:
    """One stream's answer for one id: the first release whose notes list it; else the first release
    of a newer major published after a release that lists it (`inherited`); else neither (not yet)."""

    project: str
    stream: str
    current: Release
    first: Release | None = None
    inherited: Release | None = None


@dataclass(frozen=True)
class CveStatus:
    ident: str
    packages: tuple[str, ...]
    streams: tuple[StreamStatus, ...]

    @property
    def listed(self) -> bool:
        return any(s.first for s in self.streams)


def _date(release: Release) -> str:
    return release.published.strftime("%Y-%m-%d") if release.published else "unknown date"


def _label(release: Release) -> str:
    return stream_label(release.channel, release.stream)


def _groups(releases: Iterable[Release]) -> dict[tuple[str, str], list[Release]]:
    groups: dict[tuple[str, str], list[Release]] = {}
    for release in releases:
        groups.setdefault((release.project, release.stream), []).append(release)
    for items in groups.values():
        items.sort(key=lambda r: version_key(r.version))
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1]))))


def _ships(listed: Iterable[Release]) -> Callable[[Release], bool]:
    """Whether a release ships what `listed` fixed: its major is at least as new as one of them and it
    was published later."""
    points = sorted((int(r.major), r.published) for r in listed if r.major.isdigit() and r.published)
    majors = [major for major, _ in points]
    earliest = list(accumulate((p for _, p in points), min))

    def ships(release: Release) -> bool:
        if not (release.major.isdigit() and release.published):
            return False
        k = bisect_right(majors, int(release.major))
        return k > 0 and earliest[k - 1] < release.published

    return ships


def cve_status(ident: str, releases: Sequence[Release], *, index_of: Indexer = release_security) -> CveStatus:
    """Per (project, stream): where `ident` (already normalised) is first listed (see StreamStatus)."""
    groups = _groups(releases)
    listing = {key: [r for r in items if ident in index_of(r).id_set] for key, items in groups.items()}
    packages: dict[str, None] = {}
    streams: list[StreamStatus] = []
    ships: dict[str, Callable[[Release], bool]] = {}
    for (project, stream), items in groups.items():
        found = listing[(project, stream)]
        first = found[0] if found else None
        inherited = None
        if first is None:
            if project not in ships:
                ships[project] = _ships(r for (p, _s), rs in listing.items() if p == project for r in rs)
            inherited = next((r for r in items if ships[project](r)), None)
        else:
            index = index_of(first)
            packages.update(dict.fromkeys(f.package for f in index.fixes if ident in f.ids))
        streams.append(StreamStatus(project, stream, items[-1], first, inherited))
    return CveStatus(ident, tuple(packages), tuple(streams))


def _reference(status: StreamStatus, streams: Sequence[StreamStatus]) -> StreamStatus | None:
    """The stream to name as fixed next to one that is not: the nearest earlier on the ladder."""
    fixed = [s for s in streams if s.first and s.project == status.project]
    before = [s for s in fixed if stream_sort_key(s.stream) < stream_sort_key(status.stream)]
    if before:
        return before[-1]
    return fixed[0] if fixed else None


def _projects_word(releases: Sequence[Release]) -> str:
    names = sorted({r.project for r in releases})
    return " or ".join(names) if len(names) <= 2 else f"{', '.join(names[:-1])} or {names[-1]}"


def cve_answer(ident: str, releases: Sequence[Release], *, index_of: Indexer = release_security) -> list[str]:
    """The reply to `!cve <id>`: per channel and LTS stream, the first release whose notes list it."""
    wanted = normalize_id(ident)
    if wanted is None:
        shown = sanitize(ident)[:40]
        return [f"not a CVE or GHSA id: {shown!r} (expected CVE-YYYY-NNNN or GHSA-xxxx-xxxx-xxxx)"]
    if not releases:
        return ["no releases known yet — the first poll has not completed"]
    status = cve_status(wanted, releases, index_of=index_of)
    if not status.listed:
        return [f"no {_projects_word(releases)} release notes mention {wanted}"]
    many = len({s.project for s in status.streams if s.first}) > 1

    def name(s: StreamStatus, r: Release) -> str:
        return f"{s.project + ' ' if many else ''}{_label(r)} {r.version}"

    head = wanted + (f" ({', '.join(status.packages)})" if status.packages else "")
    fixed = [f"{name(s, s.first)} ({_date(s.first)})" for s in status.streams if s.first]
    lines = [f"{head} is listed as fixed in {', '.join(fixed)}"]
    inherited = [s for s in status.streams if s.inherited]
    if inherited:
        shown = ", ".join(f"{name(s, s.inherited)} ({_date(s.inherited)})" for s in inherited)  # type: ignore[arg-type]
        lines.append(f"also in {shown}: newer majors than a release listing it, not listed in their notes")
    missing = [s for s in status.streams if not s.first and not s.inherited]
    room = MAX_LINES - len(lines)
    for k, s in enumerate(missing):
        if k == room - 1 and len(missing) > room:
            rest = ", ".join(name(m, m.current) for m in missing[k:])
            lines.append(f"not yet in {rest}")
            break
        ref = _reference(s, status.streams)
        where = f"; fixed in {name(ref, ref.first)} ({_date(ref.first)})" if ref and ref.first else ""
        lines.append(f"not yet in {name(s, s.current)}{where}")
    return lines


# -- !security --------------------------------------------------------------------------------------


def _fixes_line(release: Release, index: SecurityIndex, budget: int = 400) -> str:
    head = f"{release.project} {_label(release)} {release.version} ({_date(release)})"
    tail = f" — {release.link}" if release.link else ""
    if not len(index):
        return f"{head}: no security fixes listed in its notes{tail}"
    parts = []
    groups = [(f.package, f.ids) for f in index.fixes]
    groups.sort(key=lambda g: (-len(g[1]), g[0].casefold()))
    if index.unattributed:
        groups.append(("other", index.unattributed))
    for package, ids in groups[:PACKAGES_SHOWN]:
        more = ", …" if len(ids) > IDS_SHOWN else ""
        parts.append(f"{package} {len(ids)} ({', '.join(ids[:IDS_SHOWN])}{more})")
    if len(groups) > PACKAGES_SHOWN:
        parts.append(f"and {len(groups) - PACKAGES_SHOWN} more packages")
    body = truncate_utf8(
        f"{head}: {len(index)} security fixes — {'; '.join(parts)}", budget - len(tail.encode())
    )
    return body + tail


def security_answer(
    args: Sequence[str], releases: Sequence[Release], *, index_of: Indexer = release_security
) -> list[str]:
    """The reply to `!security [channel|version]`: the security fixes of the current release."""
    groups = _groups(releases)
    if not groups:
        return ["no releases known yet — the first poll has not completed"]
    current = {key: items[-1] for key, items in groups.items()}
    if not args:
        by_project: dict[str, list[str]] = {}
        for (project, _stream), r in current.items():
            by_project.setdefault(project, []).append(f"{_label(r)} {r.version}: {len(index_of(r))}")
        lines = [
            f"{p} security fixes in the current releases: {' | '.join(v)}" for p, v in by_project.items()
        ]
        return [*lines[: MAX_LINES - 1], "details: !security <channel> (alpha, beta, stable, lts, lts-YYYY)"]
    wanted = sanitize(args[0]).lower()[:40]
    if re.match(r"^\d+(\.\d+)*$", wanted):
        found = [r for items in groups.values() for r in items if r.version == wanted]
        if not found:
            return [f"no release {wanted} is known"]
    else:
        found = [r for (_p, stream), r in current.items() if wanted in (stream, r.channel, _label(r).lower())]
        if not found:
            names = sorted(
                {s for (_p, s) in current} | {r.channel for r in current.values()}, key=stream_sort_key
            )
            return [f"unknown channel {wanted[:30]!r}; known: {', '.join(names)}"]
    return [_fixes_line(r, index_of(r)) for r in found[:MAX_LINES]]
