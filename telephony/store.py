"""The call store: every finished call saved exactly once, matched to the CRM contact."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.models import Phone
from crm_core.crm.phones import try_normalise
from crm_core.crm.work_models import Activity, ActivityParticipant, ActivityStatus, ActivityType
from crm_core.db import session_scope
from crm_core.errors import Conflict
from telephony.events import CallEnded
from telephony.models import CallDirection
from telephony.records import AgentPhone, CallRecordRow

__all__ = ["CallStore", "agent_user_id"]

log = logging.getLogger(__name__)


def _insert(db: AsyncSession) -> Any:
    """The ``INSERT`` construct of the session's database (both have ``ON CONFLICT``)."""
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


def agent_user_id(agent_id: str | None) -> int | None:
    """The platform user behind a tracker agent id (agents are named by user id, see below)."""
    if agent_id is not None and agent_id.isdigit():
        return int(agent_id)
    return None


_SUBJECTS = {
    CallDirection.INBOUND: "Inbound call",
    CallDirection.OUTBOUND: "Outbound call",
    CallDirection.DIALER: "Dialer call",
    CallDirection.INTERNAL: "Internal call",
}


def _call_activity(event: CallEnded, person_id: int | None, company_id: int | None) -> Activity:
    """The call as a done activity of the contact (and of the agent who took it)."""
    participants = [
        ActivityParticipant(person_id=person_id)
        if person_id is not None
        else ActivityParticipant(company_id=company_id)
    ]
    agent = agent_user_id(event.agent_id)
    if agent is not None:
        participants.append(ActivityParticipant(user_id=agent))
    queue = f" via {event.queue}" if event.queue else ""
    return Activity(
        type=ActivityType.CALL.value,
        subject=f"{_SUBJECTS.get(event.direction, 'Call')}{queue}: {event.outcome.value}"[:200],
        starts_at=event.started_at,
        ends_at=event.ended_at,
        duration_seconds=round(event.talk_s),
        status=ActivityStatus.DONE.value,
        responsible_user_id=agent,
        call_id=event.call_id,
        outcome=event.outcome.value,
        participants=participants,
    )


class CallStore:
    """Saves CallEnded events as call records; idempotent by (PBX, Linkedid)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, region: str) -> None:
        self._sessions = sessions
        self._region = region

    def customer_number(self, event: CallEnded) -> str | None:
        """The customer's number in E.164: the caller inbound, the called party otherwise."""
        raw = event.caller_id if event.direction == CallDirection.INBOUND else event.called_number
        return try_normalise(raw, self._region) if raw else None

    async def _match(self, db: AsyncSession, e164: str | None) -> tuple[int | None, int | None]:
        if e164 is None:
            return None, None
        rows = (
            await db.execute(
                select(Phone.person_id, Phone.company_id).where(Phone.e164 == e164).limit(2)
            )
        ).all()
        if len(rows) != 1:  # unknown, or shared by several contacts: the agent links it later
            return None, None
        return rows[0].person_id, rows[0].company_id

    async def save(self, event: CallEnded) -> bool:
        """Store the finished call; False when it was stored before (a replay or a resync)."""
        e164 = self.customer_number(event)
        # Any other failure (database down, a constraint) reaches the runtime, which keeps the
        # call and retries: nothing is reported stored that is not.
        async with session_scope(self._sessions) as db:
            person_id, company_id = await self._match(db, e164)
            # Stored once per (PBX, Linkedid): an insert that meets the same call does
            # nothing and returns no id (a replay, a resync, or another process first).
            stored = await db.scalar(
                _insert(db)(CallRecordRow)
                .values(
                    pbx=event.pbx,
                    call_id=event.call_id,
                    crm_call_id=event.crm_call_id,
                    direction=event.direction.value,
                    outcome=event.outcome.value,
                    started_at=event.started_at,
                    answered_at=event.answered_at,
                    ended_at=event.ended_at,
                    agent_user_id=agent_user_id(event.agent_id),
                    caller_id=event.caller_id,
                    called_number=event.called_number,
                    customer_e164=e164,
                    person_id=person_id,
                    company_id=company_id,
                    queue=event.queue,
                    ring_s=event.ring_s,
                    wait_s=event.wait_s,
                    talk_s=event.talk_s,
                    hold_s=event.hold_s,
                    total_s=event.total_s,
                    hangup_cause=event.hangup_cause,
                    hangup_cause_text=event.hangup_cause_text[:100],
                    hangup_by=event.hangup_by.value,
                    dial_status=event.dial_status,
                    recording_file=event.recording_file,
                    transferred=event.transferred,
                    vanished=event.vanished,
                )
                .on_conflict_do_nothing(index_elements=["pbx", "call_id"])
                .returning(CallRecordRow.id)
            )
            if stored is None:
                return False
            if person_id is not None or company_id is not None:
                # The call appears in the contact's timeline, in the same transaction.
                db.add(_call_activity(event, person_id, company_id))
        log.info(
            "recorded call %s on %s (%s, %s)",
            event.call_id,
            event.pbx,
            event.direction.value,
            event.outcome.value,
        )
        return True

    async def assign_phone(
        self, user_id: int, pbx: str, interface: str, queues: tuple[str, ...] = ()
    ) -> AgentPhone:
        """Give ``user_id`` the phone ``interface`` on ``pbx`` (replacing their previous one)."""
        async with session_scope(self._sessions) as db:
            taken = await db.scalar(
                select(AgentPhone).where(
                    AgentPhone.pbx == pbx,
                    AgentPhone.interface == interface,
                    AgentPhone.user_id != user_id,
                )
            )
            if taken is not None:
                raise Conflict(
                    f"{interface} on {pbx} is the phone of user {taken.user_id}",
                    details={"field": "interface"},
                )
            row = await db.scalar(
                select(AgentPhone).where(AgentPhone.pbx == pbx, AgentPhone.user_id == user_id)
            )
            if row is None:
                row = AgentPhone(user_id=user_id, pbx=pbx, interface=interface)
                db.add(row)
            row.interface = interface
            row.queues = ",".join(queues)
            await db.flush()
            return row

    async def agent_interfaces(self, pbx: str) -> dict[str, str]:
        """Phone interface → agent id (the user id as text) for ``pbx``."""
        async with self._sessions() as db:
            rows = await db.execute(
                select(AgentPhone.interface, AgentPhone.user_id).where(AgentPhone.pbx == pbx)
            )
            return {iface: str(uid) for iface, uid in rows.all()}
