"""The screen pop: who is calling, what they owe, what is open — built for one agent's eyes.

The caller is found with one indexed query on the E.164 column, inside the agent's record scope.
The snapshot applies the CRM's field masking for that agent: without ``crm.balances`` the balance
due and the last invoice are withheld (``masked`` names them).

A pop is read on an autocommit connection (:func:`crm_core.db.hot_read`: no session, no
``BEGIN``/``ROLLBACK``, no pre-ping) with the lookup and **one** statement reading the record's
columns and, as JSON built by the database, everything the pop shows of it — phones, categories,
employer, last invoice, balance per currency, open tickets, last activity and the typed dates
its celebrations are computed from. On PostgreSQL the two are **one** statement
(:func:`_with_lookup`: the lookup as a CTE, the sole candidate's details joined to its row), so
a known caller's pop is one round trip; if the agent's scope changed since it was cached (the
lookup's ``access_epoch`` row shows it), the pop is read again the two-statement way, which reads
the scope again. On a busy two-core machine every statement costs a round trip and a turn of the
event loop. The statements are built once per kind of record, database dialect and masking, and
compiled once (fixed SQL text, bind parameters only).

A record found by the number's lookup is not scoped a second time (the lookup applied the agent's
scope a moment before); a contact an agent chose is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from crm_core.crm import repository as repo
from crm_core.crm.celebrations import business_day, collect_celebrations
from crm_core.crm.finance import balances_by_currency, cents, day_of
from crm_core.crm.finance_models import Invoice
from crm_core.crm.models import (
    Category,
    Company,
    Employment,
    Person,
    Phone,
    company_categories,
    person_categories,
)
from crm_core.crm.people_models import PersonDate
from crm_core.crm.phones import try_normalise
from crm_core.crm.policies import CRM_BALANCES
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket, TicketStatus
from crm_core.db import hot_read
from crm_core.errors import NotFound
from crm_core.users.models import User
from crm_core.users.permissions import PolicyRegistry, Principal
from telephony.models import CallDirection

__all__ = ["POP_VERSION", "PopBuilder"]

POP_VERSION = 1
OPEN_TICKETS = (TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value)
_ID = bindparam("id", type_=Integer)
_TODAY = bindparam("today", type_=Date)


class _Dialect:
    """The JSON functions of one database: PostgreSQL's, or SQLite's JSON1."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def obj(self, **fields: Any) -> ColumnElement[Any]:
        """A JSON object of ``fields`` (keys are identifiers of this module, written inline)."""
        args: list[Any] = []
        for key, value in fields.items():
            args += [literal_column(f"'{key}'"), value]
        return (func.json_build_object if self.pg else func.json_object)(*args)

    def rows(self, inner: Any, order: list[tuple[str, bool]], **fields: str) -> Any:
        """The rows of ``inner`` (ordered, maybe limited) as a JSON array of objects whose keys
        map to ``inner``'s column names; ``order`` repeats ``inner``'s order as (column,
        descending) for PostgreSQL's ordered aggregate (SQLite aggregates in scan order)."""
        sub = inner.subquery()
        return self._agg(sub, self._row(sub, fields), order)

    def values(self, inner: Any, column: str, order: list[tuple[str, bool]]) -> Any:
        """One column of ``inner``'s rows as a JSON array."""
        sub = inner.subquery()
        return self._agg(sub, sub.c[column], order)

    def _agg(self, sub: Any, item: Any, order: list[tuple[str, bool]]) -> Any:
        agg: Any
        if self.pg:
            keys = [sub.c[c].desc() if desc else sub.c[c] for c, desc in order]
            agg = func.coalesce(
                func.json_agg(aggregate_order_by(item, *keys)), literal_column("'[]'::json")
            )
        else:
            agg = func.json_group_array(item)
        return type_coerce(select(agg).select_from(sub).scalar_subquery(), JSON)

    def first(self, inner: Any, **fields: str) -> Any:
        """The first row of ``inner`` (ordered, limited to 1) as a JSON object, or null."""
        sub = inner.subquery()
        return type_coerce(select(self._row(sub, fields)).select_from(sub).scalar_subquery(), JSON)

    def _row(self, sub: Any, fields: dict[str, str]) -> ColumnElement[Any]:
        """One row of ``sub`` as a JSON object: key -> ``sub``'s column of that name."""
        return self.obj(**{key: sub.c[col] for key, col in fields.items()})


