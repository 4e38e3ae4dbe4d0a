"""HTTP handlers of personal dates, today's celebrations and person/company relationships."""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.celebrations import CelebrationService
from crm_core.crm.params import query_params
from crm_core.crm.people import PeopleService
from crm_core.crm.people_models import PersonDate, RelationshipType
from crm_core.crm.people_schemas import (
    CelebrationOut,
    CelebrationsOut,
    CompanyLinkIn,
    CompanyLinkOut,
    CompanyLinksOut,
    DateTypeIn,
    DateTypeOut,
    DateTypesOut,
    PersonDateIn,
    PersonDateOut,
    PersonDatesOut,
    PersonLinkIn,
    PersonLinkOut,
    PersonLinksOut,
    RelationshipTypeIn,
    RelationshipTypeOut,
    RelationshipTypesOut,
)
from crm_core.crm.policies import CRM_ADMIN, CRM_READ, CRM_WRITE
from crm_core.db import utcnow
from crm_core.errors import InvalidInput, NotFound
from crm_core.httpapi import ApiRegistry, audit_context, json_ok, path_int, principal, read_body
from crm_core.listing import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["register"]

_MAX_OFFSET = 100_000


def _people(request: web.Request) -> PeopleService:
    return PeopleService(request.app[SESSIONS], request.app[POLICIES])


def _date_out(pd: PersonDate) -> PersonDateOut:
    return PersonDateOut(
        id=pd.id, person_id=pd.person_id, type=pd.type, date=pd.date, label=pd.label
    )


def _type_out(t: RelationshipType) -> RelationshipTypeOut:
    return RelationshipTypeOut(id=t.id, name=t.name, inverse_name=t.inverse_name)


# -- personal dates ------------------------------------------------------------------------


async def list_date_types(request: web.Request) -> web.Response:
    """Kinds of personal date: built-in and administrator-defined."""
    return json_ok(DateTypesOut(items=await _people(request).date_types()))


async def create_date_type(request: web.Request) -> web.Response:
    """Add a kind of personal date."""
    body = await read_body(request, DateTypeIn)
    out: DateTypeOut = await _people(request).create_date_type(
        principal(request), body, audit_context(request)
    )
    return json_ok(out, status=201)


async def list_person_dates(request: web.Request) -> web.Response:
    """A person's anniversaries."""
    rows = await _people(request).dates(principal(request), path_int(request, "person_id"))
    return json_ok(PersonDatesOut(items=[_date_out(pd) for pd in rows]))


async def create_person_date(request: web.Request) -> web.Response:
    """Record an anniversary of a person."""
    body = await read_body(request, PersonDateIn)
    pd = await _people(request).add_date(
        principal(request), path_int(request, "person_id"), body, audit_context(request)
    )
    return json_ok(_date_out(pd), status=201)


async def delete_person_date(request: web.Request) -> web.Response:
    """Remove an anniversary of a person."""
    await _people(request).delete_date(
        principal(request),
        path_int(request, "person_id"),
        path_int(request, "date_id"),
        audit_context(request),
    )
    return web.Response(status=204)


# -- celebrations --------------------------------------------------------------------------


def _int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, str(default))
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidInput(
            f"query parameter {name!r} must be from {lo} to {hi}", details={"parameter": name}
        )
    return int(raw)


def _day(service: CelebrationService, params: dict[str, str]) -> date:
    if "date" in params and "at" in params:
        raise InvalidInput("give date or at, not both", details={"parameter": "at"})
    if "date" in params:
        try:
            day = date.fromisoformat(params["date"])
        except ValueError:
            day = None
        if day is None or len(params["date"]) != 10 or not 1900 <= day.year <= 9000:
            raise InvalidInput(
                "query parameter 'date' must be a date YYYY-MM-DD (years 1900-9000)",
                details={"parameter": "date"},
            )
        return day
    if "at" in params:
        try:
            at = datetime.fromisoformat(params["at"])
        except ValueError:
            at = None
        if at is None or at.tzinfo is None or not 1900 <= at.year <= 9000:
            raise InvalidInput(
                "query parameter 'at' must be an ISO 8601 date-time with a time zone",
                details={"parameter": "at"},
            )
        return service.day_of(at)
    return service.day_of(utcnow())


