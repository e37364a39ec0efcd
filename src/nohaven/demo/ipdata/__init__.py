"""Fictional IP registry data for the demo network and tests: two dated snapshots (2025-06-01, 2026-10-01) of a
made-up registry ("xnic") and of a routing table, over documentation ranges only (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, parts of 2001:db8::/32) and private-use AS numbers.

Between the two, 198.51.100.0/24 passed from Aldoria Telecom (XA) to Borvania VPN Services (XB), so a look-up
before 2026-10-01 answers differently from one after it.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

from nohaven.tracing.ipdata import IpDataStore, SnapshotInfo

__all__ = ["SAMPLE_FILES", "load_sample", "sample_path"]

# ip2asn tables carry no date, so the day each describes is written here, never read from the name.
SAMPLE_FILES: tuple[tuple[str, date | None], ...] = (
    ("delegated-xnic-extended-20250601", None),
    ("delegated-xnic-extended-20261001", None),
    ("ip2asn-v4-20250601.tsv", date(2025, 6, 1)),
    ("ip2asn-v6-20250601.tsv", date(2025, 6, 1)),
    ("ip2asn-v4-20261001.tsv", date(2026, 10, 1)),
    ("ip2asn-v6-20261001.tsv", date(2026, 10, 1)),
)


def sample_path(name: str) -> Path:
    """Where a sample file is installed."""
    return Path(str(resources.files(__name__).joinpath(name)))


def load_sample(store: IpDataStore) -> list[SnapshotInfo]:
    """Load every sample snapshot into `store` (loading again replaces them)."""
    return [store.load(sample_path(name), kind="ip2asn" if day else "rir", snapshot_date=day)
            for name, day in SAMPLE_FILES]
