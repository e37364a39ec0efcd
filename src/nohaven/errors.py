"""The exceptions nohaven raises, written once.

NohavenError                      base; every error can explain itself with diagnostics()
├── ConfigError                   settings refused (default secret outside demo mode, bad URL)
├── InputError                    bad input naming the field or line (HTTP 422, CLI exit 2)
│   └── DirectoryFileError        a directory import file that does not validate
├── NotFoundError                 no such object, or not visible to the caller (HTTP 404)
├── ConflictError                 the action conflicts with stored state (HTTP 409, CLI exit 1)
│   └── IllegalTransitionError    a status change the lifecycle forbids; lists the allowed ones
├── AuthenticationError           no or bad credentials (HTTP 401)
│   └── RateLimitedError          too many failed log-ins (HTTP 429)
├── PermissionDeniedError         the policy refused the action (HTTP 403)
└── AuditChainError               the audit log's hash chain is broken (CLI exit 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class NohavenError(Exception):
    """Base class: a message for people plus structured detail for machines."""

    http_status = 500
    title = "Internal error"
    exit_code = 1

    # What Node.work() records after rolling the failed transaction back: an audit trail (actor, action,
    # object_type, object_id, reason, optional outcome) and, for a failed log-in step, (username, client).
    audit: dict[str, Any] | None = None
    login_attempt: tuple[str, str] | None = None

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def diagnostics(self) -> str:
        """Explain the error in a sentence or two, for the CLI and the web UI."""
        return self.message

    def as_problem(self) -> dict[str, Any]:
        """This error as an RFC 9457 problem object (without `instance`)."""
        body: dict[str, Any] = {
            "type": f"https://nohaven.example/problems/{self.problem_slug()}",
            "title": self.title,
            "status": self.http_status,
            "detail": self.diagnostics(),
        }
        body.update({k: v for k, v in self.detail.items() if v is not None})
        return body

    @classmethod
    def problem_slug(cls) -> str:
        name = cls.__name__.removesuffix("Error")
        return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-") or "error"


class ConfigError(NohavenError):
    title = "Configuration refused"
    exit_code = 2


class InputError(NohavenError):
    """Bad input; `errors` lists each bad field as {"field": ..., "message": ...}."""

    http_status = 422
    title = "Invalid input"
    exit_code = 2

    def __init__(self, message: str, errors: Sequence[dict[str, str]] | None = None, **detail: Any) -> None:
        self.errors = list(errors or [])
        super().__init__(message, errors=self.errors or None, **detail)

    @classmethod
    def field(cls, field: str, message: str) -> InputError:
        """One bad field, named."""
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])

    def diagnostics(self) -> str:
        if len(self.errors) <= 1:
            return self.message
        lines = [self.message] + [f"  {e['field']}: {e['message']}" for e in self.errors]
        return "\n".join(lines)


class DirectoryFileError(InputError):
    title = "Directory file invalid"


class NotFoundError(NohavenError):
    http_status = 404
    title = "Not found"


class ConflictError(NohavenError):
    http_status = 409
    title = "Conflict"


class IllegalTransitionError(ConflictError):
    title = "Illegal status transition"

    def __init__(self, current: str, wanted: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (the status is final)"
        super().__init__(
            f"cannot go from {current} to {wanted}; allowed from {current}: {allowed_text}",
            current=current,
            requested=wanted,
            allowed=list(allowed),
        )


class AuthenticationError(NohavenError):
    http_status = 401
    title = "Authentication required"


class RateLimitedError(AuthenticationError):
    http_status = 429
    title = "Too many attempts"


class PermissionDeniedError(NohavenError):
    http_status = 403
    title = "Forbidden"


class AuditChainError(NohavenError):
    title = "Audit chain broken"