def _details(is_person: bool, dialect: str, finance: bool) -> Any:
    """One statement: the record's columns and, as JSON, everything else the pop shows."""
    d = _Dialect(dialect)
    model: Any = Person if is_person else Company
    phone_owner = Phone.person_id if is_person else Phone.company_id
    links = person_categories if is_person else company_categories
    link_owner = links.c.person_id if is_person else links.c.company_id
    invoice_owner = Invoice.person_id if is_person else Invoice.company_id
    ticket_owner = Ticket.person_id if is_person else Ticket.company_id
    part = ActivityParticipant.person_id if is_person else ActivityParticipant.company_id
    columns: dict[str, Any] = {
        "phones": d.rows(
            select(Phone.id, Phone.kind, Phone.original, Phone.e164)
            .where(phone_owner == _ID)
            .order_by(Phone.id),
            [("id", False)],
            kind="kind",
            number="original",
            e164="e164",
        ),
        "categories": d.values(
            select(Category.name)
            .join(links, links.c.category_id == Category.id)
            .where(link_owner == _ID)
            .order_by(Category.name),
            "name",
            [("name", False)],
        ),
        "tickets": d.rows(
            select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at)
            .where(
                ticket_owner == _ID,
                Ticket.status.in_([literal(s, Ticket.status.type) for s in OPEN_TICKETS]),
            )
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(5),
            [("created_at", True), ("id", True)],
            id="id",
            subject="subject",
            status="status",
            priority="priority",
            created_at="created_at",
        ),
        "activity": d.first(
            select(
                Activity.type,
                Activity.subject,
                Activity.notes,
                Activity.starts_at,
                Activity.created_at,
                User.display_name,
            )
            .join(ActivityParticipant, ActivityParticipant.activity_id == Activity.id)
            .outerjoin(User, User.id == Activity.responsible_user_id)
            .where(
                and_(
                    part == _ID,
                    or_(Activity.starts_at.is_not(None), Activity.created_at.is_not(None)),
                )
            )
            .order_by(Activity.starts_at.desc().nulls_last(), Activity.id.desc())
            .limit(1),
            type="type",
            subject="subject",
            notes="notes",
            starts_at="starts_at",
            created_at="created_at",
            user="display_name",
        ),
    }
    if finance:
        columns["last_invoice"] = d.first(
            select(
                Invoice.number,
                Invoice.issued_on,
                Invoice.due_on,
                cast(Invoice.amount, String).label("amount"),
                Invoice.currency,
                Invoice.status,
            )
            .where(invoice_owner == _ID)
            .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
            .limit(1),
            number="number",
            date="issued_on",
            due_date="due_on",
            amount="amount",
            currency="currency",
            status="status",
        )
        # Balance per currency: the CRM's own rule (crm_core.crm.finance.balances_by_currency,
        # which the balance endpoint runs too), inside this statement.
        balances = balances_by_currency(not is_person, _ID, _TODAY).subquery()
        columns["balances"] = d.rows(
            select(
                balances.c.currency,
                cast(balances.c.balance_due, String).label("balance_due"),
                cast(balances.c.overdue, String).label("overdue"),
                balances.c.oldest_due,
                balances.c.open_invoices,
            ).order_by(balances.c.currency),
            [("currency", False)],
            currency="currency",
            balance_due="balance_due",
            overdue="overdue",
            oldest_due="oldest_due",
            open="open_invoices",
        )
    if is_person:
        columns["employer"] = (
            select(Company.name)
            .select_from(Employment)
            .outerjoin(Company, Company.id == Employment.company_id)
            .where(Employment.person_id == _ID)
            .order_by(Employment.is_primary.desc(), Employment.id)
            .limit(1)
            .scalar_subquery()
        )
        columns["dates"] = d.rows(
            select(PersonDate.id, PersonDate.date, PersonDate.type, PersonDate.label)
            .where(PersonDate.person_id == _ID)
            .order_by(PersonDate.date, PersonDate.id),
            [("date", False), ("id", False)],
            id="id",
            date="date",
            type="type",
            label="label",
        )
        own = [
            Person.id,
            Person.salutation,
            Person.given_name,
            Person.nickname,
            Person.language,
            Person.birth_date,
        ]
    else:
        own = [Company.id, Company.name]
    return select(*own, *(c.label(k) for k, c in columns.items())).where(model.id == _ID)


def _with_lookup(lookup: Any, finance: bool) -> Any:
    """PostgreSQL: the caller-ID lookup (``lookup``, a statement of
    :func:`crm_core.crm.repository.lookup_plan`) and, when it finds exactly one record, that
    record's details (:func:`_details`), in **one** statement: the lookup's rows, the details
    of the sole candidate joined to its row, columns prefixed ``p_`` (person) or ``c_``
    (company). The details read the candidate's id from the lookup's rows instead of ``:id``."""
    found = lookup.cte("found")
    records = select(found.c.type, found.c.id).where(found.c.type != "epoch").distinct().cte()
    # The candidate when there is only one, computed once (the details name it many times).
    only = (
        select(records.c.type, records.c.id)
        .where(select(func.count()).select_from(records).scalar_subquery() == 1)
        .cte()
    )
    columns: list[Any] = list(found.c)
    joined: Any = found
    for kind, prefix in (("person", "p_"), ("company", "c_")):
        sole = select(only.c.id).where(only.c.type == kind).scalar_subquery()
        details = _details(kind == "person", "postgresql", finance)
        details = visitors.replacement_traverse(details, {}, partial(_replace_id, sole))
        sub = details.subquery(prefix.rstrip("_"))
        joined = joined.outerjoin(sub, and_(found.c.type == kind, found.c.id == sub.c.id))
        columns += [column.label(prefix + column.name) for column in sub.c]
    return select(*columns).select_from(joined)


