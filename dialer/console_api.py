"""HTTP API of the agent console: disposition codes, dispositions, callbacks, call actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from crm_core.crm.params import query_params
from crm_core.crm.people_schemas import CelebrationOut
from crm_core.crm.work_schemas import ActivityOut, TicketOut
from crm_core.errors import InvalidInput
from crm_core.httpapi import ApiRegistry, audit_context, json_ok, path_int, principal, read_body
from crm_core.users.permissions import Principal
from dialer.callbacks import CALLBACKS_USE, UNSET, CallbackRequest, CallbackService
from dialer.console import ConsoleService
from dialer.console_models import CallbackStatus
from dialer.console_schemas import (
    CallActivityIn,
    CallbackIn,
    CallbackOut,
    CallbacksOut,
    CallContactIn,
    CallContactOut,
    CallTicketIn,
    DispositionCodeIn,
    DispositionCodeOut,
    DispositionCodePatchIn,
    DispositionCodesOut,
    DispositionIn,
    DispositionOut,
    TodayOut,
)
from dialer.dispositions import DISPOSITIONS_MANAGE, DispositionService
from dialer.wrapup import CALLS_WRAPUP

__all__ = ["CONSOLE", "ConsoleServices", "register"]

CALL_PATH = r"/api/calls/{call_id:[0-9]+\.[0-9]+}"
MAX_LIMIT = 200


@dataclass(frozen=True)
class ConsoleServices:
    """The console's use cases, built once by the web wiring."""

    console: ConsoleService
    dispositions: DispositionService
    callbacks: CallbackService


CONSOLE = web.AppKey("console", ConsoleServices)


def _services(request: web.Request) -> ConsoleServices:
    return request.app[CONSOLE]


def _int(raw: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidInput(
            f"query parameter {name!r} must be a whole number from {lo} to {hi}",
            details={"parameter": name},
        )
    return int(raw)


def _bool(raw: str | None, name: str) -> bool:
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise InvalidInput(
            f"query parameter {name!r} must be true or false", details={"parameter": name}
        )
    return raw == "true"


# -- disposition codes -------------------------------------------------------------------------


async def list_dispositions(request: web.Request) -> web.Response:
    """The effective disposition codes: global ones plus the campaign's."""
    params = query_params(request, ("campaign_id", "include_inactive"))
    campaign = params.get("campaign_id")
    campaign_id = _int(campaign, "campaign_id", 0, 1, 2**31 - 1) if campaign else None
    inactive = _bool(params.get("include_inactive"), "include_inactive")
    if inactive:
        principal(request).require(DISPOSITIONS_MANAGE)
    rows = await _services(request).dispositions.effective(campaign_id, include_inactive=inactive)
    return json_ok(DispositionCodesOut(items=[DispositionCodeOut.model_validate(r) for r in rows]))


async def create_disposition(request: web.Request) -> web.Response:
    """Add a disposition code (global or of a campaign)."""
    body = await read_body(request, DispositionCodeIn)
    row = await _services(request).dispositions.create_code(
        principal(request), body.model_dump(), audit_context(request)
    )
    return json_ok(DispositionCodeOut.model_validate(row), status=201)


async def patch_disposition(request: web.Request) -> web.Response:
    """Change a disposition code."""
    body = await read_body(request, DispositionCodePatchIn)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key}: may not be null", details={"field": key})
    row = await _services(request).dispositions.update_code(
        principal(request), path_int(request, "code_id"), changes, audit_context(request)
    )
    return json_ok(DispositionCodeOut.model_validate(row))


# -- calls -------------------------------------------------------------------------------------


async def dispose_call(request: web.Request) -> web.Response:
    """Save the disposition of a call (and a callback with it)."""
    body = await read_body(request, DispositionIn)
    callback = None
    if body.callback is not None:
        callback = body.callback.model_dump(exclude_unset=True)
        callback.setdefault("notes", "")
    result, cb = await _services(request).console.dispose(
        principal(request),
        request.match_info["call_id"],
        code=body.code,
        notes=body.notes,
        campaign_id=body.campaign_id,
        callback=callback,
        ctx=audit_context(request),
    )
    return json_ok(
        DispositionOut.of(
            result.wrapup,
            result.code,
            replaced=result.replaced,
            on_record=result.on_record,
            callback=cb,
        ),
        status=201,
    )


