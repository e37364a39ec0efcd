"""hashdeep's file format (write and read) and an audit of files against a list of known hashes.

The format: a line `%%%% HASHDEEP-1.0`, a line `%%%% size,<algorithms>,filename`, comment lines starting with
`##`, then one line per file, `size,<digest>,...,filename` (the file name is everything after the last digest,
so it may contain commas). hashdeep lists md5, sha1, sha256 in that order when asked for all three.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from nohaven.evidence.errors import UnknownAlgorithmError
from nohaven.evidence.hashing import ALGORITHMS, FileEntry

__all__ = ["AuditReport", "KnownFile", "audit", "format_hashdeep", "parse_hashdeep"]

_HASHDEEP_ORDER = ("md5", "sha1", "sha256")


def format_hashdeep(entries: Sequence[FileEntry], algorithms: Sequence[str], invoked: str, cwd: str) -> str:
    """Entries as a hashdeep file; files that could not be hashed are listed as comments."""
    columns = [a for a in _HASHDEEP_ORDER if a in algorithms]
    lines = ["%%%% HASHDEEP-1.0", f"%%%% size,{','.join(columns)},filename", f"## Invoked from: {cwd}",
             f"## $ {invoked}", "##"]
    for e in entries:
        if e.error:
            lines.append(f"## {e.display}: {e.error}")
        elif e.skipped:
            lines.append(f"## {e.display}: {e.skipped}")
        else:
            lines.append(",".join([str(e.size), *(e.digests[a] for a in columns), e.display]))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class KnownFile:
    path: str
    size: int
    digests: dict[str, str]
    line: int


def parse_hashdeep(text: str, source: str = "known file") -> list[KnownFile]:
    """Read a hashdeep file; raises UnknownAlgorithmError / ValueError naming the bad line."""
    columns: list[str] | None = None
    known: list[KnownFile] = []
    saw_magic = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if line.startswith("%%%% HASHDEEP-"):
            saw_magic = True
        elif line.startswith("%%%%"):
            spec = [c.strip() for c in line[4:].strip().split(",")]
            if len(spec) < 3 or spec[0] != "size" or spec[-1] != "filename":
                raise ValueError(f"{source} line {number}: the column line must read %%%% size,...,filename")
            unknown = [c for c in spec[1:-1] if c not in ALGORITHMS]
            if unknown:
                raise UnknownAlgorithmError.field(
                    f"{source} line {number}", f"unknown digest algorithm {', '.join(unknown)}; we compute "
                    f"{', '.join(ALGORITHMS)}")
            columns = spec[1:-1]
        elif line.startswith("#") or not line.strip():
            continue
        else:
            if columns is None or not saw_magic:
                raise ValueError(f"{source} line {number}: a file line before the %%%% HASHDEEP header lines")
            parts = line.split(",", len(columns) + 1)
            if len(parts) != len(columns) + 2 or not parts[0].isdigit():
                raise ValueError(f"{source} line {number}: expected size,{','.join(columns)},filename")
            digests = {a: parts[i + 1].lower() for i, a in enumerate(columns)}
            known.append(KnownFile(parts[-1], int(parts[0]), digests, number))
    if not saw_magic:
        raise ValueError(f"{source}: not a hashdeep file (no %%%% HASHDEEP-1.0 line)")
    return known


@dataclass
class AuditReport:
    matched: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (new path, known path)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.changed or self.moved or self.new or self.missing or self.unreadable)

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "matched": self.matched, "changed": self.changed,
                "moved": [{"path": p, "from": k} for p, k in self.moved], "new": self.new,
                "missing": self.missing, "unreadable": [{"path": p, "error": e} for p, e in self.unreadable]}


def _key(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def audit(entries: Sequence[FileEntry], known: Sequence[KnownFile]) -> AuditReport:
    """Compare hashed files with known ones: matched, changed (same path, other content), moved (same content,
    other path), new, missing (known and not seen) — by the digests both sides have."""
    report = AuditReport()
    shared = [a for a in ALGORITHMS if known and all(a in k.digests for k in known)]
    if known and not shared:
        raise ValueError("the known file and this run have no digest algorithm in common")
    by_path = {_key(k.path): k for k in known}
    by_content: dict[tuple[object, ...], list[KnownFile]] = {}
    for k in known:
        by_content.setdefault((k.size, *(k.digests[a] for a in shared)), []).append(k)
    used: set[str] = set()
    unmatched: list[tuple[FileEntry, tuple[object, ...]]] = []
    for e in entries:  # first by path, so that a copy of a known file cannot take the original's place
        if e.error:
            report.unreadable.append((e.display, e.error))
            continue
        if e.skipped:
            continue
        content = (e.size, *(e.digests[a] for a in shared))
        same_path = by_path.get(_key(e.display))
        if same_path is None:
            unmatched.append((e, content))
            continue
        used.add(_key(same_path.path))
        if (same_path.size, *(same_path.digests[a] for a in shared)) == content:
            report.matched.append(e.display)
        else:
            report.changed.append(e.display)
    for e, content in unmatched:  # then by content: a known file under another path has moved
        same = [c for c in by_content.get(content, []) if _key(c.path) not in used]
        if same:
            report.moved.append((e.display, same[0].path))
            used.add(_key(same[0].path))
        else:
            report.new.append(e.display)
    report.missing = [k.path for k in known if _key(k.path) not in used]
    return report