def _replace_id(sole: Any, element: Any, **_kw: Any) -> Any:
    return sole if isinstance(element, BindParameter) and element.key == _ID.key else None


class _Dated(NamedTuple):
    """A typed date of the person, from the pop's JSON (see :func:`collect_celebrations`)."""

    id: int
    person_id: int
    date: date
    type: str
    label: str


class _Row:
    """A details row given as a mapping, read by attribute as a database row is."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _listed(found: list[repo.Candidate]) -> list[dict[str, Any]]:
    """Several records sharing the number, as the pop lists them for the agent to choose."""
    return [
        {"kind": c.type, "id": c.id, "name": c.display_name, "phone_kind": c.phone_kind}
        for c in found
    ]


def _masked(masked: bool) -> list[str]:
    """The pop's fields withheld from an agent without ``crm.balances``."""
    return ["balance_due", "last_invoice"] if masked else []


def _when(value: str | None) -> str | None:
    """A timestamp from the database's JSON (PostgreSQL: with offset; SQLite: naive UTC) as
    ISO 8601 in UTC."""
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat()


class PopBuilder:
    """Builds screen-pop messages for a call and an agent."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        *,
        region: str,
        timezone: str,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._region = region
        self._timezone = timezone
        self._statements: dict[tuple[bool, str, bool], Select[Any]] = {}
        self._combined: dict[tuple[int, bool], Any] = {}

    def statements_to_warm(self, dialect: Any) -> list[tuple[str, int]]:
        """PostgreSQL: the driver SQL (and parameter count) of the one-statement pops an agent
        runs, with and without finances, for :func:`crm_core.db.warm_hot_reads`."""
        if dialect.name != "postgresql":
            return []
        lookup = repo.scoped_lookup_pg()
        return [
            repo.driver_sql(self._combined_for(lookup, finance), dialect)
            for finance in (True, False)
        ]

    def _combined_for(self, lookup: Any, finance: bool) -> Any:
        """The one-statement pop of ``lookup`` (:func:`_with_lookup`), built once."""
        key = (id(lookup), finance)
        stmt = self._combined.get(key)
        if stmt is None:
            stmt = self._combined[key] = _with_lookup(lookup, finance)
        return stmt

    def customer_number(
        self, direction: str, caller_id: str | None, called: str | None
    ) -> str | None:
        """The customer's side of the call: the caller inbound, the called party otherwise."""
        raw = caller_id if direction == CallDirection.INBOUND.value else called
        return raw if raw else None

    async def build(
        self,
        principal: Principal,
        call: dict[str, Any],
        *,
        chosen: tuple[str, int, str] | None = None,
    ) -> dict[str, Any]:
        """The pop for ``call`` (id, direction, caller_id, called, queue, started_at) as JSON.

        ``chosen`` (kind, id, name) is the contact an agent linked the call to: the pop shows that
        record (if the agent may see it) instead of looking the number up.
        """
        number = self.customer_number(call["direction"], call.get("caller_id"), call.get("called"))
        e164 = try_normalise(number, self._region) if number else None
        pop: dict[str, Any] = {
            "type": "screen_pop",
            "version": POP_VERSION,
            "call": {**call, "customer_number": e164 or number},
            "contact": None,
            "candidates": [],
            "masked": [],
        }
        if e164 is None and chosen is None:
            return pop

        async def read(conn: AsyncConnection) -> None:
            if chosen is not None:
                kind, record_id, name = chosen
                found = [repo.Candidate(kind, record_id, name, "")]
            else:
                assert e164 is not None
                if conn.dialect.name == "postgresql" and await self._in_one(
                    conn, principal, e164, pop
                ):
                    return
                found = await repo.lookup_phone(conn, self._policies, principal, e164)
            pop["candidates"] = []
            if len(found) == 1:
                pop["contact"], masked = await self._contact(
                    conn, principal, found[0], scoped=chosen is not None
                )
                pop["masked"] = _masked(masked)
            else:
                pop["candidates"] = _listed(found)

        await hot_read(self._sessions, read)
        return pop

    async def _in_one(
        self, conn: AsyncConnection, principal: Principal, e164: str, pop: dict[str, Any]
    ) -> bool:
        """PostgreSQL: fill ``pop`` from one statement, the lookup and the sole candidate's
        details together (:func:`_with_lookup`); False when the lookup must be asked on its
        own (another policy governs the records, or the agent's scope changed meanwhile)."""
        plan = await repo.lookup_plan(conn, self._policies, principal, e164)
        if plan is None:
            return False
        finance = principal.has(CRM_BALANCES)
        stmt = self._combined_for(plan.statement, finance)
        today = business_day(datetime.now(UTC), self._timezone)
        sql, args = repo.driver_statement(stmt, conn, {**plan.params, "today": today})
        rows = (await conn.exec_driver_sql(sql, args)).all()
        found = repo.accept_lookup(plan, rows)
        if found is None:
            return False
        if len(found) != 1:
            pop["candidates"] = _listed(found)
            return True
        cand = found[0]
        prefix = "p_" if cand.type == "person" else "c_"
        row = next((r for r in rows if r.type == cand.type and r.id == cand.id), None)
        if row is None or row._mapping[prefix + "id"] is None:
            return False  # (the record went away between the lookup's rows and its details)
        # (JSON columns arrive decoded: SQLAlchemy gives asyncpg a json codec per connection.)
        details = _Row({k[2:]: v for k, v in row._mapping.items() if k.startswith(prefix)})
        pop["contact"] = self._snapshot(details, cand, not finance, today)
        pop["masked"] = _masked(not finance)
        return True

    async def _contact(
        self, conn: AsyncConnection, principal: Principal, cand: repo.Candidate, *, scoped: bool
    ) -> tuple[dict[str, Any], bool]:
        """The contact snapshot of a candidate and whether its finances are masked; if
        ``scoped``, only if the principal may see the record (NotFound otherwise)."""
        is_person = cand.type == "person"
        masked = not principal.has(CRM_BALANCES)
        key = (is_person, conn.dialect.name, not masked)
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._statements[key] = _details(*key)
        if scoped:
            stmt = self._policies.scope(principal, Person if is_person else Company, stmt)
        today = business_day(datetime.now(UTC), self._timezone)
        row = (await conn.execute(stmt, {"id": cand.id, "today": today})).first()
        if row is None:
            raise NotFound(f"{cand.type} {cand.id} not found")
        return self._snapshot(row, cand, masked, today), masked

    def _snapshot(
        self, row: Any, cand: repo.Candidate, masked: bool, today: date
    ) -> dict[str, Any]:
        """The pop's contact from a row of :func:`_details`."""
        is_person = cand.type == "person"
        activity = row.activity
        contact = {
            "id": row.id,
            "kind": cand.type,
            "name": cand.display_name,
            "company": row.employer if is_person else row.name,
            "salutation": row.salutation if is_person else None,
            "phones": row.phones,
            "last_invoice": None,
            "balance_due": None,
            "open_tickets": [{**t, "created_at": _when(t["created_at"])} for t in row.tickets],
            "last_activity": None
            if activity is None
            else {
                "type": activity["type"],
                "subject": activity["subject"],
                "notes": activity["notes"],
                "at": _when(activity["starts_at"] or activity["created_at"]),
                "user": activity["user"],
            },
            "celebrations_today": self._celebrations(row, today) if is_person else [],
            "categories": row.categories,
        }
        if not masked:
            invoice = row.last_invoice
            if invoice is not None:
                contact["last_invoice"] = {
                    **invoice,
                    "date": str(day_of(invoice["date"])),
                    "due_date": str(day_of(invoice["due_date"])) if invoice["due_date"] else None,
                    "amount": str(cents(invoice["amount"])),
                }
            contact["balance_due"] = []
            for b in row.balances:
                due, overdue = cents(b["balance_due"]), cents(b["overdue"])
                if not (due or overdue):
                    continue
                oldest = day_of(b["oldest_due"])
                contact["balance_due"].append(
                    {
                        "currency": b["currency"],
                        "amount": str(due),
                        "overdue": str(overdue),
                        "days_overdue": (today - oldest).days if oldest else 0,
                        "open_invoices": int(b["open"]),
                    }
                )
        return contact

    @staticmethod
    def _celebrations(row: Any, today: date) -> list[dict[str, Any]]:
        dates = [
            _Dated(d["id"], row.id, day, d["type"], d["label"])
            for d in row.dates
            if (day := day_of(d["date"])) is not None
        ]
        found = collect_celebrations([row], dates, today)
        return [
            {"kind": c.kind, "name": c.name, "years": c.years, "type": c.type, "label": c.label}
            for c in found.get(row.id, [])
        ]
