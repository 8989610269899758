"""Security fixes in release notes: notes → (package, ids). Pure; `bot.security` answers with them.

`extract_security` finds every CVE and GHSA id in a release's notes and the package it is listed under,
in every era of Flatcar's notes: `- Linux ([CVE-…](…), …)`, `- Linux - [CVE-…]`, `* curl (CVE-…)`,
`- SDK: qemu (…)` (the text before the ids); `* Linux` with the ids as sub-items (the parent item);
2018–2020 prose under a plain "Security fixes:" label, `- Fix curl buffer overflow ([CVE-…])` (the word
after "Fix" unless it is one like "denial"; else the name after " in "; else the name before a colon).
Anything else ("Similar to [CVE-…], Malicious URLs …") is kept as *unattributed*. An id counts where
the notes show it: in the text, or in the target of a link whose text names no id
(`[2026-21441](…?id=CVE-2026-21441)`); a target naming another id than its link text (a typo) does
not count. Ids are normalised (`CVE-2024-6387`, `GHSA-6g2q-w5j3-fwh4`), whatever section they are in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

from bot.model import Release
from bot.text import html_to_text

#: The most notes text looked at (the longest real notes are ~120 kB).
MAX_NOTES_CHARS = 2_000_000


class _Patterns:
    """The regexes of extraction, compiled when notes are first read (`_re()`), not at import: the
    store and the routing import this module for `SecurityIndex` and `release_security`."""

    def __init__(self) -> None:
        self.id = re.compile(
            r"(?<![A-Za-z0-9])(?:CVE-\d{4}-\d{4,7}|GHSA(?:-[0-9a-z]{4}){3})(?![0-9A-Za-z])", re.I
        )
        self.strict_cve = re.compile(r"^CVE-\d{4}-\d{4,7}$", re.I)
        self.strict_ghsa = re.compile(r"^GHSA(?:-[0-9a-z]{4}){3}$", re.I)
        self.link = re.compile(r"\[([^\[\]\n]{0,300})\]\(([^()\s]{0,2000})\)")
        self.item = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|\d{1,3}[.)])\s+(?P<t>\S.*)$")
        self.heading = re.compile(
            r"^\s{0,3}(?:#{1,6}\s+.*|(?:\*\*|__)[^*_].{0,80}(?:\*\*|__)\s*:?|[A-Za-z][A-Za-z /-]{1,38}:?)\s*$"
        )
        self.name = re.compile(
            r"^[A-Za-z0-9][\w.+/@-]*(?:(?:\s*,\s*|\s+and\s+|:\s+|\s+)[A-Za-z0-9][\w.+/@-]*){0,5}$"
        )
        self.token = re.compile(r"[A-Za-z0-9][\w.+/-]*")


@cache
def _re() -> _Patterns:
    return _Patterns()


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
        return [(p, len(ids)) for p, ids in self.ranked(other=False)]

    def ranked(self, *, other: bool = True) -> list[tuple[str, tuple[str, ...]]]:
        """(package, ids), most ids first, then by name; then the unattributed ids as "other"."""
        groups = sorted(((f.package, f.ids) for f in self.fixes), key=lambda g: (-len(g[1]), g[0].casefold()))
        return groups + ([("other", self.unattributed)] if other and self.unattributed else [])

    def to_json(self) -> str:
        """A compact JSON text, for a state column (`from_json` reads it back)."""
        data = {
            "fixes": [[f.package, list(f.ids)] for f in self.fixes],
            "unattributed": list(self.unattributed),
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SecurityIndex:
        """Raises ValueError (naming the security index) on anything `to_json` does not write."""
        try:
            data = json.loads(text)
            fixes = tuple(SecurityFix(p, _ids(i)) for p, i in data["fixes"] if isinstance(p, str))
            if len(fixes) != len(data["fixes"]) or set(data) != {"fixes", "unattributed"}:
                raise ValueError("unexpected keys or package names")
            return cls(fixes, _ids(data["unattributed"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"security index: not what to_json writes ({exc})") from exc


def _ids(values: object) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) and normalize_id(v) == v for v in values):
        raise ValueError(f"bad id list {str(values)[:60]!r}")
    return tuple(values)


def normalize_id(text: str) -> str | None:
    """`CVE-2024-6387` / `GHSA-xxxx-xxxx-xxxx` in canonical case, or None when `text` is not one."""
    text = text.strip()
    patterns = _re()
    if patterns.strict_cve.match(text):
        return text.upper()
    if patterns.strict_ghsa.match(text):
        return "GHSA-" + text[5:].lower()
    return None


def id_link(ident: str) -> str:
    """Where an id is described: NVD for CVEs, GitHub's advisory database for GHSA ids."""
    if ident.startswith("GHSA-"):
        return f"https://github.com/advisories/{ident}"
    return f"https://nvd.nist.gov/vuln/detail/{ident}"


# -- extraction -------------------------------------------------------------------------------------


def _shown(text: str) -> tuple[str, list[str]]:
    """The text before the first id, as shown (links → their text), and the ids shown, in order."""
    text = text.replace("\x00", "")  # the marker of link targets below
    patterns = _re()
    out: list[str] = []
    pos = 0
    for match in patterns.link.finditer(text):
        out.append(text[pos : match.start()])
        label, target = match.group(1), match.group(2)
        out.append(f" {label} " if patterns.id.search(label) else f" {label}\x00{target}\x00 ")
        pos = match.end()
    out.append(text[pos:])
    shown = "".join(out)
    found = list(patterns.id.finditer(shown))
    head = shown[: found[0].start()] if found else shown
    return re.sub(r"\x00[^\x00]*\x00?", "", head), [normalize_id(m.group(0)) or m.group(0) for m in found]


def _name(head: str) -> str | None:
    """`head` itself when it reads as a package name ("Linux", "SDK: qemu", "tcpdump and libpcap")."""
    head = " ".join(head.replace("`", "").replace("*", "").split()).strip(" -–:,")
    if not head or len(head) > 60 or not _re().name.match(head):
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
            word = _re().token.match(rest[0])
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
    """A list item (with its continuation lines) or a paragraph of the notes."""

    indent: int
    item: bool
    text: str


def _units(notes: str) -> list[_Unit | None]:
    """List items (with their continuation lines) and paragraphs; None marks a heading."""
    patterns = _re()
    units: list[_Unit | None] = []
    current: _Unit | None = None
    for raw in notes.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.expandtabs(4)
        if not line.strip():
            current = None
            continue
        if patterns.heading.match(line) and not patterns.id.search(line):
            units.append(None)
            current = None
            continue
        item = patterns.item.match(line)
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
    if not _re().id.search(notes):
        return SecurityIndex()
    by_package: dict[str, dict[str, None]] = {}
    loose: dict[str, None] = {}
    parents: list[tuple[int, str | None]] = []  # open list items: (indent, package)
    for unit in _units(notes):
        if unit is None:
            parents = []
            continue
        head, ids = _shown(unit.text)
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


def security_index_of(notes: str, notes_format: str) -> SecurityIndex:
    """The security index of notes in a release's `notes_format` (memoised on the notes text)."""
    return _cached(notes, notes_format == "html")


def release_security(release: Release) -> SecurityIndex:
    """The security index of a release's notes (memoised on the notes text)."""
    return security_index_of(release.notes, release.notes_format)
