"""The roles of a node's users."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    CENTRAL_AUTHORITY = "central_authority"
    AUDITOR = "auditor"
    ADMIN = "admin"
