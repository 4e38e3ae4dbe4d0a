"""The call store: every finished call saved exactly once, matched to the CRM contact.

Finished calls are stored in batches (:meth:`CallStore.save_many`), cheaply, since the writer
runs on the event loop that also pops screens. On PostgreSQL a batch is one statement, one
round trip, in ``AUTOCOMMIT`` (atomic by itself): the calls travel as one JSON parameter, and
data-modifying CTEs match each number, insert the records (``ON CONFLICT DO NOTHING``: a call is
stored once per PBX and Linkedid), add the new ones that matched a contact to its timeline (an
activity and its participants) and return the calls newly stored. On SQLite (the embedded
demo) a batch is a few Core statements in one transaction. Both store exactly the rows the ORM
used to (:func:`_subject`, the models' defaults).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Text, bindparam, func, insert, inspect, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from crm_core.crm.models import Phone
from crm_core.crm.phones import try_normalise
from crm_core.crm.work_models import Activity, ActivityParticipant, ActivityStatus, ActivityType
from crm_core.db import Base, autocommit_engine, hot_read, session_scope, utcnow
from crm_core.errors import Conflict
from telephony.events import CallEnded
from telephony.models import CallDirection
from telephony.records import AgentPhone, CallRecordRow

__all__ = ["CallStore", "agent_user_id"]

log = logging.getLogger(__name__)


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


def _subject(event: CallEnded) -> str:
    """The subject of the call's activity in the contact's timeline."""
    queue = f" via {event.queue}" if event.queue else ""
    return f"{_SUBJECTS.get(event.direction, 'Call')}{queue}: {event.outcome.value}"[:200]


def _model_default(model: type[Base], column: str) -> Any:
    """The constant the ORM puts in ``model``'s ``column`` when it is not given."""
    default = inspect(model).columns[column].default
    if not isinstance(default, ScalarElementColumnDefault):
        raise TypeError(f"{model.__name__}.{column} has no constant default")
    return default.arg


# PostgreSQL: a batch of calls in one statement. ``calls`` holds one JSON object per call, in
# order (``ord``); their (pbx, call_id) are distinct. A number is matched when exactly one phone
# has it (unknown or shared: the agent links the call later), as the caller-ID lookup does.
# The timeline's activity ids are drawn in the calls' order (a volatile expression is evaluated
# after the sort), so that its participants need no join back through RETURNING. Foreign keys
# are checked at the end of the statement, when the activities exist.
_PG_SAVE = text(
    """
WITH calls AS (
    SELECT c.*, m.person_id, m.company_id
    FROM jsonb_to_recordset(CAST(:calls AS jsonb)) AS c (
        ord integer, pbx text, call_id text, crm_call_id text, direction text, outcome text,
        started_at timestamptz, answered_at timestamptz, ended_at timestamptz,
        agent_user_id integer, caller_id text, called_number text, customer_e164 text,
        queue text, ring_s float8, wait_s float8, talk_s float8, hold_s float8, total_s float8,
        hangup_cause integer, hangup_cause_text text, hangup_by text, dial_status text,
        recording_file text, transferred boolean, vanished boolean, subject text
    )
    LEFT JOIN LATERAL (
        SELECT min(p.person_id) AS person_id, min(p.company_id) AS company_id
        FROM (SELECT person_id, company_id FROM phones WHERE e164 = c.customer_e164 LIMIT 2) AS p
        HAVING count(*) = 1
    ) AS m ON true
),
stored AS (
    INSERT INTO call_records (
        pbx, call_id, crm_call_id, direction, outcome, started_at, answered_at, ended_at,
        agent_user_id, caller_id, called_number, customer_e164, person_id, company_id, queue,
        ring_s, wait_s, talk_s, hold_s, total_s, hangup_cause, hangup_cause_text, hangup_by,
        dial_status, recording_file, transferred, vanished, recorded_at
    )
    SELECT
        pbx, call_id, crm_call_id, direction, outcome, started_at, answered_at, ended_at,
        agent_user_id, caller_id, called_number, customer_e164, person_id, company_id, queue,
        ring_s, wait_s, talk_s, hold_s, total_s, hangup_cause, hangup_cause_text, hangup_by,
        dial_status, recording_file, transferred, vanished, CAST(:now AS timestamptz)
    FROM calls
    ORDER BY ord
    ON CONFLICT (pbx, call_id) DO NOTHING
    RETURNING pbx, call_id
),
timeline AS (
    SELECT nextval('activities_id_seq') AS activity_id, c.*
    FROM calls AS c
    JOIN stored AS s ON s.pbx = c.pbx AND s.call_id = c.call_id
    WHERE c.person_id IS NOT NULL OR c.company_id IS NOT NULL
    ORDER BY c.ord
),
new_activities AS (
    INSERT INTO activities (
        id, type, subject, notes, starts_at, ends_at, duration_seconds, status, priority,
        responsible_user_id, call_id, outcome, created_at, updated_at
    )
    SELECT
        activity_id, CAST(:call_type AS text), subject, CAST(:notes AS text), started_at,
        ended_at, CAST(round(talk_s) AS integer), CAST(:done AS text), CAST(:priority AS text),
        agent_user_id, call_id, outcome, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM timeline
    ORDER BY activity_id
),
new_participants AS (
    INSERT INTO activity_participants (activity_id, person_id, company_id, user_id)
    SELECT activity_id, person_id, company_id, user_id
    FROM (
        SELECT
            activity_id, 0 AS rank, person_id,
            CASE WHEN person_id IS NULL THEN company_id END AS company_id,
            CAST(NULL AS integer) AS user_id
        FROM timeline
        UNION ALL
        SELECT activity_id, 1, NULL, NULL, agent_user_id
        FROM timeline
        WHERE agent_user_id IS NOT NULL
    ) AS p
    ORDER BY activity_id, rank
)
SELECT pbx, call_id FROM stored
"""
).bindparams(
    bindparam("calls", type_=String()),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("call_type", ActivityType.CALL.value, type_=String()),
    bindparam("done", ActivityStatus.DONE.value, type_=String()),
    bindparam("notes", _model_default(Activity, "notes"), type_=Text()),
    bindparam("priority", _model_default(Activity, "priority"), type_=String()),
)

