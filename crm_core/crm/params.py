"""Query-string parsing for the CRM endpoints that are not lists."""

from __future__ import annotations

from aiohttp import web

from crm_core.errors import InvalidInput
from crm_core.httpapi import query_once

__all__ = ["page_params", "query_params"]


def query_params(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each at most once; 400 naming any other parameter."""
    for key in request.query:
        if key not in allowed:
            raise InvalidInput(
                f"unknown query parameter {key!r}; allowed: {', '.join(allowed)}",
                details={"parameter": key, "allowed": list(allowed)},
            )
    return query_once(request)


def page_params(request: web.Request, max_offset: int) -> tuple[int, int]:
    """``limit`` (1-200, default 50) and ``offset`` (0-``max_offset``) of a paged answer."""
    params = query_params(request, ("limit", "offset"))
    values: list[int] = []
    for name, default, hi in (("limit", "50", 200), ("offset", "0", max_offset)):
        raw = params.get(name, default)
        lo = 1 if name == "limit" else 0
        if not raw.isdigit() or not lo <= int(raw) <= hi:
            raise InvalidInput(
                f"query parameter {name!r} must be from {lo} to {hi}",
                details={"parameter": name},
            )
        values.append(int(raw))
    return values[0], values[1]
