"""HTTP API of telephony: call history, calls in progress, live agents and queues."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Select, or_, select

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.db import session_scope
from crm_core.errors import InvalidInput, NotFound
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
from crm_core.listing import FilterSpec, ListSpec, paginate
from crm_core.users.audit import record_audit
from crm_core.users.models import Role, TeamMember, User
from crm_core.users.permissions import Permission, PolicyRegistry, Principal, grant
from telephony.agent_control import AgentControl
from telephony.call_control import CallControl
from telephony.models import CallDirection, CallOutcome
from telephony.records import CallRecordRow
from telephony.runtime import PbxRuntime
from telephony.schemas import (
    ActiveCallOut,
    ActiveCallsOut,
    AgentOut,
    AgentsOut,
    AgentStateIn,
    AgentStateOut,
    AgentStateResultOut,
    CallActionOut,
    CallOut,
    PhoneIn,
    PhoneOut,
    QueueOut,
    QueuesOut,
    RecordingIn,
    SpyIn,
    SpyOut,
    TransferIn,
    TransferOut,
)
from telephony.store import agent_user_id

__all__ = [
    "CALLS_READ",
    "CALLS_SPY",
    "RUNTIMES",
    "CallRecordPolicy",
    "register",
    "register_policies",
]

RUNTIMES = web.AppKey("pbx_runtimes", dict[str, PbxRuntime])

CALLS_READ = Permission.define("calls.read", "see call history (agents: their own calls)")
AGENTS_READ = Permission.define("agents.read", "see every agent's live state")
QUEUES_READ = Permission.define("queues.read", "see live queue state")
AGENTS_MANAGE = Permission.define("agents.manage", "map agents to phones and queues")
AGENT_SELF = Permission.define("agent.self", "log oneself in and out of queues, pause, ready")
AGENTS_CONTROL = Permission.define("agents.control", "pause, ready or log out the team's agents")
CALLS_SPY = Permission.define("calls.spy", "listen to, whisper to or barge into calls in progress")
grant(Role.ADMIN, CALLS_READ, AGENTS_READ, QUEUES_READ, AGENTS_MANAGE, AGENTS_CONTROL, CALLS_SPY)
grant(Role.SUPERVISOR, CALLS_READ, AGENTS_READ, QUEUES_READ, AGENTS_CONTROL, CALLS_SPY)
# Agents see their colleagues' live state: their own status, and whom they can transfer to.
grant(Role.AGENT, CALLS_READ, AGENTS_READ, QUEUES_READ, AGENT_SELF)
grant(Role.CAMPAIGN_MANAGER, CALLS_READ)

CALL_LIST = ListSpec(
    sortable={
        "started_at": CallRecordRow.started_at,
        "total_s": CallRecordRow.total_s,
        "talk_s": CallRecordRow.talk_s,
        "id": CallRecordRow.id,
    },
    default_sort=("-started_at",),
    filters={
        "direction": FilterSpec(
            CallRecordRow.direction, "choice", ("eq", "in"), tuple(d.value for d in CallDirection)
        ),
        "outcome": FilterSpec(
            CallRecordRow.outcome, "choice", ("eq", "in"), tuple(o.value for o in CallOutcome)
        ),
        "agent_user_id": FilterSpec(CallRecordRow.agent_user_id, "int"),
        "person_id": FilterSpec(CallRecordRow.person_id, "int"),
        "company_id": FilterSpec(CallRecordRow.company_id, "int"),
        "queue": FilterSpec(CallRecordRow.queue, "str"),
        "pbx": FilterSpec(CallRecordRow.pbx, "str"),
        "started_at": FilterSpec(CallRecordRow.started_at, "datetime", ("gte", "lte")),
        "vanished": FilterSpec(CallRecordRow.vanished, "bool"),
    },
    search=(CallRecordRow.caller_id, CallRecordRow.called_number, CallRecordRow.customer_e164),
    tiebreak=CallRecordRow.id,
)


class CallRecordPolicy:
    """Admins see every call; supervisors their teams' and unanswered ones; agents their own."""

    def can(self, p: Principal, action: str, obj: CallRecordRow) -> bool:
        """Object-level rule for call records (read only: records are facts)."""
        if action != "read":
            return False
        if p.is_admin or obj.agent_user_id == p.user_id:
            return True
        return Role.SUPERVISOR in p.roles and obj.agent_user_id is None

    def scope(self, p: Principal, stmt: Select[Any]) -> Select[Any]:
        """List narrowing for call records."""
        if p.is_admin:
            return stmt
        conds: list[Any] = [CallRecordRow.agent_user_id == p.user_id]
        if Role.SUPERVISOR in p.roles:
            conds.append(CallRecordRow.agent_user_id.is_(None))
            if p.supervised_team_ids:
                conds.append(
                    CallRecordRow.agent_user_id.in_(
                        select(TeamMember.user_id).where(
                            TeamMember.team_id.in_(p.supervised_team_ids)
                        )
                    )
                )
        return stmt.where(or_(*conds))


async def list_calls(request: web.Request) -> web.Response:
    """Call history, newest first, limited to what the caller may see."""
    query = list_query(request, CALL_LIST)
    policies = request.app[POLICIES]
    stmt = policies.scope(principal(request), CallRecordRow, select(CallRecordRow))
    async with request.app[SESSIONS]() as db:
        page = await paginate(db, stmt, query, CALL_LIST)
    return page_json(page, CallOut.model_validate)


async def get_call(request: web.Request) -> web.Response:
    """One finished call."""
    async with request.app[SESSIONS]() as db:
        row = await db.get(CallRecordRow, path_int(request, "call_pk"))
    if row is None:
        raise NotFound("call not found")
    request.app[POLICIES].authorize(principal(request), "read", row)
    return json_ok(CallOut.model_validate(row))


async def active_calls(request: web.Request) -> web.Response:
    """Calls in progress on every PBX (agents: their own)."""
    p = principal(request)
    see_all = p.is_admin or Role.SUPERVISOR in p.roles
    items: list[ActiveCallOut] = []
    for runtime in request.app[RUNTIMES].values():
        for call in runtime.snapshot().calls:
            uid = agent_user_id(call.agent_id)
            if not see_all and uid != p.user_id:
                continue
            items.append(
                ActiveCallOut(
                    pbx=call.pbx,
                    call_id=call.call_id,
                    direction=call.direction.value,
                    state=call.state.value,
                    started_at=call.started_at,
                    answered_at=call.answered_at,
                    agent_user_id=uid,
                    caller_id=call.caller_id,
                    called_number=call.called_number,
                    queue=call.queue,
                    crm_call_id=call.crm_call_id,
                )
            )
    items.sort(key=lambda c: c.started_at)
    return json_ok(ActiveCallsOut(items=items))


async def list_agents(request: web.Request) -> web.Response:
    """Every agent the PBXes know, with live state and the platform user."""
    agents = [a for rt in request.app[RUNTIMES].values() for a in rt.snapshot().agents]
    ids = {uid for a in agents if (uid := agent_user_id(a.agent_id)) is not None}
    users: dict[int, User] = {}
    if ids:
        async with request.app[SESSIONS]() as db:
            users = {u.id: u for u in await db.scalars(select(User).where(User.id.in_(ids)))}
    items = []
    for a in agents:
        uid = agent_user_id(a.agent_id)
        user = users.get(uid) if uid is not None else None
        items.append(
            AgentOut(
                pbx=a.pbx,
                user_id=uid,
                username=user.username if user else None,
                display_name=user.display_name if user else None,
                state=a.state.value,
                reason=a.reason,
                call_id=a.call_id,
                queues=list(a.queues),
                since=a.since,
            )
        )
    items.sort(key=lambda a: (a.pbx, a.username or "", a.user_id or 0))
    return json_ok(AgentsOut(items=items))


async def list_queues(request: web.Request) -> web.Response:
    """Live queue state, asked of each connected PBX."""
    items: list[QueueOut] = []
    unavailable: list[str] = []
    for name, runtime in sorted(request.app[RUNTIMES].items()):
        try:
            queues = await runtime.queues()
        except Exception:  # a PBX that is down must not hide the others
            unavailable.append(name)
            continue
        items.extend(QueueOut(pbx=name, **q) for q in queues)
    return json_ok(QueuesOut(items=items, unavailable=unavailable))


async def put_agent_phone(request: web.Request) -> web.Response:
    """Set the phone interface of an agent on a PBX; the running tracker uses it at once."""
    body = await read_body(request, PhoneIn)
    p = principal(request)
    user_id = path_int(request, "user_id")
    runtimes: dict[str, PbxRuntime] = request.app[RUNTIMES]
    runtime = runtimes.get(body.pbx)
    if runtime is None:
        raise InvalidInput(
            f"unknown PBX {body.pbx!r}; configured: {', '.join(sorted(runtimes)) or 'none'}",
            details={"field": "pbx"},
        )
    async with request.app[SESSIONS]() as db:
        user = await db.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    if not user.role_set & {Role.AGENT, Role.SUPERVISOR}:
        raise InvalidInput(
            "only agents and supervisors (to listen in) have a phone", details={"field": "user"}
        )
    row = await runtime.store.assign_phone(user_id, body.pbx, body.interface, tuple(body.queues))
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action="agent.phone",
            principal=p,
            object_type="user",
            object_id=str(user_id),
            details={"pbx": body.pbx, "interface": body.interface},
        )
    await runtime.reload_agents()
    return json_ok(PhoneOut.model_validate(row))


async def _control(request: web.Request, user_id: int) -> web.Response:
    body = await read_body(request, AgentStateIn)
    control = AgentControl(request.app[SESSIONS], request.app[RUNTIMES])
    results = await control.apply(user_id, body.action, body.reason)
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action=f"agent.{body.action.value}",
            principal=principal(request),
            object_type="user",
            object_id=str(user_id),
            details={"reason": body.reason},
        )
    return json_ok(
        AgentStateOut(
            results=[
                AgentStateResultOut(
                    pbx=r.pbx, interface=r.interface, queues=list(r.queues), action=r.action.value
                )
                for r in results
            ]
        )
    )


async def set_my_state(request: web.Request) -> web.Response:
    """The signed-in agent logs in, gets ready, pauses or logs out."""
    return await _control(request, principal(request).user_id)


async def set_agent_state(request: web.Request) -> web.Response:
    """A supervisor (of the agent's team) or an administrator changes an agent's state."""
    p = principal(request)
    user_id = path_int(request, "user_id")
    async with request.app[SESSIONS]() as db:
        user = await db.get(User, user_id)
    if user is None or not (p.is_admin or user.team_ids & p.supervised_team_ids):
        raise NotFound("agent not found")
    return await _control(request, user_id)


def _call_control(request: web.Request) -> CallControl:
    return CallControl(request.app[RUNTIMES], control_any=principal(request).has(AGENTS_CONTROL))


async def hangup_call(request: web.Request) -> web.Response:
    """Hang up a call in progress (my own; supervisors: any)."""
    call_id = request.match_info["call_id"]
    channel = await _call_control(request).hangup(principal(request), call_id)
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action="call.hangup",
            principal=principal(request),
            object_type="call",
            object_id=call_id,
        )
    return json_ok(CallActionOut(call_id=call_id, action="hangup", channel=channel))


async def record_call(request: web.Request) -> web.Response:
    """Start or stop recording a call in progress (e.g. stop during payment capture)."""
    body = await read_body(request, RecordingIn)
    call_id = request.match_info["call_id"]
    channel = await _call_control(request).recording(principal(request), call_id, body.action)
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action=f"call.recording_{body.action}",
            principal=principal(request),
            object_type="call",
            object_id=call_id,
        )
    return json_ok(
        CallActionOut(call_id=call_id, action=f"recording_{body.action}", channel=channel)
    )


async def transfer_call(request: web.Request) -> web.Response:
    """Transfer a call in progress to a queue, an agent or a number (blind or attended)."""
    body = await read_body(request, TransferIn)
    call_id = request.match_info["call_id"]
    p = principal(request)
    done = await _call_control(request).transfer(
        p, call_id, body.target_type, body.target, body.mode
    )
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action="call.transfer",
            principal=p,
            object_type="call",
            object_id=call_id,
            details={"mode": body.mode, "target_type": body.target_type, "target": body.target},
        )
    out = TransferOut(
        call_id=call_id,
        status="transferring",
        mode=body.mode,
        target_type=body.target_type,
        target=body.target,
        channel=done.channel,
    )
    return json_ok(out, status=202)


async def spy_call(request: web.Request) -> web.Response:
    """Listen to, whisper to or barge into a call in progress (supervisors)."""
    body = await read_body(request, SpyIn)
    call_id = request.match_info["call_id"]
    p = principal(request)
    control = CallControl(request.app[RUNTIMES], control_any=True)
    phone, spied = await control.spy(p, call_id, body.mode)
    async with session_scope(request.app[SESSIONS]) as db:
        await record_audit(
            db,
            audit_context(request),
            action=f"call.spy_{body.mode}",
            principal=p,
            object_type="call",
            object_id=call_id,
            details={"phone": phone},
        )
    out = SpyOut(call_id=call_id, status="spying", mode=body.mode, phone=phone, spied_channel=spied)
    return json_ok(out, status=202)


def register_policies(policies: PolicyRegistry) -> None:
    """Object-level rules of telephony records."""
    policies.register(CallRecordRow, CallRecordPolicy())


def register(api: ApiRegistry) -> None:
    """Declare telephony's endpoints."""
    tag = "telephony"
    api.route(
        "GET",
        "/api/calls",
        summary="Call history",
        tag=tag,
        permission=CALLS_READ,
        response=CallOut,
        list_spec=CALL_LIST,
        errors=(400, 401, 403),
    )(list_calls)
    api.route(
        "GET",
        "/api/calls/active",
        summary="Calls in progress",
        tag=tag,
        permission=CALLS_READ,
        response=ActiveCallsOut,
        errors=(401, 403),
    )(active_calls)
    api.route(
        "GET",
        r"/api/calls/{call_pk:\d+}",
        summary="One finished call",
        tag=tag,
        permission=CALLS_READ,
        response=CallOut,
        errors=(401, 403, 404),
    )(get_call)
    api.route(
        "GET",
        "/api/agents",
        summary="Live agent states",
        tag=tag,
        permission=AGENTS_READ,
        response=AgentsOut,
        errors=(401, 403),
    )(list_agents)
    api.route(
        "PUT",
        r"/api/agents/{user_id:\d+}/phone",
        summary="Set an agent's phone",
        tag=tag,
        permission=AGENTS_MANAGE,
        body=PhoneIn,
        response=PhoneOut,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(put_agent_phone)
    api.route(
        "POST",
        "/api/agents/me/state",
        summary="Log in, ready, pause or log out (myself)",
        tag=tag,
        permission=AGENT_SELF,
        body=AgentStateIn,
        response=AgentStateOut,
        audited=True,
        errors=(400, 401, 403, 404, 415, 503),
    )(set_my_state)
    api.route(
        "POST",
        r"/api/agents/{user_id:\d+}/state",
        summary="Log in, ready, pause or log out an agent (supervisor)",
        tag=tag,
        permission=AGENTS_CONTROL,
        body=AgentStateIn,
        response=AgentStateOut,
        audited=True,
        errors=(400, 401, 403, 404, 415, 503),
    )(set_agent_state)
    api.route(
        "POST",
        r"/api/calls/active/{call_id:[0-9]+\.[0-9]+}/hangup",
        summary="Hang up a call in progress",
        tag=tag,
        permission=CALLS_READ,
        response=CallActionOut,
        audited=True,
        errors=(401, 403, 404, 409, 503),
    )(hangup_call)
    api.route(
        "POST",
        r"/api/calls/active/{call_id:[0-9]+\.[0-9]+}/recording",
        summary="Start or stop recording a call",
        tag=tag,
        permission=CALLS_READ,
        body=RecordingIn,
        response=CallActionOut,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415, 503),
    )(record_call)
    api.route(
        "POST",
        r"/api/calls/active/{call_id:[0-9]+\.[0-9]+}/transfer",
        summary="Transfer a call in progress (blind or attended)",
        tag=tag,
        permission=CALLS_READ,
        body=TransferIn,
        response=TransferOut,
        status=202,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415, 503),
    )(transfer_call)
    api.route(
        "POST",
        r"/api/calls/active/{call_id:[0-9]+\.[0-9]+}/spy",
        summary="Listen to, whisper to or barge into a call",
        tag=tag,
        permission=CALLS_SPY,
        body=SpyIn,
        response=SpyOut,
        status=202,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415, 503),
    )(spy_call)
    api.route(
        "GET",
        "/api/queues",
        summary="Live queue state",
        tag=tag,
        permission=QUEUES_READ,
        response=QueuesOut,
        errors=(401, 403),
    )(list_queues)
