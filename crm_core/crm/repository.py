"""Queries of the CRM: list specifications, scoped loading and caller-ID lookup (quick search:
:mod:`crm_core.crm.search`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm import attributes as attrs
from crm_core.crm.ext_models import AttributeValue, Contract, HeldProduct
from crm_core.crm.finance_models import Invoice, InvoiceKind, InvoiceStatus, Payment
from crm_core.crm.models import (
    AccessEpoch,
    Company,
    CompanyRole,
    CompanyRoleName,
    CompanyStatus,
    Employment,
    Person,
    Phone,
    company_categories,
    person_categories,
)
from crm_core.crm.policies import (
    RecordPolicy,
    cte_condition,
    resolved_condition,
    scope_cte,
    scope_params,
)
from crm_core.crm.scope_cache import ScopeCache
from crm_core.crm.work_models import Activity, Ticket
from crm_core.errors import InvalidInput, NotFound
from crm_core.listing import (
    FilterSpec,
    ListQuery,
    ListSpec,
    Page,
    apply_list_query,
    parse_list_query,
)
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "COMPANY_LIST",
    "DEFAULT_INACTIVE_DAYS",
    "PERSON_LIST",
    "Candidate",
    "LookupPlan",
    "accept_lookup",
    "driver_statement",
    "filtered_records",
    "get_visible",
    "lifecycle_of",
    "list_spec",
    "lookup_phone",
    "lookup_plan",
    "page_records",
    "record_policies",
    "time_filter",
]

# Every scoped CRM record; one visibility check serves them all.
R = TypeVar("R", Company, Person, Invoice, Payment, Ticket, Activity, HeldProduct, Contract)

DEFAULT_INACTIVE_DAYS = 365
_OWED = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)


def lifecycle_of(model: type[Company] | type[Person], today: date, days: int) -> ColumnElement[str]:
    """SQL: the lifecycle as read — ``status``, except "inactive" for an active record that
    had no invoice issued in the last ``days`` days (and existed before that period began)."""
    cutoff = today - timedelta(days=days)
    owner = Invoice.company_id if model is Company else Invoice.person_id
    recent = exists().where(
        owner == model.id,
        Invoice.kind == InvoiceKind.INVOICE.value,
        Invoice.status.in_(_OWED),
        Invoice.issued_on >= cutoff,
    )
    return case(
        (
            and_(
                model.status == CompanyStatus.ACTIVE.value,
                model.created_at < datetime.combine(cutoff, time(0), tzinfo=UTC),
                ~recent,
            ),
            literal(CompanyStatus.INACTIVE.value),
        ),
        else_=model.status,
    )


def _lifecycle_filter(
    model: type[Company] | type[Person], days: int, today: date | None = None
) -> FilterSpec:
    """The ``lifecycle`` filter read on ``today``: the business day the caller passes (see
    ``CrmService.business_day``); without one, the UTC date when the request is made."""

    def condition(op: str, value: Any) -> ColumnElement[bool]:
        expr = lifecycle_of(model, today or datetime.now(UTC).date(), days)
        return expr.in_(value) if op == "in" else expr == value

    return FilterSpec(
        None,
        "choice",
        ("eq", "in"),
        tuple(s.value for s in CompanyStatus),
        description="lifecycle as read (inactive: active without invoices in the period)",
        condition=condition,
    )


_ACCESS_FILTERS = ("territory_id", "owner_id", "team_id")


def time_filter(column: Any) -> FilterSpec:
    """A ``__gte``/``__lte`` date-time filter that refuses years the database cannot store.

    ``listing`` accepts any ISO date-time, and ``0001-01-01T00:00+05:00`` overflows when it is
    turned into UTC; the kernel should refuse it itself (reported), this keeps our lists safe.
    """

    def condition(op: str, value: datetime) -> ColumnElement[bool]:
        if not 1900 <= value.year <= 9000:
            raise InvalidInput(
                f"query parameter '{column.key}__{op}' must be between the years 1900 and 9000",
                details={"parameter": f"{column.key}__{op}"},
            )
        return column >= value if op == "gte" else column <= value  # type: ignore[no-any-return]

    return FilterSpec(column, "datetime", ("gte", "lte"), condition=condition)


def _access_filters(model: type[Company] | type[Person]) -> dict[str, FilterSpec]:
    return {name: FilterSpec(getattr(model, name), "int", ("eq", "in")) for name in _ACCESS_FILTERS}


COMPANY_LIST = ListSpec(
    sortable={
        "id": Company.id,
        "code": Company.code,
        "name": Company.name,
        "created_at": Company.created_at,
        "updated_at": Company.updated_at,
    },
    default_sort=("name",),
    filters={
        **_access_filters(Company),
        "status": FilterSpec(
            Company.status, "choice", ("eq", "in"), tuple(s.value for s in CompanyStatus)
        ),
        "role": FilterSpec(
            None,
            "choice",
            ("eq",),
            tuple(r.value for r in CompanyRoleName),
            condition=lambda _op, role: Company.id.in_(
                select(CompanyRole.company_id).where(CompanyRole.role == role)
            ),
        ),
        "category_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Company.id.in_(
                select(company_categories.c.company_id).where(
                    company_categories.c.category_id == cid
                )
            ),
        ),
        "code": FilterSpec(Company.code, "str", ("eq", "in", "contains")),
        "vat_number": FilterSpec(Company.vat_number, "str"),
        "industry": FilterSpec(Company.industry, "str", ("eq", "contains")),
        "parent_id": FilterSpec(Company.parent_id, "int"),
        "created_at": time_filter(Company.created_at),
        "external_id": FilterSpec(Company.external_id, "str"),
        "lead_source_id": FilterSpec(Company.lead_source_id, "int", ("eq", "in")),
        "lifecycle": _lifecycle_filter(Company, DEFAULT_INACTIVE_DAYS),
    },
    search=(Company.name, Company.code, Company.vat_number),
    tiebreak=Company.id,
)

PERSON_LIST = ListSpec(
    sortable={
        "id": Person.id,
        "family_name": Person.family_name,
        "given_name": Person.given_name,
        "birth_date": Person.birth_date,
        "created_at": Person.created_at,
        "updated_at": Person.updated_at,
    },
    default_sort=("family_name", "given_name"),
    filters={
        **_access_filters(Person),
        "company_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Person.id.in_(
                select(Employment.person_id).where(Employment.company_id == cid)
            ),
        ),
        "category_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Person.id.in_(
                select(person_categories.c.person_id).where(person_categories.c.category_id == cid)
            ),
        ),
        "family_name": FilterSpec(Person.family_name, "str", ("eq", "contains")),
        "language": FilterSpec(Person.language, "str"),
        "created_at": time_filter(Person.created_at),
        "external_id": FilterSpec(Person.external_id, "str"),
        "lead_source_id": FilterSpec(Person.lead_source_id, "int", ("eq", "in")),
        "status": FilterSpec(
            Person.status, "choice", ("eq", "in"), tuple(s.value for s in CompanyStatus)
        ),
        "lifecycle": _lifecycle_filter(Person, DEFAULT_INACTIVE_DAYS),
    },
    search=(Person.given_name, Person.family_name, Person.nickname),
    tiebreak=Person.id,
)


def list_spec(
    model: type[Company] | type[Person], inactive_after_days: int, today: date | None = None
) -> ListSpec:
    """The company or person list with the lifecycle filter over the configured period, read on
    ``today`` (the business day) when given."""
    base = COMPANY_LIST if model is Company else PERSON_LIST
    if inactive_after_days == DEFAULT_INACTIVE_DAYS and today is None:
        return base
    filters = {**base.filters, "lifecycle": _lifecycle_filter(model, inactive_after_days, today)}
    return replace(base, filters=filters)


async def filtered_records(
    db: AsyncSession,
    stmt: Select[Any],
    model: type[Company] | type[Person],
    params: dict[str, str],
    inactive_after_days: int,
    today: date | None = None,
) -> tuple[Select[Any], list[Any], ListQuery]:
    """``stmt`` (scoped companies or persons) with the list's filters and ``attr.*`` filters,
    the order its sort asks for (ordinary fields and custom attributes, see attributes.py; the id
    last, so the order is total) and the parsed query for its paging. ``today`` is the day the
    lifecycle filter is read on (the business day; the UTC date when not given)."""
    spec = list_spec(model, inactive_after_days, today)
    rest, aq = attrs.parse_attr_query(params)
    query = parse_list_query(rest, spec)
    entity = model.__name__.lower()
    fk_name = f"{entity}_id"
    defs = await attrs.definitions(db, entity) if not aq.empty else {}
    stmt = apply_list_query(stmt, query, spec)
    for cond in attrs.conditions(defs, model.id, getattr(AttributeValue, fk_name), aq):
        stmt = stmt.where(cond)
    if aq.sort:
        stmt, order = attrs.ordered(stmt, defs, model.id, fk_name, spec.sortable, aq)
    else:
        order = [spec.sortable[k].desc() if d else spec.sortable[k].asc() for k, d in query.sort]
    order.append(model.id.asc())
    return stmt, order, query


async def page_records(
    db: AsyncSession,
    stmt: Select[Any],
    model: type[Company] | type[Person],
    params: dict[str, str],
    inactive_after_days: int,
    today: date | None = None,
) -> Page[Any]:
    """A page of ``stmt`` (scoped companies or persons), filtered and sorted as
    :func:`filtered_records` says."""
    stmt, order, query = await filtered_records(db, stmt, model, params, inactive_after_days, today)
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = await db.scalars(stmt.order_by(*order).limit(query.limit).offset(query.offset))
    return Page(list(rows.unique()), int(total or 0), query.limit, query.offset)


async def get_visible(
    db: AsyncSession, policies: PolicyRegistry, principal: Principal, model: type[R], record_id: int
) -> R:
    """The record if ``principal`` may see it; NotFound otherwise (no difference is shown)."""
    stmt = policies.scope(principal, model, select(model).where(model.id == record_id))
    obj: R | None = await db.scalar(stmt)
    if obj is None:
        raise NotFound(f"{model.__name__.lower()} {record_id} not found")
    return obj


@dataclass(frozen=True)
class Candidate:
    """A record whose phone matched a caller ID."""

    type: str
    id: int
    display_name: str
    phone_kind: str


def _lookup_branches() -> tuple[Select[Any], Select[Any]]:
    """Persons and companies having ``:e164``, unscoped, with their phone's kind."""
    e164 = bindparam("e164", type_=String())
    persons_q = cast(
        "Select[Any]",
        select(
            literal("person").label("type"),
            Person.id.label("id"),
            Person.given_name.label("a"),
            Person.family_name.label("b"),
            Phone.kind.label("kind"),
        )
        .join(Phone, Phone.person_id == Person.id)
        .where(Phone.e164 == e164),
    )
    companies_q = cast(
        "Select[Any]",
        select(
            literal("company").label("type"),
            Company.id.label("id"),
            Company.name.label("a"),
            literal("").label("b"),
            Phone.kind.label("kind"),
        )
        .join(Phone, Phone.company_id == Company.id)
        .where(Phone.e164 == e164),
    )
    return persons_q, companies_q


