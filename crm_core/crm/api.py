"""HTTP handlers of companies, persons, lookup and search; ``register`` declares every CRM route."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm import (
    access_api,
    catalog_api,
    export_api,
    finance_api,
    import_api,
    parts_api,
    people_api,
    work_api,
)
from crm_core.crm.access_schemas import CandidateOut, LookupOut, SearchHit, SearchOut
from crm_core.crm.attributes import ATTR_QUERY
from crm_core.crm.models import Person
from crm_core.crm.params import query_params
from crm_core.crm.policies import CRM_DELETE, CRM_READ, CRM_WRITE, crm_policies
from crm_core.crm.repository import COMPANY_LIST, PERSON_LIST
from crm_core.crm.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyPatchIn,
    PersonIn,
    PersonOut,
    PersonPatchIn,
)
from crm_core.crm.service import CrmService
from crm_core.errors import InvalidInput
from crm_core.httpapi import (
    ApiRegistry,
    Handler,
    audit_context,
    json_ok,
    page_json,
    path_int,
    principal,
    query_once,
    read_body,
)
from crm_core.users.permissions import Policy

__all__ = ["policies", "register"]

SEARCH_MAX = 50


def policies() -> list[tuple[type[Any], Policy[Any]]]:
    """The CRM's object-level policies, for the application's PolicyRegistry."""
    return crm_policies()


def _crm(request: web.Request) -> CrmService:
    app = request.app
    return CrmService.configured(app[SESSIONS], app[POLICIES], app[SETTINGS])


def _person_out(request: web.Request, crm: CrmService, person: Person) -> PersonOut:
    return PersonOut.of(person, sensitive=crm.sees_sensitive(principal(request), person))


# -- companies -----------------------------------------------------------------------------


async def list_companies(request: web.Request) -> web.Response:
    """Companies in the caller's scope."""
    page = await _crm(request).list_companies(principal(request), query_once(request))
    return page_json(page, CompanyOut.of)


async def create_company(request: web.Request) -> web.Response:
    """Create a company with its contact data."""
    body = await read_body(request, CompanyIn)
    company = await _crm(request).create_company(principal(request), body, audit_context(request))
    return json_ok(CompanyOut.of(company), status=201)


async def get_company(request: web.Request) -> web.Response:
    """One company."""
    company = await _crm(request).get_company(principal(request), path_int(request, "company_id"))
    return json_ok(CompanyOut.of(company))


async def patch_company(request: web.Request) -> web.Response:
    """Change a company."""
    body = await read_body(request, CompanyPatchIn)
    company = await _crm(request).update_company(
        principal(request), path_int(request, "company_id"), body.changes(), audit_context(request)
    )
    return json_ok(CompanyOut.of(company))


async def delete_company(request: web.Request) -> web.Response:
    """Delete a company."""
    await _crm(request).delete_company(
        principal(request), path_int(request, "company_id"), audit_context(request)
    )
    return web.Response(status=204)


# -- persons -------------------------------------------------------------------------------


async def list_persons(request: web.Request) -> web.Response:
    """Persons in the caller's scope."""
    crm = _crm(request)
    page = await crm.list_persons(principal(request), query_once(request))
    return page_json(page, lambda p: _person_out(request, crm, p))


async def create_person(request: web.Request) -> web.Response:
    """Create a person with contact data and company links."""
    body = await read_body(request, PersonIn)
    crm = _crm(request)
    person = await crm.create_person(principal(request), body, audit_context(request))
    return json_ok(_person_out(request, crm, person), status=201)


async def get_person(request: web.Request) -> web.Response:
    """One person."""
    crm = _crm(request)
    person = await crm.get_person(principal(request), path_int(request, "person_id"))
    return json_ok(_person_out(request, crm, person))


async def patch_person(request: web.Request) -> web.Response:
    """Change a person."""
    body = await read_body(request, PersonPatchIn)
    crm = _crm(request)
    person = await crm.update_person(
        principal(request), path_int(request, "person_id"), body.changes(), audit_context(request)
    )
    return json_ok(_person_out(request, crm, person))


async def delete_person(request: web.Request) -> web.Response:
    """Delete a person."""
    await _crm(request).delete_person(
        principal(request), path_int(request, "person_id"), audit_context(request)
    )
    return web.Response(status=204)


# -- lookup and search ---------------------------------------------------------------------


