"""Fictional carrier logs for the intrusion demo: one night of Celestia Mobile's (XC) carrier-grade NAT, an A10
Thunder CGN as its syslog collector writes it (UTC headers), and the FreeRADIUS accounting `detail` file that
says which subscriber held each private address. Documentation ranges, private-use addresses and fictional
subscribers only.

The files describe 2026-11-27, around the VPN session of the demo (203.0.113.77:4431 at 02:14:07Z). So that the
demo works whatever day it runs, `logs_for` writes copies moved by one exact offset to the demo's own instant:
every header time and every RADIUS `Timestamp` moves by the same amount (the RADIUS date line is recomputed in
the carrier's zone, Pacific/Auckland, as the server writes it), and nothing else changes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["CARRIER_ZONE", "NAT_LOG", "RADIUS_LOG", "REFERENCE_INSTANT", "logs_for"]

NAT_LOG = "celestia-cgn-a10-20261127.log"
RADIUS_LOG = "celestia-radius-detail-20261127"
REFERENCE_INSTANT = datetime(2026, 11, 27, 2, 14, 7, tzinfo=UTC)  # the VPN session the logs were written around
CARRIER_ZONE = ZoneInfo("Pacific/Auckland")
_HEADER = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00) ")
_STAMP = re.compile(r"^\tTimestamp = (\d+)$", re.MULTILINE)


def _text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _moved_nat(text: str, shift: timedelta) -> str:
    def move(m: re.Match[str]) -> str:
        return (datetime.fromisoformat(m.group(1)) + shift).astimezone(UTC).isoformat() + " "
    return "".join(_HEADER.sub(move, line) for line in text.splitlines(keepends=True))


def _moved_radius(text: str, shift: timedelta) -> str:
    records = []
    for record in text.split("\n\n"):
        stamp = _STAMP.search(record)
        if stamp is None:
            records.append(record)
            continue
        epoch = int(stamp.group(1)) + int(shift.total_seconds())
        local = datetime.fromtimestamp(epoch, UTC).astimezone(CARRIER_ZONE)
        _, _, rest = record.partition("\n")
        records.append(f"{local:%a %b %d %H:%M:%S %Y}\n" + _STAMP.sub(f"\tTimestamp = {epoch}", rest))
    return "\n\n".join(records)


def logs_for(instant: datetime, directory: Path) -> list[Path]:
    """Write the NAT log and the RADIUS file, moved so that the demo's VPN session falls at `instant` (whole
    seconds), into `directory`, named by their new UTC day; returns their paths."""
    shift = instant.astimezone(UTC).replace(microsecond=0) - REFERENCE_INSTANT
    day = f"{(REFERENCE_INSTANT + shift):%Y%m%d}"
    directory.mkdir(parents=True, exist_ok=True)
    nat = directory / NAT_LOG.replace("20261127", day)
    radius = directory / RADIUS_LOG.replace("20261127", day)
    nat.write_text(_moved_nat(_text(NAT_LOG), shift), encoding="utf-8")
    radius.write_text(_moved_radius(_text(RADIUS_LOG), shift), encoding="utf-8")
    return [nat, radius]
