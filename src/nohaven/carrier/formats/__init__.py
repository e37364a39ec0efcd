"""Vendor log formats, one module each; the registry maps a format's name to its class.

Each module declares the columns it fills (its record schema) at the top of its class, `detect()` says how
well sample lines fit, and `parse()` turns one record into normalised events or rejects it with a reason.
"""

from __future__ import annotations

from nohaven.carrier.errors import FormatNotDetectedError
from nohaven.carrier.formats._base import (
    ACTION_END,
    ACTION_SEEN,
    ACTION_START,
    ACTION_WHOLE,
    EVENT_COLUMNS,
    Event,
    LogFormat,
    Record,
)
from nohaven.carrier.formats.a10 import A10
from nohaven.carrier.formats.cisco_asa import CiscoAsa
from nohaven.carrier.formats.citrix_lsn import CitrixLsn
from nohaven.carrier.formats.conntrack import Conntrack
from nohaven.carrier.formats.f5_lsn import F5Lsn
from nohaven.carrier.formats.freeradius_detail import FreeradiusDetail
from nohaven.carrier.formats.isc_dhcpd_leases import IscDhcpdLeases
from nohaven.carrier.formats.juniper_pba import JuniperPba
from nohaven.carrier.formats.juniper_rtflow import JuniperRtFlow
from nohaven.carrier.formats.kea_csv import KeaCsv

__all__ = ["ACTION_END", "ACTION_SEEN", "ACTION_START", "ACTION_WHOLE", "EVENT_COLUMNS", "FORMATS", "Event",
           "LogFormat", "Record", "detect", "get"]

FORMATS: dict[str, type[LogFormat]] = {
    cls.name: cls
    for cls in (JuniperRtFlow, JuniperPba, CiscoAsa, A10, F5Lsn, CitrixLsn, Conntrack, FreeradiusDetail,
                IscDhcpdLeases, KeaCsv)
}


def get(name: str) -> type[LogFormat]:
    """The format class registered under `name`."""
    try:
        return FORMATS[name]
    except KeyError:
        raise FormatNotDetectedError.field(
            "format", f"unknown format {name!r}; known: auto, {', '.join(sorted(FORMATS))}") from None


def detect(lines: list[str]) -> type[LogFormat]:
    """The format that fits the most of these first lines; refuses when none fits or two fit equally."""
    sample = [line for line in lines if line.strip()][:50]
    scores = sorted(((cls.detect(sample), name) for name, cls in FORMATS.items()), reverse=True)
    best, name = scores[0]
    if best == 0:
        raise FormatNotDetectedError.field("format", "no known format fits the first lines; name it with --format "
                                           f"({', '.join(sorted(FORMATS))})")
    if len(scores) > 1 and scores[1][0] == best:
        raise FormatNotDetectedError.field(
            "format", f"the first lines fit both {name} and {scores[1][1]}; name the format with --format")
    return FORMATS[name]