async def link_call_contact(request: web.Request) -> web.Response:
    """Link the call to one of its candidate contacts."""
    body = await read_body(request, CallContactIn)
    kind = "person" if body.person_id is not None else "company"
    contact_id = body.person_id if body.person_id is not None else body.company_id
    assert contact_id is not None
    call_id = request.match_info["call_id"]
    result = await _services(request).console.link_contact(
        principal(request), call_id, kind, contact_id, audit_context(request)
    )
    return json_ok(
        CallContactOut(
            call_id=call_id,
            kind="person" if result.kind == "person" else "company",
            id=result.id,
            name=result.name,
            on_record=result.on_record,
            consoles_told=result.told,
        )
    )


async def call_ticket(request: web.Request) -> web.Response:
    """Open a ticket from the call for its contact."""
    body = await read_body(request, CallTicketIn)
    ticket = await _services(request).console.ticket(
        principal(request),
        request.match_info["call_id"],
        body.model_dump(),
        audit_context(request),
    )
    return json_ok(TicketOut.of(ticket), status=201)


async def call_activity(request: web.Request) -> web.Response:
    """Plan a follow-up activity of the call."""
    body = await read_body(request, CallActivityIn)
    activity = await _services(request).console.activity(
        principal(request),
        request.match_info["call_id"],
        body.model_dump(),
        audit_context(request),
    )
    return json_ok(ActivityOut.of(activity), status=201)


# -- callbacks ---------------------------------------------------------------------------------


async def create_callback(request: web.Request) -> web.Response:
    """Schedule a callback."""
    body = await read_body(request, CallbackIn)
    req = CallbackRequest(
        due_local=datetime.strptime(body.due_local, "%Y-%m-%dT%H:%M"),
        phone=body.phone,
        time_zone=body.time_zone,
        person_id=body.person_id,
        company_id=body.company_id,
        call_id=body.call_id,
        campaign_id=body.campaign_id,
        assigned_user_id=(
            body.assigned_user_id if "assigned_user_id" in body.model_fields_set else UNSET
        ),
        notes=body.notes,
    )
    row = await _services(request).callbacks.create(principal(request), req, audit_context(request))
    return json_ok(CallbackOut.of(row), status=201)


async def _today_bounds(request: web.Request, p: Principal) -> tuple[datetime, datetime]:
    _day, _zone, bounds = await _services(request).console.my_day(p)
    return bounds


async def list_callbacks(request: web.Request) -> web.Response:
    """Callbacks I may see (mine, my team's; supervisors their teams'), soonest first."""
    params = query_params(request, ("mine", "due", "status", "limit", "offset"))
    p = principal(request)
    status = params.get("status")
    if status is not None and status not in {s.value for s in CallbackStatus}:
        raise InvalidInput(
            "query parameter 'status' must be scheduled, done or cancelled",
            details={"parameter": "status"},
        )
    due = params.get("due")
    if due not in (None, "today"):
        raise InvalidInput("query parameter 'due' must be today", details={"parameter": "due"})
    day = await _today_bounds(request, p) if due == "today" else None
    limit = _int(params.get("limit"), "limit", 50, 1, MAX_LIMIT)
    offset = _int(params.get("offset"), "offset", 0, 0, 100_000)
    rows, total = await _services(request).callbacks.list_visible(
        p,
        mine=_bool(params.get("mine"), "mine"),
        status=status,
        day=day,
        limit=limit,
        offset=offset,
    )
    return json_ok(
        CallbacksOut(
            items=[CallbackOut.of(r) for r in rows], total=total, limit=limit, offset=offset
        )
    )


async def callback_done(request: web.Request) -> web.Response:
    """Mark a callback done."""
    row = await _services(request).callbacks.close(
        principal(request),
        path_int(request, "callback_id"),
        CallbackStatus.DONE,
        audit_context(request),
    )
    return json_ok(CallbackOut.of(row))


async def callback_cancel(request: web.Request) -> web.Response:
    """Cancel a callback."""
    row = await _services(request).callbacks.close(
        principal(request),
        path_int(request, "callback_id"),
        CallbackStatus.CANCELLED,
        audit_context(request),
    )
    return json_ok(CallbackOut.of(row))


