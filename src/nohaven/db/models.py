"""Every table, imported in one place so that metadata and migrations see them all."""

from __future__ import annotations

from nohaven.audit.models import AuditEntry, AuditHead
from nohaven.auth.models import ApiToken, LoginAttempt, User, WebSession
from nohaven.db.base import Base
from nohaven.directory.models import Agency, Contact, NodeIdentity, OnCallShift, State
from nohaven.evidence_node.models import CustodyCheckpoint, CustodyEvent, CustodyHead, EvidenceBundle, EvidenceItem
from nohaven.federation.models import (  # noqa: F401  (registers the tables)
    InboxMessage,
    InstalledDirectory,
    SeenSignature,
    SeenTransaction,
)
from nohaven.requests.models import (
    Case,
    CaseMember,
    Clock,
    CooperationRequest,
    Notification,
    PeerMessage,
    RequestAttachment,
    RequestDataItem,
    RequestEvent,
)
from nohaven.tracing.models import Trace, TraceEvent, TraceHop, TraceHopRequest

__all__ = [
    "Agency",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Case",
    "CaseMember",
    "Clock",
    "Contact",
    "CooperationRequest",
    "CustodyCheckpoint",
    "CustodyEvent",
    "CustodyHead",
    "EvidenceBundle",
    "EvidenceItem",
    "LoginAttempt",
    "NodeIdentity",
    "Notification",
    "OnCallShift",
    "PeerMessage",
    "RequestAttachment",
    "RequestDataItem",
    "RequestEvent",
    "State",
    "Trace",
    "TraceEvent",
    "TraceHop",
    "TraceHopRequest",
    "User",
    "WebSession",
]
