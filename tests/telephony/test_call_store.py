"""The call store's batches: the rows the ORM stored, once per call, one statement on PostgreSQL;
the runtime's writer batches the calls queued together and falls back to one by one."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.bus.events import Event
from crm_core.bus.memory import InProcessBus
from crm_core.crm.models import Company, Person, Phone
from crm_core.crm.work_models import Activity, ActivityParticipant, ActivityStatus, ActivityType
from crm_core.db import autocommit_engine, create_engine, make_sessionmaker, session_scope
from crm_core.users.models import User
from telephony.call_writer import CALL_BATCH_MAX
from telephony.events import AgentStateChanged, CallEnded
from telephony.models import AgentState, CallDirection, CallOutcome, HangupParty
from telephony.records import CallRecordRow
from telephony.runtime import PbxRuntime
from telephony.store import CallStore, agent_user_id
from telephony.tracker import CallTracker
from tests.conftest import drop_pg_connections

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PERSON_NUMBER = "+302101111111"
COMPANY_NUMBER = "+302102222222"
SHARED_NUMBER = "+302103333333"
UNKNOWN_NUMBER = "+302104444444"


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of a migrated, empty database (SQLite and PostgreSQL)."""
    engine = create_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@dataclasses.dataclass(frozen=True)
class Contacts:
    person_id: int
    company_id: int
    agent_id: int


async def _contacts(sessions: async_sessionmaker[AsyncSession]) -> Contacts:
    """A person and a company with a number each, both with one more number they share, and
    an agent."""
    async with session_scope(sessions) as db:
        person = Person(given_name="Maria", family_name="Papadopoulou")
        company = Company(code="ACME", name="Acme")
        other = Person(given_name="Nikos", family_name="Georgiou")
        agent = User(username="agent7", password_hash="x")
        db.add_all([person, company, other, agent])
        await db.flush()
        db.add_all(
            [
                Phone(person_id=person.id, original="210 111 1111", e164=PERSON_NUMBER),
                Phone(company_id=company.id, original="210 222 2222", e164=COMPANY_NUMBER),
                Phone(company_id=company.id, original="210 333 3333", e164=SHARED_NUMBER),
                Phone(person_id=other.id, original="210 333 3333", e164=SHARED_NUMBER),
            ]
        )
    return Contacts(person.id, company.id, agent.id)


def _call(call_id: str, **fields: Any) -> CallEnded:
    values: dict[str, Any] = {
        "pbx": "main",
        "call_id": call_id,
        "direction": CallDirection.INBOUND,
        "outcome": CallOutcome.ANSWERED,
        "started_at": START,
        "ended_at": START + timedelta(seconds=40),
    }
    values.update(fields)
    return CallEnded(**values)


def _batch(agent: int) -> list[CallEnded]:
    """Every kind of call: known person or company, shared, unknown or no number; with an agent,
    with an agent id that is no user id, or none; every field given somewhere."""
    athens = timezone(timedelta(hours=2))
    return [
        _call(
            "1.1",
            caller_id="2101111111",
            agent_id=str(agent),
            queue="support",
            crm_call_id="crm-1",
            answered_at=START + timedelta(seconds=5),
            ring_s=5.0,
            wait_s=5.25,
            talk_s=2.5,
            hold_s=1.0,
            total_s=40.0,
            hangup_cause=16,
            hangup_cause_text="Normal Clearing " * 10,
            hangup_by=HangupParty.AGENT,
            dial_status="ANSWER",
            recording_file="/var/spool/asterisk/monitor/1.1.wav",
            transferred=True,
        ),
        _call(
            "1.2",
            direction=CallDirection.OUTBOUND,
            called_number="210 222 2222",
            caller_id="1001",
            talk_s=3.5,
            started_at=datetime(2026, 11, 23, 11, 0, 0, 123456, tzinfo=athens),
            ended_at=datetime(2026, 11, 23, 11, 1, 0, tzinfo=athens),
        ),
        _call("1.3", caller_id="2101111111", outcome=CallOutcome.ABANDONED, agent_id="sip-7"),
        _call("1.4", caller_id="2103333333", agent_id=str(agent)),
        _call("1.5", caller_id="2104444444", agent_id=str(agent), ring_s=math.inf),
        _call("1.6", caller_id=None, direction=CallDirection.INTERNAL, vanished=True),
        _call(
            "1.7",
            direction=CallDirection.DIALER,
            called_number="+302102222222",
            agent_id=str(agent),
            queue="q" * 64,
            talk_s=0.4,
            outcome=CallOutcome.NO_ANSWER,
        ),
    ]