# -- my day ------------------------------------------------------------------------------------


async def my_today(request: web.Request) -> web.Response:
    """My callbacks and tasks due today, and today's celebrations in my scope."""
    today = await _services(request).console.today(principal(request))
    return json_ok(
        TodayOut(
            day=today.day,
            time_zone=today.time_zone,
            callbacks=[CallbackOut.of(c) for c in today.callbacks],
            tasks=[ActivityOut.of(a) for a in today.tasks],
            celebrations=[
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
                for e in today.celebrations
            ],
        )
    )


def register(api: ApiRegistry) -> None:
    """Declare the console's endpoints."""
    tag = "console"
    api.route(
        "GET",
        "/api/dispositions",
        summary="Disposition codes in effect (global plus a campaign's)",
        tag=tag,
        permission=CALLS_WRAPUP,
        response=DispositionCodesOut,
        errors=(400, 401, 403),
        extra_query={
            "campaign_id": "the campaign whose own codes are added (integer)",
            "include_inactive": "true to list deactivated codes too (managers)",
        },
    )(list_dispositions)
    api.route(
        "POST",
        "/api/dispositions",
        summary="Add a disposition code",
        tag=tag,
        permission=DISPOSITIONS_MANAGE,
        body=DispositionCodeIn,
        response=DispositionCodeOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415),
    )(create_disposition)
    api.route(
        "PATCH",
        r"/api/dispositions/{code_id:\d+}",
        summary="Change a disposition code",
        tag=tag,
        permission=DISPOSITIONS_MANAGE,
        body=DispositionCodePatchIn,
        response=DispositionCodeOut,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(patch_disposition)
    api.route(
        "POST",
        CALL_PATH + "/disposition",
        summary="Disposition a call (replaces a previous one); a callback may come with it",
        tag=tag,
        permission=CALLS_WRAPUP,
        body=DispositionIn,
        response=DispositionOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(dispose_call)
    api.route(
        "POST",
        CALL_PATH + "/contact",
        summary="Link a call to one of its candidate contacts",
        tag=tag,
        permission=CALLS_WRAPUP,
        body=CallContactIn,
        response=CallContactOut,
        audited=True,
        errors=(400, 401, 403, 404, 415),
    )(link_call_contact)
    api.route(
        "POST",
        CALL_PATH + "/ticket",
        summary="Open a ticket from a call for its contact",
        tag=tag,
        permission=CALLS_WRAPUP,
        body=CallTicketIn,
        response=TicketOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(call_ticket)
    api.route(
        "POST",
        CALL_PATH + "/activity",
        summary="Plan a follow-up activity of a call",
        tag=tag,
        permission=CALLS_WRAPUP,
        body=CallActivityIn,
        response=ActivityOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(call_activity)
    api.route(
        "POST",
        "/api/callbacks",
        summary="Schedule a callback at a local time of the contact",
        tag=tag,
        permission=CALLBACKS_USE,
        body=CallbackIn,
        response=CallbackOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 415),
    )(create_callback)
    api.route(
        "GET",
        "/api/callbacks",
        summary="Callbacks I may see, soonest first",
        tag=tag,
        permission=CALLBACKS_USE,
        response=CallbacksOut,
        errors=(400, 401, 403),
        extra_query={
            "mine": "true: only those assigned to me",
            "due": "today: due today in my time zone",
            "status": "scheduled, done or cancelled",
            "limit": "page size (1-200, default 50)",
            "offset": "rows to skip",
        },
    )(list_callbacks)
    api.route(
        "POST",
        r"/api/callbacks/{callback_id:\d+}/done",
        summary="Mark a callback done",
        tag=tag,
        permission=CALLBACKS_USE,
        response=CallbackOut,
        audited=True,
        errors=(401, 403, 404, 409),
    )(callback_done)
    api.route(
        "POST",
        r"/api/callbacks/{callback_id:\d+}/cancel",
        summary="Cancel a callback",
        tag=tag,
        permission=CALLBACKS_USE,
        response=CallbackOut,
        audited=True,
        errors=(401, 403, 404, 409),
    )(callback_cancel)
    api.route(
        "GET",
        "/api/me/today",
        summary="My callbacks and tasks due today, today's celebrations",
        tag=tag,
        response=TodayOut,
        errors=(401,),
    )(my_today)
