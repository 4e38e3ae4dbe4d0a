"""The root of Callboard's domain errors; ``web`` maps each kind to an HTTP status in one table."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationFailed",
    "CallboardError",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "UnsupportedMediaType",
]


class CallboardError(Exception):
    """Base of every error a client may be told about; ``message`` is written for a person."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidInput(CallboardError):
    """The request's data is malformed or fails validation."""

    code = "invalid_input"


class UnsupportedMediaType(InvalidInput):
    """The body is not in a format the endpoint reads."""

    code = "unsupported_media_type"


class AuthenticationFailed(CallboardError):
    """No valid credentials were given."""

    code = "unauthenticated"


class PermissionDenied(CallboardError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFound(CallboardError):
    """The record does not exist, or the caller may not know that it does."""

    code = "not_found"


class Conflict(CallboardError):
    """The change clashes with the current state (a duplicate, a stale version)."""

    code = "conflict"


class RateLimited(CallboardError):
    """Too many attempts; ``retry_after`` says how many seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(CallboardError):
    """A part the request needs (database, Redis, PBX) is unreachable."""

    code = "service_unavailable"
