"""Today's celebrations: birthdays, name days and typed anniversaries on a day.

The day is a calendar day in the business time zone (``Settings.default_timezone``). A birthday
or anniversary on 29 February is celebrated on 28 February in years that are not leap years.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, extract, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import namedays
from crm_core.crm.models import Person
from crm_core.crm.people_models import PersonDate
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "Celebration",
    "CelebrationService",
    "business_day",
    "celebrations_for",
    "collect_celebrations",
    "occurs_on",
]

_KIND_ORDER = {"birthday": 0, "name_day": 1, "anniversary": 2}


@dataclass(frozen=True)
class Celebration:
    """One reason for a person to be congratulated on a day."""

    person_id: int
    kind: str  # birthday | name_day | anniversary
    original: date | None = None
    years: int | None = None
    name: str | None = None
    type: str | None = None
    label: str | None = None
    person_date_id: int | None = None


def business_day(now: datetime, timezone: str) -> date:
    """The calendar day ``now`` (an aware instant) falls on in the business time zone."""
    return now.astimezone(ZoneInfo(timezone)).date()


def occurs_on(original: date, day: date) -> bool:
    """True when a yearly date ``original`` is celebrated on ``day`` (29 Feb: 28 Feb if no leap)."""
    if (original.month, original.day) == (day.month, day.day):
        return True
    return (
        (original.month, original.day) == (2, 29)
        and (day.month, day.day) == (2, 28)
        and not isleap(day.year)
    )


def _years(original: date, day: date) -> int:
    return day.year - original.year


def _month_days(day: date) -> list[tuple[int, int]]:
    days = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not isleap(day.year):
        days.append((2, 29))
    return days


def _on_day(column: Any, day: date) -> Any:
    return or_(
        *(
            (extract("month", column) == m) & (extract("day", column) == d)
            for m, d in _month_days(day)
        )
    )


def _person_rows(ids: Select[Any]) -> Any:
    return select(
        Person.id,
        Person.given_name,
        Person.family_name,
        Person.nickname,
        Person.language,
        Person.birth_date,
    ).where(Person.id.in_(ids))


class DatedFact(Protocol):
    """What a celebration needs of a typed date (a :class:`PersonDate` row or its JSON)."""

    @property
    def id(self) -> int: ...
    @property
    def person_id(self) -> int: ...
    @property
    def date(self) -> date: ...
    @property
    def type(self) -> str: ...
    @property
    def label(self) -> str: ...


def collect_celebrations(
    persons: Iterable[Any], dates: Iterable[DatedFact], day: date
) -> dict[int, list[Celebration]]:
    """What each person celebrates on ``day``, from rows with ``id``, ``given_name``,
    ``nickname``, ``language`` and ``birth_date``, and the persons' typed dates (any of them:
    those not on ``day`` are skipped). Persons celebrating nothing are absent."""
    out: dict[int, list[Celebration]] = {}
    for row in persons:
        found: list[Celebration] = []
        if row.birth_date is not None and row.birth_date <= day and occurs_on(row.birth_date, day):
            found.append(
                Celebration(row.id, "birthday", row.birth_date, _years(row.birth_date, day))
            )
        for name in namedays.celebrated_names(row.given_name, row.nickname, row.language, day):
            found.append(Celebration(row.id, "name_day", name=name))
        if found:
            out[row.id] = found
    for pd in dates:
        if pd.date <= day and occurs_on(pd.date, day):
            out.setdefault(pd.person_id, []).append(
                Celebration(
                    pd.person_id,
                    "anniversary",
                    pd.date,
                    _years(pd.date, day),
                    type=pd.type,
                    label=pd.label,
                    person_date_id=pd.id,
                )
            )
    return out


async def _load(db: AsyncSession, ids: Select[Any], day: date) -> tuple[list[Any], dict[int, Any]]:
    rows = list((await db.execute(_person_rows(ids))).all())
    dates = list(
        await db.scalars(
            select(PersonDate)
            .where(PersonDate.person_id.in_(ids), _on_day(PersonDate.date, day))
            .order_by(PersonDate.date, PersonDate.id)
        )
    )
    found = collect_celebrations(rows, dates, day)
    return rows, found


async def celebrations_for(
    db: AsyncSession, person_ids: Sequence[int], day: date
) -> dict[int, list[Celebration]]:
    """What each of ``person_ids`` celebrates on ``day`` (persons celebrating nothing are absent).

    The caller has already decided that these persons may be seen (the screen pop does).
    """
    if not person_ids:
        return {}
    ids = select(Person.id).where(Person.id.in_(sorted(set(person_ids))))
    _, found = await _load(db, ids, day)
    return found


@dataclass(frozen=True)
class CelebrationEntry:
    """A celebration with the person's display name, for lists."""

    celebration: Celebration
    display_name: str


class CelebrationService:
    """Celebrations of the persons in the caller's scope."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry, timezone: str
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._timezone = timezone

    def day_of(self, now: datetime) -> date:
        """The business day of the instant ``now``."""
        return business_day(now, self._timezone)

    async def on_day(
        self, principal: Principal, day: date, limit: int, offset: int
    ) -> tuple[list[CelebrationEntry], int]:
        """One page of the day's celebrations, in name order, and their total.

        Name days are matched in Python (accent-insensitively), so the persons in scope are read
        as narrow rows: one pass over the scope per request.
        """
        ids = self._policies.scope(principal, Person, select(Person.id))
        async with self._sessions() as db:
            rows, found = await _load(db, ids, day)
        names = {r.id: (r.family_name or "", r.given_name or "") for r in rows}
        entries = [
            CelebrationEntry(c, " ".join(p for p in reversed(names[pid]) if p))
            for pid, items in found.items()
            for c in items
        ]
        entries.sort(
            key=lambda e: (
                names[e.celebration.person_id],
                e.celebration.person_id,
                _KIND_ORDER[e.celebration.kind],
                e.celebration.person_date_id or 0,
                e.celebration.name or "",
            )
        )
        return entries[offset : offset + limit], len(entries)