def _lookup_statement(scoped: bool, *, arrays: bool = False) -> Any:
    """The caller-ID lookup, built once: persons and companies having ``:e164``, in one
    ``UNION ALL``; ``scoped``: narrowed by :func:`policies.cte_condition` (the principal's
    lenders, grants and lent teams read once, in a CTE of the same statement); ``arrays``: its
    list parameters are PostgreSQL arrays, so its SQL text never changes."""
    persons_q, companies_q = _lookup_branches()
    if scoped:
        scope = scope_cte(arrays=arrays)
        persons_q = persons_q.where(cte_condition(Person, scope, arrays=arrays))
        companies_q = companies_q.where(cte_condition(Company, scope, arrays=arrays))
    return union_all(persons_q, companies_q)


def _lookup_resolved(*, arrays: bool) -> Any:
    """The caller-ID lookup narrowed by a scope given as values
    (:func:`policies.resolved_condition`), with one more row, ``type = 'epoch'``, carrying
    ``access_epoch.n`` read in the same snapshot (see :mod:`crm_core.crm.scope_cache`)."""
    persons_q, companies_q = _lookup_branches()
    epoch = select(
        literal("epoch").label("type"),
        AccessEpoch.n.label("id"),
        literal("").label("a"),
        literal("").label("b"),
        literal("").label("kind"),
    ).where(AccessEpoch.id == 1)
    return union_all(
        persons_q.where(resolved_condition(Person, arrays=arrays)),
        companies_q.where(resolved_condition(Company, arrays=arrays)),
        epoch,
    )


