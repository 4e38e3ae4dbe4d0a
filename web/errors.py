"""The one table that maps domain errors to HTTP statuses, and the JSON error body."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.errors import (
    AuthenticationFailed,
    CallboardError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from telephony.errors import AmiActionFailed

__all__ = ["STATUS_OF", "error_response", "status_of"]

# Most specific first: the first matching class decides.
STATUS_OF: tuple[tuple[type[CallboardError], int], ...] = (
    (UnsupportedMediaType, 415),
    (InvalidInput, 400),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    # Asterisk refused the action in the PBX's present state (its message is passed on).
    (AmiActionFailed, 409),
    (RateLimited, 429),
    (ServiceUnavailable, 503),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def status_of(err: CallboardError) -> int:
    """The HTTP status of a domain error (500 for kinds the table does not know)."""
    for cls, status in STATUS_OF:
        if isinstance(err, cls):
            return status
    return 500


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """``{"error": {"code", "message", "details"}}`` with ``status``."""
    body = {
        "error": {
            "code": code or _HTTP_CODES.get(status, "error"),
            "message": message,
            "details": details or {},
        }
    }
    return web.json_response(body, status=status, headers=headers)
