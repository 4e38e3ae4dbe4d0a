"""OpenAPI 3.1 description built from the endpoint registry (so it cannot drift from the routes)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from crm_core.httpapi import ApiRegistry, Endpoint
from crm_core.listing import MAX_LIMIT, ListSpec

__all__ = ["build_openapi"]

_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "str": {"type": "string", "maxLength": 500},
    "int": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    "bool": {"type": "string", "enum": ["true", "false"]},
    "datetime": {"type": "string", "format": "date-time"},
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

_REASONS = {
    400: "Invalid input",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Body not JSON",
    429: "Too many attempts",
    503: "A part is unavailable",
}


def _list_parameters(spec: ListSpec, *, paged: bool = True) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if paged:
        params += [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            },
            {
                "name": "offset",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
            },
        ]
    params += [
        {
            "name": "sort",
            "in": "query",
            "description": "comma-separated fields, '-' = descending",
            "schema": {"type": "string", "pattern": "^-?(" + "|".join(spec.sortable) + ")$"},
        },
    ]
    if spec.search:
        params.append(
            {
                "name": "q",
                "in": "query",
                "description": "free-text search",
                "schema": {"type": "string", "maxLength": 200},
            }
        )
    for name, f in spec.filters.items():
        for op in f.ops:
            schema: dict[str, Any] = (
                {"type": "string", "enum": list(f.choices)}
                if f.kind == "choice"
                else dict(_KIND_SCHEMA[f.kind])
            )
            if op == "in":
                schema = {"type": "string", "maxLength": 500}
            pname = name if op == "eq" else f"{name}__{op}"
            params.append(
                {
                    "name": pname,
                    "in": "query",
                    "schema": schema,
                    "description": f.description or f"filter: {name} {op}",
                }
            )
    return params


def _path_schema(path: str, name: str) -> dict[str, Any]:
    """Integer ids for ``{name:\\d+}``, otherwise a string with the route's pattern."""
    match = re.search(r"\{" + re.escape(name) + r"(?::([^}]*))?\}", path)
    pattern = match.group(1) if match else None
    if pattern in (None, r"\d+"):
        return {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    return {"type": "string", "pattern": f"^{pattern}$", "maxLength": 64}


def _operation(ep: Endpoint, ref: dict[type[BaseModel], str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.tag],
    }
    if ep.description:
        op["description"] = ep.description
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _path_schema(ep.path, name),
        }
        for name in ep.path_params
    ]
    if ep.list_spec is not None:
        params.extend(_list_parameters(ep.list_spec, paged=ep.paged))
    known = {p["name"] for p in params}
    params.extend(
        {
            "name": name,
            "in": "query",
            "description": text,
            "schema": {"type": "string", "maxLength": 500},
        }
        for name, text in ep.extra_query.items()
        if name not in known
    )
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": ref[ep.body]}}},
        }
    responses: dict[str, Any] = {}
    if ep.status == 204:
        responses["204"] = {"description": "Done"}
    elif ep.media_types:
        responses[str(ep.status)] = {
            "description": "A file",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in ep.media_types
            },
        }
    elif ep.response is not None:
        schema: dict[str, Any] = {"$ref": ref[ep.response]}
        if ep.list_spec is not None:
            schema = {
                "type": "object",
                "required": ["items", "total", "limit", "offset"],
                "properties": {
                    "items": {"type": "array", "items": schema},
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            }
        responses[str(ep.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
    else:
        responses[str(ep.status)] = {"description": "OK"}
    codes = set(ep.errors)
    if ep.auth != "public":
        codes.add(401)
    if ep.body is not None:
        codes |= {400, 413, 415}
    if ep.list_spec is not None:
        codes.add(400)
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    if ep.auth == "public":
        op["security"] = []
    return op


def build_openapi(
    api: ApiRegistry, *, title: str = "Callboard", version: str = "0.1.0"
) -> dict[str, Any]:
    """The OpenAPI document of every registered endpoint."""
    models: set[type[BaseModel]] = set()
    for ep in api:
        for m in (ep.body, ep.response):
            if m is not None:
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in ordered if any(ep.body is m for ep in api)
    ]
    modes += [(m, "serialization") for m in ordered if any(ep.response is m for ep in api)]
    key_map, defs = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    ref: dict[type[BaseModel], str] = {}
    for (model, _mode), schema in key_map.items():
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        ref.setdefault(model, schema["$ref"])
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for ep in api:
        paths.setdefault(ep.openapi_path, {})[ep.method.lower()] = _operation(ep, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                'Errors are always {"error": {"code", "message", "details"}}. Lists take '
                "limit, offset, sort and their filters, and answer {items, total, limit, offset}."
                " Browser sessions must send X-CSRF-Token on changes."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "callboard_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
