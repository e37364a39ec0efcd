"""Errors of the carrier toolkit; each is a nohaven error, so the CLI explains it in its one place."""

from __future__ import annotations

from nohaven.errors import ConflictError, InputError

__all__ = ["FormatNotDetectedError", "LineRejected", "StoreError", "ZoneRequiredError"]


class LineRejected(Exception):
    """One input line (or record) that cannot be turned into an event; the reason goes to the rejects file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FormatNotDetectedError(InputError):
    title = "Log format not recognised"


class ZoneRequiredError(InputError):
    title = "Time zone required"


class StoreError(ConflictError):
    title = "Carrier store refused"
