"""Bundles changed on the way, for the node evidence tests: a well-formed ZIP with one member's bytes altered, so
that what fails is the verification, not the reading of the ZIP."""

from __future__ import annotations

import zipfile
from pathlib import Path


def tampered(bundle: Path, out: Path, member_suffix: str, old: bytes, new: bytes) -> Path:
    """A copy of `bundle` at `out` where, in the member whose name ends with `member_suffix`, `old` became `new`."""
    changed = False
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(member_suffix):
                data, changed = data.replace(old, new), changed or old in data
            zout.writestr(info, data)
    assert changed, f"no member of {bundle.name} ending with {member_suffix} holds {old!r}"
    return out