async def lookup_phone(request: web.Request) -> web.Response:
    """Caller-ID lookup: persons and companies having this number, written in any format."""
    params = query_params(request, ("number",))
    number = params.get("number", "")
    if not number.strip():
        raise InvalidInput("query parameter 'number' is required", details={"parameter": "number"})
    e164, found = await _crm(request).lookup_phone(principal(request), number)
    return json_ok(
        LookupOut(number=number, e164=e164, candidates=[CandidateOut.of(c) for c in found])
    )


async def search(request: web.Request) -> web.Response:
    """Quick search of companies and persons by name, code, e-mail or phone in any format."""
    params = query_params(request, ("q", "limit"))
    raw_limit = params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= SEARCH_MAX:
        raise InvalidInput(
            f"query parameter 'limit' must be from 1 to {SEARCH_MAX}",
            details={"parameter": "limit"},
        )
    limit = int(raw_limit)
    q = params.get("q", "")
    if not q.strip():
        raise InvalidInput("query parameter 'q' is required", details={"parameter": "q"})
    if len(q) > 200:
        raise InvalidInput("query parameter 'q' is too long", details={"parameter": "q"})
    found = await _crm(request).search(principal(request), q, limit)
    hits = [SearchHit.company(c) for c in found.companies]
    hits += [SearchHit.person(p) for p in found.persons]
    return json_ok(SearchOut(items=hits[:limit], truncated=found.truncated))


def _records(
    api: ApiRegistry,
    noun: str,
    path: str,
    key: str,
    models: tuple[Any, Any, Any, Any],
    handlers: tuple[Handler, Handler, Handler, Handler, Handler],
) -> None:
    body_in, patch_in, out, spec = models
    list_h, create_h, get_h, patch_h, delete_h = handlers
    one = rf"{path}/{{{key}:\d+}}"
    api.route(
        "GET",
        path,
        summary=f"List {noun}s in my scope",
        tag="crm",
        permission=CRM_READ,
        response=out,
        list_spec=spec,
        errors=(400, 401, 403),
        extra_query=ATTR_QUERY,
        description="Sort by a custom attribute with sort=attr.<name> or sort=-attr.<name>.",
    )(list_h)
    api.route(
        "POST",
        path,
        summary=f"Create a {noun}",
        tag="crm",
        permission=CRM_WRITE,
        body=body_in,
        response=out,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(create_h)
    api.route(
        "GET",
        one,
        summary=f"Get a {noun}",
        tag="crm",
        permission=CRM_READ,
        response=out,
        errors=(401, 403, 404),
    )(get_h)
    api.route(
        "PATCH",
        one,
        summary=f"Change a {noun}",
        tag="crm",
        permission=CRM_WRITE,
        body=patch_in,
        response=out,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(patch_h)
    api.route(
        "DELETE",
        one,
        summary=f"Delete a {noun}",
        tag="crm",
        permission=CRM_DELETE,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(delete_h)


def register(api: ApiRegistry) -> None:
    """Declare the CRM's endpoints."""
    _records(
        api,
        "company",
        "/api/companies",
        "company_id",
        (CompanyIn, CompanyPatchIn, CompanyOut, COMPANY_LIST),
        (list_companies, create_company, get_company, patch_company, delete_company),
    )
    _records(
        api,
        "person",
        "/api/persons",
        "person_id",
        (PersonIn, PersonPatchIn, PersonOut, PERSON_LIST),
        (list_persons, create_person, get_person, patch_person, delete_person),
    )
    api.route(
        "GET",
        "/api/lookup/phone",
        summary="Caller-ID lookup by phone number (?number=, any format)",
        tag="crm",
        permission=CRM_READ,
        response=LookupOut,
        errors=(400, 401, 403),
        extra_query={"number": "the phone number as received"},
    )(lookup_phone)
    api.route(
        "GET",
        "/api/search",
        summary="Quick search of companies and persons (?q=, ?limit=)",
        tag="crm",
        permission=CRM_READ,
        response=SearchOut,
        errors=(400, 401, 403),
        extra_query={"q": "name, code, e-mail or phone", "limit": f"1-{SEARCH_MAX}, default 20"},
    )(search)
    access_api.register(api)
    finance_api.register(api)
    work_api.register(api)
    import_api.register(api)
    export_api.register(api)
    people_api.register(api)
    catalog_api.register(api)
    parts_api.register(api)
