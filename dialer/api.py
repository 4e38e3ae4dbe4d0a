"""HTTP API of the dialer: click-to-dial."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.httpapi import ApiRegistry, audit_context, json_ok, principal, read_body
from dialer.clicktodial import CALLS_DIAL, ClickToDial
from telephony.api import RUNTIMES

__all__ = ["register"]


class DialIn(BaseModel):
    """Call ``to`` from my phone: my phone rings first, then the customer."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=64)
    contact_kind: Literal["person", "company"] | None = None
    contact_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class DialOut(BaseModel):
    """The call is under way; follow it by ``crm_call_id`` (pushes and /api/calls/active)."""

    crm_call_id: str
    pbx: str
    number: str
    dialled: str
    interface: str


async def dial(request: web.Request) -> web.Response:
    """Click-to-dial: ring my phone, then the number."""
    body = await read_body(request, DialIn)
    app = request.app
    settings = app[SETTINGS]
    service = ClickToDial(
        app[SESSIONS],
        app[POLICIES],
        app[RUNTIMES],
        {p.name: p for p in settings.pbx},
        region=settings.default_region,
    )
    result = await service.dial(
        principal(request),
        body.to,
        audit_context(request),
        contact_kind=body.contact_kind,
        contact_id=body.contact_id,
    )
    return json_ok(
        DialOut(
            crm_call_id=result.crm_call_id,
            pbx=result.pbx,
            number=result.number,
            dialled=result.dialled,
            interface=result.interface,
        ),
        status=201,
    )


def register(api: ApiRegistry) -> None:
    """Declare the dialer's endpoints."""
    api.route(
        "POST",
        "/api/calls",
        summary="Click-to-dial (agent first)",
        tag="dialer",
        permission=CALLS_DIAL,
        body=DialIn,
        response=DialOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415, 503),
    )(dial)
