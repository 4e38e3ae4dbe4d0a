"""HTTP handlers of territories, territory grants, delegations and categories."""

from __future__ import annotations

from aiohttp import web

from crm_core.appkeys import SESSIONS
from crm_core.crm.access import CATEGORY_LIST, DELEGATION_LIST, TERRITORY_LIST, AccessService
from crm_core.crm.access_schemas import (
    CategoryIn,
    CategoryOut,
    DelegationIn,
    DelegationOut,
    GrantIn,
    GrantListOut,
    GrantOut,
    TerritoryIn,
    TerritoryOut,
)
from crm_core.crm.policies import CRM_ADMIN, CRM_READ
from crm_core.httpapi import (
    ApiRegistry,
    audit_context,
    json_ok,
    list_query,
    page_json,
    path_int,
    principal,
    read_body,
)

__all__ = ["register"]


def _access(request: web.Request) -> AccessService:
    return AccessService(request.app[SESSIONS])


async def list_territories(request: web.Request) -> web.Response:
    """Territories."""
    page = await _access(request).list_territories(
        principal(request), list_query(request, TERRITORY_LIST)
    )
    return page_json(page, TerritoryOut.of)


async def create_territory(request: web.Request) -> web.Response:
    """Create a territory."""
    body = await read_body(request, TerritoryIn)
    t = await _access(request).create_territory(principal(request), body, audit_context(request))
    return json_ok(TerritoryOut.of(t), status=201)


async def list_grants(request: web.Request) -> web.Response:
    """Who is granted a territory."""
    grants = await _access(request).list_grants(
        principal(request), path_int(request, "territory_id")
    )
    return json_ok(GrantListOut(items=[GrantOut.of(g) for g in grants]))


async def add_grant(request: web.Request) -> web.Response:
    """Grant a territory to a role or a user."""
    body = await read_body(request, GrantIn)
    g = await _access(request).add_grant(
        principal(request), path_int(request, "territory_id"), body, audit_context(request)
    )
    return json_ok(GrantOut.of(g), status=201)


async def remove_grant(request: web.Request) -> web.Response:
    """Withdraw a territory grant."""
    await _access(request).remove_grant(
        principal(request),
        path_int(request, "territory_id"),
        path_int(request, "grant_id"),
        audit_context(request),
    )
    return web.Response(status=204)


async def list_delegations(request: web.Request) -> web.Response:
    """Delegations from or to the caller."""
    page = await _access(request).list_delegations(
        principal(request), list_query(request, DELEGATION_LIST)
    )
    return page_json(page, DelegationOut.of)


async def create_delegation(request: web.Request) -> web.Response:
    """Lend one's record access to another user for a period."""
    body = await read_body(request, DelegationIn)
    d = await _access(request).create_delegation(principal(request), body, audit_context(request))
    return json_ok(DelegationOut.of(d), status=201)


async def delete_delegation(request: web.Request) -> web.Response:
    """End a delegation."""
    await _access(request).delete_delegation(
        principal(request), path_int(request, "delegation_id"), audit_context(request)
    )
    return web.Response(status=204)


async def list_categories(request: web.Request) -> web.Response:
    """Categories."""
    page = await _access(request).list_categories(
        principal(request), list_query(request, CATEGORY_LIST)
    )
    return page_json(page, CategoryOut.of)


async def create_category(request: web.Request) -> web.Response:
    """Create a category."""
    body = await read_body(request, CategoryIn)
    c = await _access(request).create_category(principal(request), body, audit_context(request))
    return json_ok(CategoryOut.of(c), status=201)


def register(api: ApiRegistry) -> None:
    """Declare the access endpoints."""
    tag = "crm-access"
    api.route(
        "GET",
        "/api/territories",
        summary="List territories",
        tag=tag,
        permission=CRM_READ,
        response=TerritoryOut,
        list_spec=TERRITORY_LIST,
        errors=(400, 401, 403),
    )(list_territories)
    api.route(
        "POST",
        "/api/territories",
        summary="Create a territory",
        tag=tag,
        permission=CRM_ADMIN,
        body=TerritoryIn,
        response=TerritoryOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415),
    )(create_territory)
    api.route(
        "GET",
        r"/api/territories/{territory_id:\d+}/grants",
        summary="Who is granted a territory",
        tag=tag,
        permission=CRM_ADMIN,
        response=GrantListOut,
        errors=(401, 403, 404),
    )(list_grants)
    api.route(
        "POST",
        r"/api/territories/{territory_id:\d+}/grants",
        summary="Grant a territory to a role or a user",
        tag=tag,
        permission=CRM_ADMIN,
        body=GrantIn,
        response=GrantOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(add_grant)
    api.route(
        "DELETE",
        r"/api/territories/{territory_id:\d+}/grants/{grant_id:\d+}",
        summary="Withdraw a territory grant",
        tag=tag,
        permission=CRM_ADMIN,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(remove_grant)
    api.route(
        "GET",
        "/api/delegations",
        summary="Delegations from or to me",
        tag=tag,
        permission=CRM_READ,
        response=DelegationOut,
        list_spec=DELEGATION_LIST,
        errors=(400, 401, 403),
    )(list_delegations)
    api.route(
        "POST",
        "/api/delegations",
        summary="Lend my record access to another user for a period",
        tag=tag,
        permission=CRM_READ,
        body=DelegationIn,
        response=DelegationOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 415),
    )(create_delegation)
    api.route(
        "DELETE",
        r"/api/delegations/{delegation_id:\d+}",
        summary="End a delegation",
        tag=tag,
        permission=CRM_READ,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(delete_delegation)
    api.route(
        "GET",
        "/api/categories",
        summary="List categories",
        tag=tag,
        permission=CRM_READ,
        response=CategoryOut,
        list_spec=CATEGORY_LIST,
        errors=(400, 401, 403),
    )(list_categories)
    api.route(
        "POST",
        "/api/categories",
        summary="Create a category",
        tag=tag,
        permission=CRM_ADMIN,
        body=CategoryIn,
        response=CategoryOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415),
    )(create_category)
