"""Request types and their status lifecycles, named as ETSI TS 103 120 LPTaskStatus / LDTaskStatus."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from nohaven.errors import IllegalTransitionError, InputError

__all__ = ["RequestType", "allowed_transitions", "check_transition", "initial_status"]


class RequestType(StrEnum):
    PRESERVATION = "preservation"  # Budapest Art. 29, LPTask
    TRAFFIC_DISCLOSURE = "traffic_disclosure"  # Art. 30, LDTask TrafficData
    SUBSCRIBER = "subscriber"  # 2nd AP Art. 7, LDTask SubscriberData
    EMERGENCY = "emergency"  # 2nd AP Art. 9 and 10
    MLA = "mla"  # Art. 31, formal mutual legal assistance


# LPTaskStatus: preservation requests.
LP_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "AwaitingPreservation": ("Preserved", "PreservationNotAvailable", "Rejected", "Cancelled", "Error", "Invalid"),
    "Preserved": ("Expired", "Cancelled"),
    "Error": ("AwaitingPreservation", "Cancelled"),
    "PreservationNotAvailable": (),
    "Rejected": (),
    "Cancelled": (),
    "Expired": (),
    "Invalid": (),
}

# LDTaskStatus: disclosure-type requests (traffic data, subscriber data, emergency, MLA production).
LD_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "AwaitingApproval": ("AwaitingDisclosure", "Rejected", "Cancelled", "Error", "Invalid"),
    "AwaitingDisclosure": ("Disclosed", "DisclosureNotAvailable", "Cancelled", "Error"),
    "Error": ("AwaitingApproval", "AwaitingDisclosure", "Cancelled"),
    "Disclosed": (),
    "DisclosureNotAvailable": (),
    "Rejected": (),
    "Cancelled": (),
    "Invalid": (),
}

# Statuses in which the requested State has answered (the response clock stops).
ANSWERED = frozenset({"Preserved", "PreservationNotAvailable", "Rejected", "Cancelled", "Expired", "Invalid",
                      "Disclosed", "DisclosureNotAvailable"})
# Statuses after which no clock matters any more.
CLOSED = frozenset({"PreservationNotAvailable", "Rejected", "Cancelled", "Expired", "Invalid", "Disclosed",
                    "DisclosureNotAvailable"})


def _table(request_type: str) -> Mapping[str, tuple[str, ...]]:
    return LP_TRANSITIONS if request_type == RequestType.PRESERVATION else LD_TRANSITIONS


def initial_status(request_type: str) -> str:
    return "AwaitingPreservation" if request_type == RequestType.PRESERVATION else "AwaitingApproval"


def allowed_transitions(request_type: str, current: str) -> list[str]:
    return list(_table(request_type).get(current, ()))


def check_transition(request_type: str, current: str, wanted: str) -> None:
    """Raise IllegalTransitionError (listing what is allowed) unless current → wanted is in the lifecycle."""
    table = _table(request_type)
    if wanted not in table:
        raise InputError.field("to", f"{wanted!r} is not a status of a {request_type} request; statuses: "
                               f"{', '.join(table)}")
    if wanted not in table.get(current, ()):
        raise IllegalTransitionError(current, wanted, table.get(current, ()))