async def celebrations_today(request: web.Request) -> web.Response:
    """Persons in my scope celebrating a birthday, name day or anniversary on the day."""
    params = query_params(request, ("date", "at", "limit", "offset"))
    service = CelebrationService(
        request.app[SESSIONS], request.app[POLICIES], request.app[SETTINGS].default_timezone
    )
    day = _day(service, params)
    limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(params, "offset", 0, 0, _MAX_OFFSET)
    entries, total = await service.on_day(principal(request), day, limit, offset)
    items = [
        CelebrationOut(
            person_id=e.celebration.person_id,
            display_name=e.display_name,
            kind=e.celebration.kind,
            date=e.celebration.original,
            years=e.celebration.years,
            name=e.celebration.name,
            type=e.celebration.type,
            label=e.celebration.label,
            person_date_id=e.celebration.person_date_id,
        )
        for e in entries
    ]
    return json_ok(CelebrationsOut(day=day, items=items, total=total, limit=limit, offset=offset))


# -- relationships -------------------------------------------------------------------------


async def list_relationship_types(request: web.Request) -> web.Response:
    """Person-person relationship types."""
    types = await _people(request).relationship_types()
    return json_ok(RelationshipTypesOut(items=[_type_out(t) for t in types]))


async def create_relationship_type(request: web.Request) -> web.Response:
    """Add a relationship type with its inverse name."""
    body = await read_body(request, RelationshipTypeIn)
    t = await _people(request).create_relationship_type(
        principal(request), body, audit_context(request)
    )
    return json_ok(_type_out(t), status=201)


async def delete_relationship_type(request: web.Request) -> web.Response:
    """Remove an unused relationship type."""
    await _people(request).delete_relationship_type(
        principal(request), path_int(request, "type_id"), audit_context(request)
    )
    return web.Response(status=204)


async def list_person_links(request: web.Request) -> web.Response:
    """A person's relationships to persons I may see."""
    items = await _people(request).person_links(principal(request), path_int(request, "person_id"))
    return json_ok(PersonLinksOut(items=items))


async def create_person_link(request: web.Request) -> web.Response:
    """Link two persons; the answer shows the link from person A's side."""
    body = await read_body(request, PersonLinkIn)
    people = _people(request)
    who = principal(request)
    link_id = await people.create_person_link(who, body, audit_context(request))
    out: list[PersonLinkOut] = await people.person_links(who, body.person_a_id)
    return json_ok(_one(out, link_id), status=201)


def _one(
    items: list[PersonLinkOut] | list[CompanyLinkOut], link_id: int
) -> PersonLinkOut | CompanyLinkOut:
    for item in items:
        if item.id == link_id:
            return item
    raise NotFound(f"link {link_id} not found")  # deleted meanwhile


async def delete_person_link(request: web.Request) -> web.Response:
    """Remove a person link."""
    await _people(request).delete_person_link(
        principal(request), path_int(request, "link_id"), audit_context(request)
    )
    return web.Response(status=204)


async def list_company_links(request: web.Request) -> web.Response:
    """A company's partner links to companies I may see."""
    items = await _people(request).company_links(
        principal(request), path_int(request, "company_id")
    )
    return json_ok(CompanyLinksOut(items=items))


async def create_company_link(request: web.Request) -> web.Response:
    """Link two companies; the answer shows the link from company A's side."""
    body = await read_body(request, CompanyLinkIn)
    people = _people(request)
    who = principal(request)
    link_id = await people.create_company_link(who, body, audit_context(request))
    return json_ok(_one(await people.company_links(who, body.company_a_id), link_id), status=201)


async def delete_company_link(request: web.Request) -> web.Response:
    """Remove a company link."""
    await _people(request).delete_company_link(
        principal(request), path_int(request, "link_id"), audit_context(request)
    )
    return web.Response(status=204)


def register(api: ApiRegistry) -> None:
    """Declare the endpoints of personal dates, celebrations and relationships."""
    tag = "crm-people"
    read = {"tag": tag, "permission": CRM_READ, "errors": (400, 401, 403, 404)}
    write = {"tag": tag, "permission": CRM_WRITE, "audited": True}
    admin = {"tag": tag, "permission": CRM_ADMIN, "audited": True}
    body_errors = (400, 401, 403, 404, 409, 415)
    person_dates = r"/api/persons/{person_id:\d+}/dates"
    route = api.route
    route(
        "GET",
        "/api/person-date-types",
        summary="List kinds of personal date",
        response=DateTypesOut,
        **read,
    )(list_date_types)
    route(
        "POST",
        "/api/person-date-types",
        summary="Add a kind of personal date",
        body=DateTypeIn,
        response=DateTypeOut,
        status=201,
        errors=body_errors,
        **admin,
    )(create_date_type)
    route(
        "GET",
        person_dates,
        summary="List a person's anniversaries",
        response=PersonDatesOut,
        **read,
    )(list_person_dates)
    route(
        "POST",
        person_dates,
        summary="Record an anniversary of a person",
        body=PersonDateIn,
        response=PersonDateOut,
        status=201,
        errors=body_errors,
        **write,
    )(create_person_date)
    route(
        "DELETE",
        person_dates + r"/{date_id:\d+}",
        summary="Remove an anniversary of a person",
        status=204,
        errors=(401, 403, 404),
        **write,
    )(delete_person_date)
    route(
        "GET",
        "/api/celebrations/today",
        summary="Birthdays, name days and anniversaries of the day in my scope",
        response=CelebrationsOut,
        extra_query={
            "date": "the day (YYYY-MM-DD); default today in the business time zone",
            "at": "an instant (ISO 8601 with zone) whose business day to use",
            "limit": f"1-{MAX_LIMIT}, default {DEFAULT_LIMIT}",
            "offset": f"0-{_MAX_OFFSET}, default 0",
        },
        **read,
    )(celebrations_today)
    route(
        "GET",
        "/api/relationship-types",
        summary="List person relationship types",
        response=RelationshipTypesOut,
        **read,
    )(list_relationship_types)
    route(
        "POST",
        "/api/relationship-types",
        summary="Add a person relationship type",
        body=RelationshipTypeIn,
        response=RelationshipTypeOut,
        status=201,
        errors=body_errors,
        **admin,
    )(create_relationship_type)
    route(
        "DELETE",
        r"/api/relationship-types/{type_id:\d+}",
        summary="Remove an unused relationship type",
        status=204,
        errors=(401, 403, 404, 409),
        **admin,
    )(delete_relationship_type)
    route(
        "GET",
        r"/api/persons/{person_id:\d+}/links",
        summary="List a person's relationships to persons I may see",
        response=PersonLinksOut,
        **read,
    )(list_person_links)
    route(
        "POST",
        "/api/person-links",
        summary="Link two persons",
        body=PersonLinkIn,
        response=PersonLinkOut,
        status=201,
        errors=body_errors,
        **write,
    )(create_person_link)
    route(
        "DELETE",
        r"/api/person-links/{link_id:\d+}",
        summary="Remove a person link",
        status=204,
        errors=(401, 403, 404),
        **write,
    )(delete_person_link)
    route(
        "GET",
        r"/api/companies/{company_id:\d+}/links",
        summary="List a company's partner links to companies I may see",
        response=CompanyLinksOut,
        **read,
    )(list_company_links)
    route(
        "POST",
        "/api/company-links",
        summary="Link two companies (partner, followed through)",
        body=CompanyLinkIn,
        response=CompanyLinkOut,
        status=201,
        errors=body_errors,
        **write,
    )(create_company_link)
    route(
        "DELETE",
        r"/api/company-links/{link_id:\d+}",
        summary="Remove a company link",
        status=204,
        errors=(401, 403, 404),
        **write,
    )(delete_company_link)
