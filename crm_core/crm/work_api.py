"""HTTP handlers of tickets, activities and timelines."""

from __future__ import annotations

from aiohttp import web

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.models import Company, Person
from crm_core.crm.params import page_params
from crm_core.crm.policies import CRM_READ, CRM_WRITE
from crm_core.crm.work import ACTIVITY_LIST, TICKET_LIST, TIMELINE_MAX_OFFSET, WorkService
from crm_core.crm.work_schemas import (
    ActivityIn,
    ActivityOut,
    ActivityPatchIn,
    TicketIn,
    TicketOut,
    TicketPatchIn,
    TimelineOut,
)
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


def _work(request: web.Request) -> WorkService:
    app = request.app
    return WorkService(app[SESSIONS], app[POLICIES], app[SETTINGS].default_timezone)


async def list_tickets(request: web.Request) -> web.Response:
    """Tickets I may see."""
    page = await _work(request).list_tickets(principal(request), list_query(request, TICKET_LIST))
    return page_json(page, TicketOut.of)


async def create_ticket(request: web.Request) -> web.Response:
    """Open a ticket."""
    body = await read_body(request, TicketIn)
    t = await _work(request).create_ticket(principal(request), body, audit_context(request))
    return json_ok(TicketOut.of(t), status=201)


async def get_ticket(request: web.Request) -> web.Response:
    """One ticket."""
    t = await _work(request).get_ticket(principal(request), path_int(request, "ticket_id"))
    return json_ok(TicketOut.of(t))


async def patch_ticket(request: web.Request) -> web.Response:
    """Change a ticket."""
    body = await read_body(request, TicketPatchIn)
    t = await _work(request).update_ticket(
        principal(request), path_int(request, "ticket_id"), body.changes(), audit_context(request)
    )
    return json_ok(TicketOut.of(t))


async def list_activities(request: web.Request) -> web.Response:
    """Activities I may see."""
    page = await _work(request).list_activities(
        principal(request), list_query(request, ACTIVITY_LIST)
    )
    return page_json(page, ActivityOut.of)


async def create_activity(request: web.Request) -> web.Response:
    """Record or plan an activity."""
    body = await read_body(request, ActivityIn)
    a = await _work(request).create_activity(principal(request), body, audit_context(request))
    return json_ok(ActivityOut.of(a), status=201)


async def get_activity(request: web.Request) -> web.Response:
    """One activity."""
    a = await _work(request).get_activity(principal(request), path_int(request, "activity_id"))
    return json_ok(ActivityOut.of(a))


async def patch_activity(request: web.Request) -> web.Response:
    """Change an activity."""
    body = await read_body(request, ActivityPatchIn)
    a = await _work(request).update_activity(
        principal(request), path_int(request, "activity_id"), body.changes(), audit_context(request)
    )
    return json_ok(ActivityOut.of(a))


async def company_timeline(request: web.Request) -> web.Response:
    """A company's history, newest first."""
    limit, offset = page_params(request, TIMELINE_MAX_OFFSET)
    items, total = await _work(request).timeline(
        principal(request), Company, path_int(request, "company_id"), limit, offset
    )
    return json_ok(TimelineOut(items=items, total=total, limit=limit, offset=offset))


async def person_timeline(request: web.Request) -> web.Response:
    """A person's history, newest first."""
    limit, offset = page_params(request, TIMELINE_MAX_OFFSET)
    items, total = await _work(request).timeline(
        principal(request), Person, path_int(request, "person_id"), limit, offset
    )
    return json_ok(TimelineOut(items=items, total=total, limit=limit, offset=offset))


def register(api: ApiRegistry) -> None:
    """Declare the ticket, activity and timeline endpoints."""
    tag = "crm-work"
    for path, noun, handlers, models, spec in (
        (
            "/api/tickets",
            "ticket",
            (list_tickets, create_ticket, get_ticket, patch_ticket),
            (TicketIn, TicketPatchIn, TicketOut),
            TICKET_LIST,
        ),
        (
            "/api/activities",
            "activity",
            (list_activities, create_activity, get_activity, patch_activity),
            (ActivityIn, ActivityPatchIn, ActivityOut),
            ACTIVITY_LIST,
        ),
    ):
        list_h, create_h, get_h, patch_h = handlers
        body_in, patch_in, out = models
        one = rf"{path}/{{{noun}_id:\d+}}"
        plural = "activities" if noun == "activity" else f"{noun}s"
        api.route(
            "GET",
            path,
            summary=f"List {plural} I may see",
            tag=tag,
            permission=CRM_READ,
            response=out,
            list_spec=spec,
            errors=(400, 401, 403),
        )(list_h)
        api.route(
            "POST",
            path,
            summary=f"Create a {noun}",
            tag=tag,
            permission=CRM_WRITE,
            body=body_in,
            response=out,
            status=201,
            audited=True,
            errors=(400, 401, 403, 415),
        )(create_h)
        api.route(
            "GET",
            one,
            summary=f"Get a {noun}",
            tag=tag,
            permission=CRM_READ,
            response=out,
            errors=(401, 403, 404),
        )(get_h)
        api.route(
            "PATCH",
            one,
            summary=f"Change a {noun}",
            tag=tag,
            permission=CRM_WRITE,
            body=patch_in,
            response=out,
            audited=True,
            errors=(400, 401, 403, 404, 415),
        )(patch_h)
    for path, handler, noun in (
        (r"/api/companies/{company_id:\d+}/timeline", company_timeline, "company"),
        (r"/api/persons/{person_id:\d+}/timeline", person_timeline, "person"),
    ):
        api.route(
            "GET",
            path,
            summary=f"A {noun}'s history, newest first (?limit=, ?offset=)",
            tag=tag,
            permission=CRM_READ,
            response=TimelineOut,
            errors=(400, 401, 403, 404),
            extra_query={"limit": "1-200, default 50", "offset": "0-10000"},
        )(handler)
