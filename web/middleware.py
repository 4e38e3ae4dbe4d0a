"""Request middlewares: ids, errors, security headers, size limit, authentication, CSRF, audit."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from crm_core.appkeys import API, AUTH, SESSIONS, SETTINGS
from crm_core.db import session_scope
from crm_core.errors import AuthenticationFailed, CallboardError, PermissionDenied, RateLimited
from crm_core.httpapi import PRINCIPAL, REMOTE_ADDR, REQUEST_ID, Endpoint, audit_context
from crm_core.users.api import SESSION_COOKIE
from crm_core.users.audit import record_audit
from crm_core.users.permissions import Principal
from web.errors import error_response, status_of

__all__ = ["build_middlewares", "origin_allowed"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), payment=()",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    ),
}


def _client_addr(
    request: web.Request, trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> str | None:
    """The client's address; X-Forwarded-For is believed only from trusted proxies."""
    peer = request.remote
    if not trusted or peer is None:
        return peer
    try:
        hops = [ipaddress.ip_address(peer)]
        fwd = request.headers.get("X-Forwarded-For", "")
        hops = [ipaddress.ip_address(h.strip()) for h in fwd.split(",") if h.strip()] + hops
    except ValueError:
        return peer
    for hop in reversed(hops):
        if not any(hop in net for net in trusted):
            return str(hop)
    return str(hops[0])


def origin_allowed(request: web.Request) -> bool:
    """True without an ``Origin`` header, or when it is this site (or ``public_url``)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {f"{request.scheme}://{request.host}"}
    public_url = request.app[SETTINGS].public_url
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin in allowed


def build_middlewares(app: web.Application) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    """The middlewares in order, outermost first."""
    settings = app[SETTINGS]
    trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
    max_body = settings.max_body_bytes

    @web.middleware
    async def errors_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)
        request[REQUEST_ID] = request_id
        request[REMOTE_ADDR] = _client_addr(request, trusted) or ""
        started = time.monotonic()
        try:
            resp = await handler(request)
        except CallboardError as err:
            status = status_of(err)
            headers = (
                {"Retry-After": str(err.retry_after)} if isinstance(err, RateLimited) else None
            )
            if status == 401:
                headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="callboard"'}
            resp = error_response(
                status, err.message, code=err.code, details=err.details, headers=headers
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = exc.text if exc.text and exc.status != 404 else exc.reason
            if exc.status == 404:
                message = f"no such endpoint: {request.method} {request.path}"
            elif exc.status == 405:
                message = f"method {request.method} is not allowed on {request.path}"
            elif exc.status == 413:
                message = f"the request body is larger than the limit of {max_body} bytes"
            headers = {}
            if exc.status == 405 and "Allow" in exc.headers:
                headers["Allow"] = exc.headers["Allow"]
            resp = error_response(exc.status, message, headers=headers or None)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request %s)", request.method, request.path, request_id
            )
            resp = error_response(
                500,
                f"internal error; quote reference {request_id} to your administrator",
                details={"request_id": request_id},
            )
        resp.headers["X-Request-ID"] = request_id
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
        if settings.secure_cookies:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/api/"):
            resp.headers.setdefault("Cache-Control", "no-store")
        log.debug(
            "%s %s -> %s in %.1f ms (request %s)",
            request.method,
            request.path,
            resp.status,
            (time.monotonic() - started) * 1000,
            request_id,
        )
        return resp

    @web.middleware
    async def size_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body:
            raise web.HTTPRequestEntityTooLarge(
                max_size=max_body, actual_size=request.content_length
            )
        return await handler(request)

    @web.middleware
    async def auth_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint: Endpoint | None = request.app[API].for_handler(request.match_info.handler)
        p: Principal | None = None
        auth = request.app[AUTH]
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthenticationFailed("use 'Authorization: Bearer <token>'")
            p = await auth.from_bearer(value.strip())
            if p is None:
                raise AuthenticationFailed("the API token is unknown, revoked or expired")
        elif SESSION_COOKIE in request.cookies:
            p = await auth.from_session(request.cookies[SESSION_COOKIE])
        if p is not None:
            request[PRINCIPAL] = p
        if endpoint is None:
            return await handler(request)
        if endpoint.auth != "public":
            if p is None:
                raise AuthenticationFailed("sign in first (session cookie or Bearer token)")
            if endpoint.permission is not None:
                p.require(endpoint.permission)
        if request.method not in SAFE_METHODS:
            if not origin_allowed(request):
                raise PermissionDenied(
                    "cross-site request refused (Origin does not match)",
                    details={"reason": "origin"},
                )
            # Public endpoints (sign-in) do not act with the session, so its token is not asked.
            if p is not None and p.auth_method == "session" and endpoint.auth != "public":
                await _check_csrf(request, p)
        return await handler(request)

    async def _check_csrf(request: web.Request, p: Principal) -> None:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        expected = p.csrf_token or ""
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise PermissionDenied(
                f"missing or wrong CSRF token; send the {CSRF_HEADER} header given at sign-in",
                details={"reason": "csrf"},
            )

    @web.middleware
    async def audit_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in SAFE_METHODS:
            return await handler(request)
        endpoint: Endpoint | None = request.app[API].for_handler(request.match_info.handler)
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except CallboardError as err:
            status = status_of(err)
            raise
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            # Successful changes of audited use cases were written in their own transaction.
            if endpoint is not None and not (endpoint.audited and status < 400):
                await _write_http_audit(request, endpoint, status)

    async def _write_http_audit(request: web.Request, endpoint: Endpoint, status: int) -> None:
        p = request.get(PRINCIPAL)
        try:
            async with session_scope(request.app[SESSIONS]) as db:
                await record_audit(
                    db,
                    audit_context(request),
                    action=f"http.{endpoint.operation_id}",
                    principal=p if isinstance(p, Principal) else None,
                    status=status,
                    object_id=next(iter(request.match_info.values()), None),
                )
        except Exception:
            log.exception("could not write the audit entry of %s %s", request.method, request.path)

    # audit_mw wraps auth_mw so that refused attempts (401/403) are audited as well.
    return [errors_mw, size_mw, audit_mw, auth_mw]
