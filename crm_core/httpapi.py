"""The HTTP API toolkit every package's ``api.py`` uses: endpoint registry, body parsing, output.

Each endpoint is declared once with its method, path, permission, request and response models; the
registry installs it on the aiohttp router, the middleware reads its rules (authentication,
permission, audit), and ``web.openapi`` describes it — so the routes and /api/openapi.json cannot
drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from crm_core.errors import AuthenticationFailed, InvalidInput, NotFound, UnsupportedMediaType
from crm_core.listing import ListQuery, ListSpec, Page, parse_list_query
from crm_core.users.audit import AuditContext
from crm_core.users.permissions import Permission, Principal

__all__ = [
    "PRINCIPAL",
    "ApiRegistry",
    "Endpoint",
    "Handler",
    "audit_context",
    "json_ok",
    "list_query",
    "page_json",
    "path_int",
    "principal",
    "query_once",
    "read_body",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
PRINCIPAL = web.RequestKey("principal", Principal)
REMOTE_ADDR = web.RequestKey("remote_addr", str)
REQUEST_ID = web.RequestKey("request_id", str)
MAX_ID = 2**31 - 1
_PARAM_RE = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Endpoint:
    """One API operation and the rules the middleware applies to it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: Literal["public", "user"] = "user"
    permission: Permission | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    list_spec: ListSpec | None = None
    # True when the use case writes its own, more specific audit entry in its transaction.
    audited: bool = False
    errors: tuple[int, ...] = ()
    description: str = ""
    extra_query: dict[str, str] = field(default_factory=dict)
    # False for list endpoints that take filters and sort but no limit/offset (exports).
    paged: bool = True
    # Non-JSON answers (e.g. text/csv): the response is documented as a file of these types.
    media_types: tuple[str, ...] = ()

    @property
    def openapi_path(self) -> str:
        """The path with aiohttp's regex parts removed (``/users/{id}``)."""
        return _PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def path_params(self) -> list[str]:
        """Names of the path parameters."""
        return _PARAM_RE.findall(self.path)

    @property
    def operation_id(self) -> str:
        """A stable operation id."""
        return self.handler.__name__


class ApiRegistry:
    """Every endpoint of the application."""

    def __init__(self) -> None:
        self._endpoints: list[Endpoint] = []
        self._by_handler: dict[Handler, Endpoint] = {}

    def add(self, endpoint: Endpoint) -> None:
        """Register ``endpoint``."""
        if endpoint.handler in self._by_handler:
            raise ValueError(f"handler {endpoint.operation_id} is registered twice")
        self._endpoints.append(endpoint)
        self._by_handler[endpoint.handler] = endpoint

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def deco(handler: Handler) -> Handler:
            self.add(Endpoint(method=method.upper(), path=path, handler=handler, **kwargs))
            return handler

        return deco

    def install(self, router: web.UrlDispatcher) -> None:
        """Add every endpoint to ``router``."""
        for ep in self._endpoints:
            router.add_route(ep.method, ep.path, ep.handler, name=ep.operation_id)

    def for_handler(self, handler: object) -> Endpoint | None:
        """The endpoint whose handler is ``handler``."""
        for key, ep in self._by_handler.items():
            if key is handler:
                return ep
        return None

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._endpoints)


def principal(request: web.Request) -> Principal:
    """The authenticated caller (the middleware guarantees one on non-public endpoints)."""
    p = request.get(PRINCIPAL)
    if not isinstance(p, Principal):
        raise AuthenticationFailed("sign in first")
    return p


def audit_context(request: web.Request) -> AuditContext:
    """Where the request came from, for the audit log."""
    return AuditContext(
        remote_addr=request.get(REMOTE_ADDR) or request.remote or None,
        user_agent=request.headers.get("User-Agent"),
        method=request.method,
        path=request.path,
        request_id=request.get(REQUEST_ID),
    )


def path_int(request: web.Request, name: str) -> int:
    """A numeric path parameter; out-of-range ids are simply not found."""
    raw = request.match_info[name]
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise NotFound(f"no record with {name} {raw[:20]}")
    return int(raw)


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body; 415, 400 and 413 errors say what to fix."""
    ctype = request.content_type
    if ctype != "application/json":
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json (got {ctype or 'none'})"
        )
    raw = await request.read()  # aiohttp enforces client_max_size (413)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        where = ""
        if isinstance(err, json.JSONDecodeError):
            where = f" at line {err.lineno} column {err.colno}"
        raise InvalidInput(
            f"the body is not valid JSON{where}", details={"reason": str(err)[:200]}
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        fields = [
            {"field": _loc(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in err.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        raise InvalidInput(f"invalid request body: {summary}", details={"fields": fields}) from None


def query_once(request: web.Request) -> dict[str, str]:
    """The query parameters, each given at most once (400 naming one given twice)."""
    params: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise InvalidInput(
                f"query parameter {key!r} is given more than once", details={"parameter": key}
            )
        params[key] = values[0]
    return params


def list_query(request: web.Request, spec: ListSpec) -> ListQuery:
    """The request's list parameters, validated against ``spec``."""
    return parse_list_query(query_once(request), spec)


def json_ok(data: BaseModel | dict[str, Any] | list[Any], status: int = 200) -> web.Response:
    """A JSON response from a model or plain data."""
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return web.json_response(payload, status=status)


def page_json(page: Page[Any], convert: Callable[[Any], BaseModel]) -> web.Response:
    """The standard list answer ``{"items", "total", "limit", "offset"}``."""
    return web.json_response(
        {
            "items": [convert(item).model_dump(mode="json") for item in page.items],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )
