"""A call as the console acts on it: who may, which contact it concerns, and the copy of the
console's wrap-up (disposition, chosen contact, ticket) onto the stored call record and activity.

The console may act on a call while it is up, just after it ended (before or after the runtime
stored it) or much later. Everything the agent says is first written to ``call_wrapups``; it is
copied onto ``call_records`` and the call activity in the same transaction when the record exists,
else when it appears (the ``CallEnded`` follower, and a periodic sweep of pending wrap-ups that
survives restarts). Copying sets values, so doing it twice changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from crm_core.bus.ports import EventBus
from crm_core.crm.repository import driver_statement
from crm_core.crm.work_models import Activity, ActivityParticipant, ActivityStatus, ActivityType
from crm_core.db import hot_read, session_scope
from crm_core.errors import NotFound
from crm_core.users.models import Role, TeamMember
from crm_core.users.permissions import Permission, Principal, grant
from dialer.console_models import CallWrapup
from dialer.console_ports import LiveCalls
from dialer.events import CallWrappedUp
from telephony.records import CallRecordRow

__all__ = [
    "CALLS_WRAPUP",
    "CallAccess",
    "CallRef",
    "apply_pending",
    "apply_wrapup",
    "call_activity",
]

log = logging.getLogger(__name__)

CALLS_WRAPUP = Permission.define(
    "calls.wrapup",
    "disposition one's calls, link them to a contact, open tickets and follow-ups from them",
)
grant(Role.AGENT, CALLS_WRAPUP)
grant(Role.SUPERVISOR, CALLS_WRAPUP)
grant(Role.ADMIN, CALLS_WRAPUP)


@dataclass(frozen=True)
class CallRef:
    """A call the caller may act on."""

    call_id: str
    pbx: str | None
    agent_user_id: int | None
    live: bool
    record_id: int | None
    # The call's contact: the one linked by the console, else the stored record's, else the pop's.
    contact: tuple[str, int] | None


async def _supervises(db: AsyncSession, principal: Principal, agents: set[int]) -> bool:
    if not principal.supervised_team_ids:
        return False
    found = await db.scalar(
        select(TeamMember.user_id)
        .where(
            TeamMember.user_id.in_(agents),
            TeamMember.team_id.in_(principal.supervised_team_ids),
        )
        .limit(1)
    )
    return found is not None


class CallAccess:
    """Finds a call by its ``call_id`` and decides whether the caller may act on it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], live: LiveCalls) -> None:
        self._sessions = sessions
        self._live = live

    async def find(self, db: AsyncSession, principal: Principal, call_id: str) -> CallRef:
        """The call, when it exists and the caller may act on it; NotFound otherwise.

        Agents act on the calls they took (live or stored); supervisors on their teams' calls
        and calls no agent took; administrators on any.
        """
        live = self._live.find(call_id)
        record = await db.scalar(
            select(CallRecordRow)
            .where(CallRecordRow.call_id == call_id)
            .order_by(CallRecordRow.id)
            .limit(1)
        )
        if live is None and record is None:
            raise NotFound(f"no call {call_id[:64]} that you may act on")
        agents: set[int] = set(live.agent_user_ids) if live is not None else set()
        if record is not None and record.agent_user_id is not None:
            agents.add(record.agent_user_id)
        allowed = (
            principal.is_admin
            or principal.user_id in agents
            or (
                Role.SUPERVISOR in principal.roles
                and (not agents or await _supervises(db, principal, agents))
            )
        )
        if not allowed:
            raise NotFound(f"no call {call_id[:64]} that you may act on")
        wrapup = await db.scalar(select(CallWrapup).where(CallWrapup.call_id == call_id))
        contact: tuple[str, int] | None = None
        if wrapup is not None and wrapup.person_id is not None:
            contact = ("person", wrapup.person_id)
        elif wrapup is not None and wrapup.company_id is not None:
            contact = ("company", wrapup.company_id)
        elif record is not None and record.person_id is not None:
            contact = ("person", record.person_id)
        elif record is not None and record.company_id is not None:
            contact = ("company", record.company_id)
        elif live is not None:
            contact = live.pop_contacts.get(principal.user_id) or next(
                iter(live.pop_contacts.values()), None
            )
        agent = record.agent_user_id if record is not None else None
        if agent is None and live is not None and live.agent_user_ids:
            agent = (
                principal.user_id
                if principal.user_id in live.agent_user_ids
                else min(live.agent_user_ids)
            )
        return CallRef(
            call_id=call_id,
            pbx=record.pbx if record is not None else (live.pbx if live is not None else None),
            agent_user_id=agent,
            live=live is not None,
            record_id=record.id if record is not None else None,
            contact=contact,
        )


async def wrapup_for(db: AsyncSession, call: CallRef) -> CallWrapup:
    """The call's wrap-up row, created when missing (one per call: the unique key decides)."""
    # Locked: two changes of one call's wrap-up (a double click) apply one after the other.
    row = await db.scalar(
        select(CallWrapup).where(CallWrapup.call_id == call.call_id).with_for_update()
    )
    if row is None:
        row = CallWrapup(
            call_id=call.call_id, pbx=call.pbx, agent_user_id=call.agent_user_id, version=0
        )
        db.add(row)
    return row


def touch(row: CallWrapup) -> None:
    """Mark a change that must still reach the call record and activity."""
    row.version = (row.version or 0) + 1
    row.pending = True


async def call_activity(
    db: AsyncSession, call_id: str, record: CallRecordRow | None = None
) -> Activity | None:
    """The activity that stands for the call itself in the contact's timeline."""
    stmt = select(Activity).where(
        Activity.type == ActivityType.CALL.value,
        Activity.call_id == call_id,
        Activity.parent_id.is_(None),
    )
    if record is not None:
        stmt = stmt.where(Activity.starts_at == record.started_at)
    return await db.scalar(stmt.order_by(Activity.id).limit(1))


def _new_call_activity(record: CallRecordRow) -> Activity:
    subject = f"{record.direction.capitalize()} call"
    if record.queue:
        subject += f" via {record.queue}"
    activity = Activity(
        type=ActivityType.CALL.value,
        subject=f"{subject}: {record.outcome}"[:200],
        starts_at=record.started_at,
        ends_at=record.ended_at,
        duration_seconds=round(record.talk_s),
        status=ActivityStatus.DONE.value,
        responsible_user_id=record.agent_user_id,
        call_id=record.call_id,
        outcome=record.outcome,
        participants=[],
    )
    if record.agent_user_id is not None:
        activity.participants.append(ActivityParticipant(user_id=record.agent_user_id))
    return activity


async def apply_wrapup(db: AsyncSession, row: CallWrapup) -> CallWrappedUp | None:
    """Copy the wrap-up onto the stored call and its activity; the event to publish after the
    commit, or None while the call is not stored yet."""
    stmt = select(CallRecordRow).where(CallRecordRow.call_id == row.call_id)
    if row.pbx is not None:
        stmt = stmt.where(CallRecordRow.pbx == row.pbx)
    record = await db.scalar(stmt.order_by(CallRecordRow.id).limit(1))
    if record is None:
        return None
    version = row.version
    linked = row.person_id is not None or row.company_id is not None
    if linked:
        record.person_id = row.person_id
        record.company_id = row.company_id
    if row.code is not None:
        record.disposition_code = row.code
        record.disposition_notes = row.notes
        record.disposition_user_id = row.disposition_user_id
        record.disposition_at = row.disposition_at
    activity = await call_activity(db, row.call_id, record)
    if activity is None and (record.person_id is not None or record.company_id is not None):
        activity = _new_call_activity(record)
        db.add(activity)
        linked = True
    if activity is not None:
        if linked:
            keep = [p for p in activity.participants if p.user_id is not None]
            contact = (
                ActivityParticipant(person_id=record.person_id)
                if record.person_id is not None
                else ActivityParticipant(company_id=record.company_id)
            )
            activity.participants = [contact, *keep]
        if row.code is not None:
            activity.outcome = row.code
            activity.notes = row.notes
        if row.ticket_id is not None and activity.ticket_id is None:
            activity.ticket_id = row.ticket_id
        await db.flush()
        # Follow-ups created while the call was up had no call activity to hang from.
        await db.execute(
            update(Activity)
            .where(
                Activity.call_id == row.call_id,
                Activity.parent_id.is_(None),
                Activity.id != activity.id,
            )
            .values(parent_id=activity.id)
        )
    row.pbx = record.pbx
    row.applied_version = version
    row.pending = False
    log.debug("wrap-up of call %s copied onto record %s", row.call_id, record.id)
    return CallWrappedUp(
        call_id=row.call_id,
        pbx=record.pbx,
        disposition_code=record.disposition_code,
        person_id=record.person_id,
        company_id=record.company_id,
    )


_PENDING = select(CallWrapup.id).where(CallWrapup.pending.is_(True))
# A call's pending wrap-up (the CallEnded follower); every pending one whose call is stored.
_PENDING_OF_CALL = (
    _PENDING.where(CallWrapup.call_id == bindparam("call_id"))
    .order_by(CallWrapup.id)
    .limit(bindparam("limit"))
)
_PENDING_STORED = (
    _PENDING.where(
        select(CallRecordRow.id).where(CallRecordRow.call_id == CallWrapup.call_id).exists()
    )
    .order_by(CallWrapup.id)
    .limit(bindparam("limit"))
)


async def apply_pending(
    sessions: async_sessionmaker[AsyncSession],
    call_id: str | None = None,
    limit: int = 200,
    *,
    bus: EventBus | None = None,
) -> int:
    """Copy pending wrap-ups (of one call, or every call) whose record now exists.

    With ``bus``, a :class:`CallWrappedUp` follows each commit.
    """
    stmt = _PENDING_OF_CALL if call_id is not None else _PENDING_STORED
    params = {"call_id": call_id, "limit": limit}

    async def pending(conn: AsyncConnection) -> list[int]:
        sql, args = driver_statement(stmt, conn, params)
        return [wid for (wid,) in await conn.exec_driver_sql(sql, args)]

    # Runs for every finished call and mostly finds nothing: one round trip on the autocommit
    # pool, from a statement compiled once (building and compiling it per call cost 0.36 ms of
    # the event loop, ~30 times a second on a busy PBX); the copy itself locks the row in a
    # transaction of its own.
    ids = await hot_read(sessions, pending)
    done = 0
    for wid in ids:
        event: CallWrappedUp | None = None
        async with session_scope(sessions) as db:
            row = await db.get(CallWrapup, wid, with_for_update=True)
            if row is not None and row.pending:
                event = await apply_wrapup(db, row)
                done += event is not None
        if event is not None and bus is not None:
            await bus.publish(event)
    return done