# SQLite: the owners of the batch's numbers, the records, then the timeline (Core, executemany).
_OWNERS = select(Phone.e164, Phone.person_id, Phone.company_id).where(
    Phone.e164.in_(bindparam("numbers", expanding=True))
)
_RECORDS = (
    sqlite_insert(CallRecordRow)
    .on_conflict_do_nothing(index_elements=["pbx", "call_id"])
    .returning(CallRecordRow.pbx, CallRecordRow.call_id)
)
_LAST_ACTIVITY = select(func.max(Activity.id))
_ACTIVITIES = insert(Activity)
_PARTICIPANTS = insert(ActivityParticipant)


def _iso(value: datetime | None) -> str | None:
    """A timestamp for the JSON parameter; naive ones are refused, as the UTC columns do."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.isoformat()


def _participant(
    activity_id: int, person_id: int | None, company_id: int | None, user_id: int | None
) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "person_id": person_id,
        "company_id": company_id,
        "user_id": user_id,
    }


def _num(value: float) -> float | str:
    """A float for the JSON parameter (which has no NaN or infinity: PostgreSQL reads text)."""
    return value if math.isfinite(value) else str(value)


class CallStore:
    """Saves CallEnded events as call records; idempotent by (PBX, Linkedid)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, region: str) -> None:
        self._sessions = sessions
        self._region = region

    def customer_number(self, event: CallEnded) -> str | None:
        """The customer's number in E.164: the caller inbound, the called party otherwise."""
        raw = event.caller_id if event.direction == CallDirection.INBOUND else event.called_number
        return try_normalise(raw, self._region) if raw else None

    async def save(self, event: CallEnded) -> bool:
        """Store the finished call; False when it was stored before (a replay or a resync)."""
        return (await self.save_many([event]))[0]

    async def save_many(self, events: Sequence[CallEnded]) -> list[bool]:
        """Store a batch of finished calls; for each, whether it is newly stored (False: stored
        before — a replay, a resync, another process — or earlier in the same batch).

        All or nothing: any failure (database down, a constraint) reaches the caller, which
        keeps the calls and retries, so nothing is reported stored that is not.
        """
        first: dict[tuple[str, str], int] = {}
        for i, event in enumerate(events):
            first.setdefault((event.pbx, event.call_id), i)
        batch = [events[i] for i in first.values()]
        stored: set[tuple[str, str]] = set()
        if batch:
            engine = autocommit_engine(self._sessions)
            if engine.dialect.name == "postgresql":
                stored = await self._save_postgres(batch)
            else:
                stored = await self._save_core(engine, batch)
        news = []
        for i, event in enumerate(events):
            key = (event.pbx, event.call_id)
            new = first[key] == i and key in stored
            if new:
                log.info(
                    "recorded call %s on %s (%s, %s)",
                    event.call_id,
                    event.pbx,
                    event.direction.value,
                    event.outcome.value,
                )
            news.append(new)
        return news

    def _record(self, event: CallEnded) -> dict[str, Any]:
        """The call's ``call_records`` values, but for the contact and ``recorded_at``."""
        return {
            "pbx": event.pbx,
            "call_id": event.call_id,
            "crm_call_id": event.crm_call_id,
            "direction": event.direction.value,
            "outcome": event.outcome.value,
            "started_at": event.started_at,
            "answered_at": event.answered_at,
            "ended_at": event.ended_at,
            "agent_user_id": agent_user_id(event.agent_id),
            "caller_id": event.caller_id,
            "called_number": event.called_number,
            "customer_e164": self.customer_number(event),
            "queue": event.queue,
            "ring_s": event.ring_s,
            "wait_s": event.wait_s,
            "talk_s": event.talk_s,
            "hold_s": event.hold_s,
            "total_s": event.total_s,
            "hangup_cause": event.hangup_cause,
            "hangup_cause_text": event.hangup_cause_text[:100],
            "hangup_by": event.hangup_by.value,
            "dial_status": event.dial_status,
            "recording_file": event.recording_file,
            "transferred": event.transferred,
            "vanished": event.vanished,
        }

    async def _save_postgres(self, batch: list[CallEnded]) -> set[tuple[str, str]]:
        """One ``_PG_SAVE`` statement: the (pbx, call_id) of the calls newly stored."""
        calls = []
        for i, event in enumerate(batch):
            row = self._record(event)
            row.update(
                ord=i,
                started_at=_iso(event.started_at),
                answered_at=_iso(event.answered_at),
                ended_at=_iso(event.ended_at),
                ring_s=_num(event.ring_s),
                wait_s=_num(event.wait_s),
                talk_s=_num(event.talk_s),
                hold_s=_num(event.hold_s),
                total_s=_num(event.total_s),
                subject=_subject(event),
            )
            calls.append(row)
        params = {"calls": json.dumps(calls, separators=(",", ":")), "now": utcnow()}

        async def run(conn: AsyncConnection) -> set[tuple[str, str]]:
            return {(pbx, call_id) for pbx, call_id in await conn.execute(_PG_SAVE, params)}

        # Run again on a fresh connection if the server dropped the first (hot_read): safe even
        # if the first was done, as a call already stored is left alone and gets no second
        # activity.
        return await hot_read(self._sessions, run)

    async def _save_core(self, engine: AsyncEngine, batch: list[CallEnded]) -> set[tuple[str, str]]:
        """The batch in one transaction of Core statements (SQLite): the calls newly stored."""
        records = [self._record(event) for event in batch]
        async with engine.begin() as conn:
            numbers = {r["customer_e164"] for r in records} - {None}
            owners: dict[str, list[tuple[int | None, int | None]]] = {}
            if numbers:
                for e164, person_id, company_id in await conn.execute(
                    _OWNERS, {"numbers": sorted(numbers)}
                ):
                    owners.setdefault(e164, []).append((person_id, company_id))
            for record in records:
                found = owners.get(record["customer_e164"], [])
                # Unknown, or shared by several contacts: the agent links it later.
                record["person_id"], record["company_id"] = (
                    found[0] if len(found) == 1 else (None, None)
                )
            stored = {(pbx, call_id) for pbx, call_id in await conn.execute(_RECORDS, records)}
            timeline = [
                (event, record)
                for event, record in zip(batch, records, strict=True)
                if (event.pbx, event.call_id) in stored
                and (record["person_id"] is not None or record["company_id"] is not None)
            ]
            if not timeline:
                return stored
            # The records just inserted hold the database's write lock until the commit, so
            # the ids after the last one are ours: the ids SQLite would give, in order, known
            # here for the participants.
            last = await conn.scalar(_LAST_ACTIVITY) or 0
            activities: list[dict[str, Any]] = []
            participants: list[dict[str, Any]] = []
            for activity_id, (event, record) in enumerate(timeline, start=last + 1):
                person_id, agent = record["person_id"], record["agent_user_id"]
                company_id = record["company_id"] if person_id is None else None
                activities.append(
                    {
                        "id": activity_id,
                        "type": ActivityType.CALL.value,
                        "subject": _subject(event),
                        "starts_at": event.started_at,
                        "ends_at": event.ended_at,
                        "duration_seconds": round(event.talk_s),
                        "status": ActivityStatus.DONE.value,
                        "responsible_user_id": agent,
                        "call_id": event.call_id,
                        "outcome": event.outcome.value,
                    }
                )
                participants.append(_participant(activity_id, person_id, company_id, None))
                if agent is not None:
                    participants.append(_participant(activity_id, None, None, agent))
            await conn.execute(_ACTIVITIES, activities)
            await conn.execute(_PARTICIPANTS, participants)
        return stored

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