# -- the ORM path the store had before batches, as the reference -------------------------------

_SUBJECTS = {
    CallDirection.INBOUND: "Inbound call",
    CallDirection.OUTBOUND: "Outbound call",
    CallDirection.DIALER: "Dialer call",
    CallDirection.INTERNAL: "Internal call",
}


def _reference_activity(
    event: CallEnded, person_id: int | None, company_id: int | None
) -> Activity:
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


async def _reference_save(store: CallStore, event: CallEnded) -> bool:
    """``CallStore.save`` as it was: an ORM session per call."""
    e164 = store.customer_number(event)
    async with session_scope(store._sessions) as db:
        person_id = company_id = None
        if e164 is not None:
            found = (
                await db.execute(
                    select(Phone.person_id, Phone.company_id).where(Phone.e164 == e164).limit(2)
                )
            ).all()
            if len(found) == 1:
                person_id, company_id = found[0]
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stored = await db.scalar(
            insert(CallRecordRow)
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
            db.add(_reference_activity(event, person_id, company_id))
    return True


# -- reading what was stored ----------------------------------------------------------------------

# Set at insert time: compared with the time of the save, not with the reference.
_STAMPS = {"recorded_at", "created_at", "updated_at"}


def _columns(row: Any, skip: set[str]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


@dataclasses.dataclass
class Stored:
    records: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    # Each participant with its activity's call id, in the order of their ids.
    participants: list[dict[str, Any]]
    stamps: list[datetime]


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> Stored:
    """Every stored call, activity and participant, in the order of their ids, without ids."""
    async with sessions() as db:
        records = list(await db.scalars(select(CallRecordRow).order_by(CallRecordRow.id)))
        activities = list(await db.scalars(select(Activity).order_by(Activity.id)))
        call_of = {a.id: a.call_id for a in activities}
        participants = list(
            await db.scalars(select(ActivityParticipant).order_by(ActivityParticipant.id))
        )
    return Stored(
        records=[_columns(r, {"id", *_STAMPS}) for r in records],
        activities=[_columns(a, {"id", *_STAMPS}) for a in activities],
        participants=[
            {**_columns(p, {"id", "activity_id"}), "call_id": call_of[p.activity_id]}
            for p in participants
        ],
        stamps=[r.recorded_at for r in records]
        + [a.created_at for a in activities]
        + [a.updated_at for a in activities],
    )


async def _forget_calls(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with session_scope(sessions) as db:
        await db.execute(delete(ActivityParticipant))
        await db.execute(delete(Activity))
        await db.execute(delete(CallRecordRow))


async def _count(sessions: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# -- the store ---------------------------------------------------------------------------------


async def test_a_batch_stores_exactly_the_rows_of_the_orm_path(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    contacts = await _contacts(sessions)
    store = CallStore(sessions, region="GR")
    batch = _batch(contacts.agent_id)
    assert [await _reference_save(store, e) for e in batch] == [True] * len(batch)
    expected = await _stored(sessions)
    await _forget_calls(sessions)

    before = datetime.now(UTC)
    assert await store.save_many(batch) == [True] * len(batch)
    after = datetime.now(UTC)
    got = await _stored(sessions)

    assert got.records == expected.records
    assert got.activities == expected.activities
    assert got.participants == expected.participants
    assert all(before <= t <= after for t in got.stamps), got.stamps
    # What the reference stored is what the cases are about (so the comparison means something).
    matched = {r["call_id"]: (r["person_id"], r["company_id"]) for r in got.records}
    assert matched == {
        "1.1": (contacts.person_id, None),
        "1.2": (None, contacts.company_id),
        "1.3": (contacts.person_id, None),
        "1.4": (None, None),  # shared by two contacts
        "1.5": (None, None),  # unknown
        "1.6": (None, None),  # no number
        "1.7": (None, contacts.company_id),
    }
    assert [a["call_id"] for a in got.activities] == ["1.1", "1.2", "1.3", "1.7"]
    assert [a["duration_seconds"] for a in got.activities] == [2, 4, 0, 0]
    assert [
        (p["call_id"], p["person_id"], p["company_id"], p["user_id"]) for p in got.participants
    ] == [
        ("1.1", contacts.person_id, None, None),
        ("1.1", None, None, contacts.agent_id),
        ("1.2", None, contacts.company_id, None),
        ("1.3", contacts.person_id, None, None),
        ("1.7", None, contacts.company_id, None),
        ("1.7", None, None, contacts.agent_id),
    ]
    assert len(got.records[0]["hangup_cause_text"]) == 100


async def test_a_replay_stores_nothing_more(sessions: async_sessionmaker[AsyncSession]) -> None:
    contacts = await _contacts(sessions)
    store = CallStore(sessions, region="GR")
    batch = _batch(contacts.agent_id)
    assert await store.save_many(batch) == [True] * len(batch)
    stored = await _stored(sessions)
    # The same calls again (a resync), alone or among a new one: only the new one is stored.
    assert await store.save_many(batch) == [False] * len(batch)
    assert await store.save(batch[0]) is False
    new = _call("2.1", caller_id="2101111111")
    assert await store.save_many([batch[1], new, batch[0]]) == [False, True, False]
    again = await _stored(sessions)
    assert again.records[:-1] == stored.records
    assert again.activities[:-1] == stored.activities
    assert [r["call_id"] for r in again.records[-1:]] == ["2.1"]
    assert [a["call_id"] for a in again.activities[-1:]] == ["2.1"]
    assert await _count(sessions, ActivityParticipant) == len(stored.participants) + 1


async def test_a_call_twice_in_one_batch_is_stored_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    contacts = await _contacts(sessions)
    store = CallStore(sessions, region="GR")
    first = _call("3.1", caller_id="2101111111", outcome=CallOutcome.ANSWERED)
    other = _call("3.2", caller_id="2102222222")
    # The same Linkedid on another PBX is another call.
    elsewhere = dataclasses.replace(first, pbx="branch")
    assert await store.save_many(
        [first, other, dataclasses.replace(first, outcome=CallOutcome.ABANDONED), elsewhere]
    ) == [True, True, False, True]
    got = await _stored(sessions)
    assert [(r["pbx"], r["call_id"], r["outcome"]) for r in got.records] == [
        ("main", "3.1", "answered"),
        ("main", "3.2", "answered"),
        ("branch", "3.1", "answered"),
    ]
    assert [(a["call_id"], a["outcome"]) for a in got.activities] == [
        ("3.1", "answered"),
        ("3.2", "answered"),
        ("3.1", "answered"),
    ]
    assert [(p["call_id"], p["person_id"], p["company_id"]) for p in got.participants] == [
        ("3.1", contacts.person_id, None),
        ("3.2", None, contacts.company_id),
        ("3.1", contacts.person_id, None),
    ]


async def test_a_failing_batch_stores_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _contacts(sessions)
    store = CallStore(sessions, region="GR")
    # Agent 999999 is no user: its record breaks a foreign key, and the whole batch fails.
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await store.save_many(
            [_call("4.1", caller_id="2101111111"), _call("4.2", agent_id="999999")]
        )
    assert await _count(sessions, CallRecordRow) == 0
    assert await _count(sessions, Activity) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_batch_is_one_statement_on_postgres(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    contacts = await _contacts(sessions)
    store = CallStore(sessions, region="GR")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    engine = autocommit_engine(sessions).sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        batch = _batch(contacts.agent_id)
        assert await store.save_many(batch) == [True] * len(batch)
        assert len(statements) == 1, statements
        # The server drops the pooled connection (a restart, an idle timeout): the pool does
        # not ping, the statement fails on it once and runs again on a fresh connection.
        assert await drop_pg_connections(db_url) >= 1
        statements.clear()
        assert await store.save_many([*batch, _call("5.1", caller_id="2101111111")]) == [
            False
        ] * len(batch) + [True]
        assert len(statements) == 2, statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert await _count(sessions, CallRecordRow) == len(batch) + 1
    assert await _count(sessions, Activity) == 5


# -- the runtime's writer ----------------------------------------------------------------------


class _NoGateway:
    """The runtime's gateway, never used by the writer."""

    pbx = "main"


class RecordingStore(CallStore):
    """The real store, telling how it was called: each save_many's call ids (save is one)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, region="GR")
        self.batches: list[list[str]] = []

    async def save_many(self, events: Sequence[CallEnded]) -> list[bool]:
        self.batches.append([e.call_id for e in events])
        return await super().save_many(events)


class FakeStore(RecordingStore):
    """Stores nothing anywhere; says every call is new."""

    async def save_many(self, events: Sequence[CallEnded]) -> list[bool]:
        self.batches.append([e.call_id for e in events])
        return [True] * len(events)


def _runtime(store: CallStore, bus: InProcessBus) -> PbxRuntime:
    return PbxRuntime("main", _NoGateway(), CallTracker("main"), bus, store)  # type: ignore[arg-type]


async def _published(runtime: PbxRuntime, bus: InProcessBus, events: list[Event]) -> list[Event]:
    """Emit ``events``, wait until the writer is through them; what the bus got, in order."""
    async with bus.subscribe(CallEnded, AgentStateChanged) as sub:
        await runtime._emit(events)
        await runtime.flush()
        # Delivered already: nothing to wait for.
        return [await sub.get() for _ in events]


async def test_the_writer_stores_the_calls_queued_together_in_one_batch() -> None:
    bus = InProcessBus()
    store = FakeStore(async_sessionmaker())
    runtime = _runtime(store, bus)
    calls = [_call(f"6.{i}", agent_id="5" if i == 2 else None) for i in range(1, 5)]
    ready = AgentStateChanged(
        pbx="main", agent_id="5", state=AgentState.READY, previous=AgentState.ON_CALL
    )
    # Agent 5's next state follows their call through the queue: the batch stops before it, and
    # it is published after that call; the call after it is the next batch.
    events: list[Event] = [calls[0], calls[1], ready, calls[2], calls[3]]
    assert await _published(runtime, bus, events) == events
    assert store.batches == [["6.1", "6.2"], ["6.3", "6.4"]]
    # A long queue goes in batches of at most CALL_BATCH_MAX.
    many = [_call(f"7.{i}") for i in range(2 * CALL_BATCH_MAX + 5)]
    store.batches.clear()
    assert await _published(runtime, bus, list(many)) == many
    assert [len(b) for b in store.batches] == [CALL_BATCH_MAX, CALL_BATCH_MAX, 5]
    assert runtime.records.held == {}
    assert runtime.records.unsaved == []
    await runtime.drain()
    await bus.close()


async def test_one_bad_record_does_not_keep_the_others_from_being_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    contacts = await _contacts(sessions)
    bus = InProcessBus()
    store = RecordingStore(sessions)
    runtime = _runtime(store, bus)
    good = _call("8.1", caller_id="2101111111", agent_id=str(contacts.agent_id))
    bad = _call("8.2", caller_id="2102222222", agent_id="999999")  # no such user
    also_good = _call("8.3", caller_id="2102222222")
    # Published in order, each once, after its one store attempt (the bad one: kept).
    assert await _published(runtime, bus, [good, bad, also_good]) == [good, bad, also_good]
    # Together first; that fails as a whole, so one by one.
    assert store.batches == [["8.1", "8.2", "8.3"], ["8.1"], ["8.2"], ["8.3"]]
    got = await _stored(sessions)
    assert [r["call_id"] for r in got.records] == ["8.1", "8.3"]
    assert [a["call_id"] for a in got.activities] == ["8.1", "8.3"]
    assert runtime.records.unsaved == [bad]
    # Once the user exists, the retry on stop stores it (with its activity) and keeps nothing.
    async with session_scope(sessions) as db:
        db.add(User(id=999999, username="late", password_hash="x"))
    await runtime.drain()
    assert runtime.records.unsaved == []
    got = await _stored(sessions)
    assert [r["call_id"] for r in got.records] == ["8.1", "8.3", "8.2"]
    assert [a["call_id"] for a in got.activities] == ["8.1", "8.3", "8.2"]
    assert runtime.records.held == {}
    await bus.close()
