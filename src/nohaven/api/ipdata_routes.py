"""`GET /api/v1/ipdata/resolve`: an address at an instant → network, State, point of contact, retention."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from nohaven.api.deps import CurrentSubject, NodeDep
from nohaven.errors import InputError
from nohaven.timeutil import parse_aware, utcnow
from nohaven.tracing.ipdata import IpDataStore
from nohaven.tracing.resolve import resolve_address

router = APIRouter(prefix="/api/v1", tags=["tracing"])

# "…T03:14:07 01:00": a '+' sent unencoded in a query string arrives as a space.
_DECODED_PLUS = re.compile(r"\d \d{2}(:?\d{2})?$")


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    if _DECODED_PLUS.search(text.strip()):
        raise InputError.field("at", f"{text!r} has a space where its offset's sign should be: send a '+' in a "
                               "query string as %2B (e.g. at=2026-11-27T03:14:07%2B01:00)")
    return parse_aware(text, "at")


@router.get("/ipdata/resolve")
def resolve(node: NodeDep, subject: CurrentSubject,
            ip: Annotated[str, Query(min_length=1, max_length=100, description="IPv4 or IPv6 address")],
            at: Annotated[str | None, Query(max_length=64, description="when it was seen, ISO 8601 with its "
                                            "offset; default: the latest snapshots")] = None) -> dict[str, Any]:
    """Resolve an address with the snapshots in force at `at` (policy `trace.resolve`, audited)."""
    instant = _instant(at)
    with node.work() as session:
        result = resolve_address(session, subject, ip, instant, IpDataStore.shared(node.settings.ipdata_dir), utcnow())
    return result.to_dict()
