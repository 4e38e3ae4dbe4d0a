"""HTTP handlers of the managed lists: activity statuses, lead sources, attribute definitions,
products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from crm_core.appkeys import SESSIONS
from crm_core.crm.catalog import (
    ATTRIBUTE_LIST,
    LEAD_SOURCE_LIST,
    PRODUCT_LIST,
    STATUS_LIST,
    Catalog,
)
from crm_core.crm.catalog_schemas import (
    ActivityStatusIn,
    ActivityStatusOut,
    ActivityStatusPatchIn,
    AttributeDefinitionIn,
    AttributeDefinitionOut,
    AttributeDefinitionPatchIn,
    LeadSourceIn,
    LeadSourceOut,
    LeadSourcePatchIn,
    ProductIn,
    ProductOut,
    ProductPatchIn,
)
from crm_core.crm.policies import CRM_ADMIN, CRM_READ
from crm_core.crm.schema_base import Patch
from crm_core.httpapi import (
    ApiRegistry,
    Handler,
    audit_context,
    json_ok,
    list_query,
    page_json,
    path_int,
    principal,
    read_body,
)
from crm_core.listing import ListSpec

__all__ = ["register"]

TAG = "crm-admin"


def _catalog(request: web.Request) -> Catalog:
    return Catalog(request.app[SESSIONS])


def _handlers(
    kind: str,
    spec: ListSpec,
    body_in: type[BaseModel],
    patch_in: type[Patch],
    out: Callable[[Any], BaseModel],
    key: str,
) -> tuple[Handler, Handler, Handler, Handler]:
    async def list_(request: web.Request) -> web.Response:
        page = await _catalog(request).page(kind, list_query(request, spec), spec)
        return page_json(page, out)

    async def create(request: web.Request) -> web.Response:
        body = await read_body(request, body_in)
        obj = await _catalog(request).create(
            principal(request), kind, body.model_dump(), audit_context(request)
        )
        return json_ok(out(obj), status=201)

    async def get(request: web.Request) -> web.Response:
        return json_ok(out(await _catalog(request).get(kind, path_int(request, key))))

    async def patch(request: web.Request) -> web.Response:
        body = await read_body(request, patch_in)
        obj = await _catalog(request).update(
            principal(request), kind, path_int(request, key), body.changes(), audit_context(request)
        )
        return json_ok(out(obj))

    for fn, verb in ((list_, "list"), (create, "create"), (get, "get"), (patch, "patch")):
        fn.__name__ = f"{verb}_{kind}"
        fn.__doc__ = f"{verb.capitalize()} {kind.replace('_', ' ')}(s)."
    return list_, create, get, patch


async def delete_attribute(request: web.Request) -> web.Response:
    """Delete a custom attribute definition with its values."""
    await _catalog(request).delete_attribute(
        principal(request), path_int(request, "attribute_id"), audit_context(request)
    )
    return web.Response(status=204)


def register(api: ApiRegistry) -> None:
    """Declare the managed-list endpoints."""
    for kind, path, noun, key, spec, body_in, patch_in, out in (
        (
            "activity_status",
            "/api/activity-statuses",
            "activity status",
            "status_id",
            STATUS_LIST,
            ActivityStatusIn,
            ActivityStatusPatchIn,
            ActivityStatusOut,
        ),
        (
            "lead_source",
            "/api/lead-sources",
            "lead source",
            "lead_source_id",
            LEAD_SOURCE_LIST,
            LeadSourceIn,
            LeadSourcePatchIn,
            LeadSourceOut,
        ),
        (
            "attribute",
            "/api/attribute-definitions",
            "custom attribute definition",
            "attribute_id",
            ATTRIBUTE_LIST,
            AttributeDefinitionIn,
            AttributeDefinitionPatchIn,
            AttributeDefinitionOut,
        ),
        (
            "product",
            "/api/products",
            "catalogue product",
            "product_id",
            PRODUCT_LIST,
            ProductIn,
            ProductPatchIn,
            ProductOut,
        ),
    ):
        list_h, create_h, get_h, patch_h = _handlers(kind, spec, body_in, patch_in, out.of, key)
        one = rf"{path}/{{{key}:\d+}}"
        api.route(
            "GET",
            path,
            summary=f"List {noun}s",
            tag=TAG,
            permission=CRM_READ,
            response=out,
            list_spec=spec,
            errors=(400, 401, 403),
        )(list_h)
        api.route(
            "POST",
            path,
            summary=f"Create a {noun}",
            tag=TAG,
            permission=CRM_ADMIN,
            body=body_in,
            response=out,
            status=201,
            audited=True,
            errors=(400, 401, 403, 409, 415),
        )(create_h)
        api.route(
            "GET",
            one,
            summary=f"Get a {noun}",
            tag=TAG,
            permission=CRM_READ,
            response=out,
            errors=(401, 403, 404),
        )(get_h)
        api.route(
            "PATCH",
            one,
            summary=f"Change a {noun}",
            tag=TAG,
            permission=CRM_ADMIN,
            body=patch_in,
            response=out,
            audited=True,
            errors=(400, 401, 403, 404, 409, 415),
        )(patch_h)
    api.route(
        "DELETE",
        r"/api/attribute-definitions/{attribute_id:\d+}",
        summary="Delete a custom attribute definition and its values",
        tag=TAG,
        permission=CRM_ADMIN,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(delete_attribute)