_LOOKUP_ALL = _lookup_statement(scoped=False)
_LOOKUP_SCOPED = _lookup_statement(scoped=True)
_LOOKUP_ARRAYS = _lookup_statement(scoped=True, arrays=True)
_LOOKUP_RESOLVED = _lookup_resolved(arrays=False)
_LOOKUP_RESOLVED_ARRAYS = _lookup_resolved(arrays=True)


class _DriverStatement(NamedTuple):
    """A statement compiled once for one dialect: its SQL text, the names of its positional
    parameters in order, and the values of those fixed when it was built (literals)."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]


_DRIVER_SQL: dict[tuple[int, str], _DriverStatement] = {}


def _driver_statement(stmt: Any, dialect: Any) -> _DriverStatement:
    key = (id(stmt), dialect.name)
    found = _DRIVER_SQL.get(key)
    if found is None:
        compiled = stmt.compile(dialect=dialect)
        found = _DRIVER_SQL[key] = _DriverStatement(
            str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)
        )
    return found


def record_policies(policies: PolicyRegistry) -> bool:
    """Persons and companies are governed by the CRM's own :class:`RecordPolicy` (whose scope
    :func:`resolve_scope` resolves); another registered policy is applied as it is."""
    return all(
        type(cast("object", policies.policy(model))) is RecordPolicy for model in (Person, Company)
    )


async def lookup_phone(
    db: AsyncSession | AsyncConnection,
    policies: PolicyRegistry,
    principal: Principal,
    e164: str,
    *,
    cached_scope: bool = True,
) -> list[Candidate]:
    """Persons and companies visible to ``principal`` having ``e164``: one statement, indexed.

    The statement is built once, with the principal as bind parameters, so it is cheap to
    compile and, prepared, to plan: one round trip. A non-administrator's scope comes from
    :class:`ScopeCache` (values checked against ``access_epoch`` in the same statement; read
    again when it moved); with ``cached_scope=False``, or while scope changes keep racing the
    lookup, it is read in a CTE of the statement itself (:func:`policies.cte_condition`).
    """
    conn = db if isinstance(db, AsyncConnection) else await db.connection()
    if not record_policies(policies):
        persons_q, companies_q = _lookup_branches()
        stmt = union_all(
            policies.scope(principal, Person, persons_q),
            policies.scope(principal, Company, companies_q),
        )
        return _candidates((await conn.execute(stmt, {"e164": e164})).all())
    if principal.is_admin or cached_scope:
        for _attempt in range(2):
            plan = await lookup_plan(conn, policies, principal, e164)
            assert plan is not None  # the CRM's own policies (checked above)
            found = accept_lookup(plan, await _run_lookup(conn, plan.statement, plan.params))
            if found is not None:
                return found
            # a grant, delegation, team or role changed meanwhile: the scope is read again
    rows = await _run_lookup(conn, _LOOKUP_SCOPED, {"e164": e164, **scope_params(principal)})
    return _candidates(rows)


class LookupPlan(NamedTuple):
    """The caller-ID lookup of one principal as a statement to run — alone or inside a larger
    one (the screen pop's) — with its parameters and what its rows must show to be trusted."""

    statement: Any  # select type, id, a, b, kind (and, with ``epoch``, one 'epoch' row)
    params: dict[str, Any]
    epoch: int | None  # the access_epoch the cached scope was read at; None: nothing to check
    principal: Principal
    conn: AsyncConnection


async def lookup_plan(
    conn: AsyncConnection, policies: PolicyRegistry, principal: Principal, e164: str
) -> LookupPlan | None:
    """What :func:`lookup_phone` runs first for ``principal``, for a caller that embeds it in a
    statement of its own (PostgreSQL form when ``conn`` is PostgreSQL). None when only
    :func:`lookup_phone` can answer (another policy than the CRM's own governs the records).
    Check the rows with :func:`accept_lookup`."""
    if not record_policies(policies):
        return None
    if principal.is_admin:
        return LookupPlan(_LOOKUP_ALL, {"e164": e164}, None, principal, conn)
    cache = ScopeCache.of(conn)
    entry = cache.get(principal) or await cache.load(conn, principal)
    stmt = _LOOKUP_RESOLVED
    if conn.dialect.name == "postgresql":
        stmt = _ARRAY_FORMS[id(stmt)]
    return LookupPlan(stmt, {"e164": e164, **entry.scope.params()}, entry.epoch, principal, conn)


def accept_lookup(plan: LookupPlan, rows: Sequence[Any]) -> list[Candidate] | None:
    """The candidates of ``plan``'s rows; None when the scope changed since it was cached (the
    rows may be wrong: ask :func:`lookup_phone`, which reads the scope again)."""
    if plan.epoch is None:
        return _candidates(rows)
    if any(r.type == "epoch" and r.id == plan.epoch for r in rows):
        return _candidates([r for r in rows if r.type != "epoch"])
    ScopeCache.of(plan.conn).forget(plan.principal)
    return None


def driver_statement(
    stmt: Any, conn: AsyncConnection, params: dict[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """``stmt`` compiled once for ``conn``'s dialect (cached by identity: build it once) and
    its positional arguments from ``params``: for ``exec_driver_sql`` on a hot path."""
    driver = _driver_statement(stmt, conn.dialect)
    return driver.sql, tuple(params[n] if n in params else driver.fixed[n] for n in driver.names)


def driver_sql(stmt: Any, dialect: Any) -> tuple[str, int]:
    """``stmt``'s driver SQL for ``dialect`` (as :func:`driver_statement` runs it) and its
    number of positional parameters."""
    driver = _driver_statement(stmt, dialect)
    return driver.sql, len(driver.names)


def scoped_lookup_pg() -> Any:
    """The lookup :func:`lookup_plan` gives a non-administrator on PostgreSQL."""
    return _LOOKUP_RESOLVED_ARRAYS


# The PostgreSQL form of each statement: the same SQL text whatever the principal.
_ARRAY_FORMS = {id(_LOOKUP_SCOPED): _LOOKUP_ARRAYS, id(_LOOKUP_RESOLVED): _LOOKUP_RESOLVED_ARRAYS}


async def _run_lookup(conn: AsyncConnection, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
    if conn.dialect.name == "postgresql":
        # The hottest read of the platform (every ringing call): its SQL text, compiled once,
        # goes to the driver as it is (asyncpg prepares it once per connection), without
        # SQLAlchemy's per-execution compile-cache lookup and list-parameter expansion.
        sql, args = driver_statement(_ARRAY_FORMS.get(id(stmt), stmt), conn, params)
        return (await conn.exec_driver_sql(sql, args)).all()
    return (await conn.execute(stmt, params)).all()


def _candidates(rows: Sequence[Any]) -> list[Candidate]:
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for row in sorted(rows, key=lambda r: (r.type != "person", r.id)):
        if (row.type, row.id) in seen:
            continue
        seen.add((row.type, row.id))
        name = " ".join(p for p in (row.a, row.b) if p)
        out.append(Candidate(row.type, row.id, name, row.kind))
    return out
