"""Queries of the CRM: list specifications, scoped loading, caller-ID lookup and quick search."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm import attributes as attrs
from crm_core.crm import phones as phone_rules
from crm_core.crm.ext_models import AttributeValue, Contract, HeldProduct
from crm_core.crm.finance_models import Invoice, InvoiceKind, InvoiceStatus, Payment
from crm_core.crm.models import (
    Company,
    CompanyRole,
    CompanyRoleName,
    CompanyStatus,
    Email,
    Employment,
    Person,
    Phone,
    company_categories,
    person_categories,
)
from crm_core.crm.policies import (
    RecordPolicy,
    cte_condition,
    resolve_scope,
    resolved_condition,
    scope_cte,
    scope_params,
)
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
    "filtered_records",
    "get_visible",
    "lifecycle_of",
    "list_spec",
    "lookup_phone",
    "page_records",
    "search_records",
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


def _lifecycle_filter(model: type[Company] | type[Person], days: int) -> FilterSpec:
    def condition(op: str, value: Any) -> ColumnElement[bool]:
        expr = lifecycle_of(model, datetime.now(UTC).date(), days)
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


def list_spec(model: type[Company] | type[Person], inactive_after_days: int) -> ListSpec:
    """The company or person list with the lifecycle filter over the configured period."""
    base = COMPANY_LIST if model is Company else PERSON_LIST
    if inactive_after_days == DEFAULT_INACTIVE_DAYS:
        return base
    filters = {**base.filters, "lifecycle": _lifecycle_filter(model, inactive_after_days)}
    return replace(base, filters=filters)


async def filtered_records(
    db: AsyncSession,
    stmt: Select[Any],
    model: type[Company] | type[Person],
    params: dict[str, str],
    inactive_after_days: int,
) -> tuple[Select[Any], list[Any], ListQuery]:
    """``stmt`` (scoped companies or persons) with the list's filters and ``attr.*`` filters,
    the order its sort asks for (ordinary fields and custom attributes, see attributes.py; the id
    last, so the order is total) and the parsed query for its paging."""
    spec = list_spec(model, inactive_after_days)
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
) -> Page[Any]:
    """A page of ``stmt`` (scoped companies or persons), filtered and sorted as
    :func:`filtered_records` says."""
    stmt, order, query = await filtered_records(db, stmt, model, params, inactive_after_days)
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


def _lookup_statement(scoped: bool) -> Any:
    """The caller-ID lookup, built once: persons and companies having ``:e164``, in one
    ``UNION ALL``; ``scoped``: narrowed by :func:`policies.cte_condition` (the principal's
    lenders, grants and lent teams read once, in a CTE of the same statement)."""
    persons_q, companies_q = _lookup_branches()
    if scoped:
        scope = scope_cte()
        persons_q = persons_q.where(cte_condition(Person, scope))
        companies_q = companies_q.where(cte_condition(Company, scope))
    return union_all(persons_q, companies_q)


_LOOKUP_ALL = _lookup_statement(scoped=False)
_LOOKUP_SCOPED = _lookup_statement(scoped=True)


def _record_policies(policies: PolicyRegistry) -> bool:
    """Persons and companies are governed by the CRM's own :class:`RecordPolicy` (whose scope
    :func:`resolve_scope` resolves); another registered policy is applied as it is."""
    return all(
        type(cast("object", policies.policy(model))) is RecordPolicy for model in (Person, Company)
    )


async def lookup_phone(
    db: AsyncSession | AsyncConnection, policies: PolicyRegistry, principal: Principal, e164: str
) -> list[Candidate]:
    """Persons and companies visible to ``principal`` having ``e164``: one statement, indexed.

    The statement is built once, with the principal as bind parameters and its scope read in a
    CTE of the same statement (:func:`policies.cte_condition`), so it is cheap to compile and,
    prepared, to plan: one round trip.
    """
    params: dict[str, Any] = {"e164": e164}
    if not _record_policies(policies):
        persons_q, companies_q = _lookup_branches()
        stmt = union_all(
            policies.scope(principal, Person, persons_q),
            policies.scope(principal, Company, companies_q),
        )
    elif principal.is_admin:
        stmt = _LOOKUP_ALL
    else:
        stmt = _LOOKUP_SCOPED
        params.update(scope_params(principal))
    # Core execution on the session's connection: no ORM entities to build.
    conn = db if isinstance(db, AsyncConnection) else await db.connection()
    result = await conn.execute(stmt, params)
    rows = result.all()
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for row in sorted(rows, key=lambda r: (r.type != "person", r.id)):
        if (row.type, row.id) in seen:
            continue
        seen.add((row.type, row.id))
        name = " ".join(p for p in (row.a, row.b) if p)
        out.append(Candidate(row.type, row.id, name, row.kind))
    return out


def _phone_match(owner: Any, fk: Any, text: str, region: str) -> ColumnElement[bool] | None:
    """``owner`` has a phone equal to ``text`` in E.164, or containing its significant digits."""
    if not phone_rules.looks_like_phone(text):
        return None
    conds: list[ColumnElement[bool]] = []
    e164 = phone_rules.try_normalise(text, region)
    if e164 is not None:
        conds.append(Phone.e164 == e164)
    digits = phone_rules.digits_for_search(text)
    if len(digits) >= 4:
        conds.append(Phone.e164.contains(digits, autoescape=True))
    if not conds:
        return None
    return owner.in_(select(fk).where(or_(*conds)))  # type: ignore[no-any-return]


def _contains(col: Any, needle: str) -> ColumnElement[bool]:
    return func.lower(col).contains(needle, autoescape=True)


def _person_match(text: str, region: str) -> ColumnElement[bool]:
    needle = text.lower()
    conds = [
        _contains(Person.given_name + " " + Person.family_name, needle),
        _contains(Person.family_name + " " + Person.given_name, needle),
        _contains(Person.nickname, needle),
        Person.id.in_(
            select(Email.person_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = _phone_match(Person.id, Phone.person_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


def _like(col: Any, needle: str, *, ignore_case: bool = False) -> ColumnElement[bool]:
    """``col`` contains ``needle`` (escaped as ``autoescape`` does), the pattern written into the
    SQL so that PostgreSQL plans each search for its own pattern (a trigram index for a rare
    one, not a generic plan)."""
    pattern = "%" + needle.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    value = literal(pattern, literal_execute=True)
    expr = col.ilike(value, escape="/") if ignore_case else col.like(value, escape="/")
    return cast("ColumnElement[bool]", expr)


def _person_ids_matching(text: str, region: str) -> Any:
    """Ids of exactly the persons :func:`_person_match` accepts, as a ``UNION`` of one match per
    column, each of which a trigram index serves on PostgreSQL (migration 0007):
    ``x IN (a UNION b)`` is ``x IN a OR x IN b``.

    The name arm keeps :func:`_person_match`'s own conditions and adds a wider one the indexes
    can answer: every space-free word of the text lies inside the lower-cased given or family
    name (a word cannot span the one space between them), and ``ILIKE`` compares lower-cased.
    """
    needle = text.lower()
    exact_names = or_(
        _contains(Person.given_name + " " + Person.family_name, needle),
        _contains(Person.family_name + " " + Person.given_name, needle),
    )
    words = [w for w in needle.split(" ") if _indexable(w)]
    by_name = and_(
        *(
            or_(
                _like(Person.given_name, w, ignore_case=True),
                _like(Person.family_name, w, ignore_case=True),
            )
            for w in words
        ),
        exact_names,
    )
    by_nickname = and_(
        _like(Person.nickname, needle, ignore_case=True), _contains(Person.nickname, needle)
    )
    arms: list[Any] = [
        select(Person.id).where(or_(by_name, by_nickname) if words else by_nickname),
        select(Email.person_id).where(Email.person_id.is_not(None), _like(Email.address, needle)),
    ]
    if phone_rules.looks_like_phone(text):
        conds: list[ColumnElement[bool]] = []
        e164 = phone_rules.try_normalise(text, region)
        if e164 is not None:
            conds.append(Phone.e164 == e164)
        digits = phone_rules.digits_for_search(text)
        if len(digits) >= 4:
            conds.append(_like(Phone.e164, digits))
        if conds:
            arms.append(select(Phone.person_id).where(Phone.person_id.is_not(None), or_(*conds)))
    return union(*arms)


def _indexable(text: str) -> bool:
    """A trigram index can narrow a ``LIKE '%text%'``: three letters or digits in a row."""
    run = 0
    for ch in text:
        run = run + 1 if ch.isalnum() else 0
        if run >= 3:
            return True
    return False


def _company_match(text: str, region: str) -> ColumnElement[bool]:
    needle = text.lower()
    conds = [
        _contains(Company.name, needle),
        _contains(Company.code, needle),
        _contains(Company.vat_number, needle),
        Company.id.in_(
            select(Email.company_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = _phone_match(Company.id, Phone.company_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


async def search_records(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    text: str,
    region: str,
    limit: int,
) -> tuple[list[Company], list[Person]]:
    """Companies and persons visible to ``principal`` matching ``text`` (at most ``limit`` each).

    The principal's scope is read first as values (:func:`policies.resolve_scope`), so that
    PostgreSQL sees three small ``IN`` lists instead of sub-queries and plans from the matches.
    """
    params: dict[str, Any] = {}
    if _record_policies(policies):
        scope = await resolve_scope(db, principal)

        def scoped(model: type[Any], stmt: Select[Any]) -> Select[Any]:
            return stmt if scope.everything else stmt.where(resolved_condition(model))

        if not scope.everything:
            params = scope.params()
    else:

        def scoped(model: type[Any], stmt: Select[Any]) -> Select[Any]:
            return policies.scope(principal, model, stmt)

    cstmt = scoped(Company, select(Company).where(_company_match(text, region)))
    # Substring matches over many persons: with three letters or digits in a row, collect the
    # matching ids from the trigram indexes (one indexed match per column) and sort only those;
    # a shorter text matches so many persons that walking the name order and stopping at the
    # limit is quicker.
    if not _indexable(text):
        match = _person_match(text, region)
    elif db.get_bind().dialect.name == "postgresql":
        # ``id = ANY(ARRAY(...))``: the matches are read into an array first and fetched by
        # primary key, instead of a hash join that reads all of ``persons`` for a few thousand.
        ids = _person_ids_matching(text, region).subquery()
        match = Person.id == any_(func.array(select(ids.c[0]).scalar_subquery()))
    else:
        match = Person.id.in_(_person_ids_matching(text, region))
    pstmt = scoped(Person, select(Person).where(match))
    companies = list(
        (await db.scalars(cstmt.order_by(Company.name, Company.id).limit(limit), params)).unique()
    )
    persons = list(
        (
            await db.scalars(
                pstmt.order_by(Person.family_name, Person.given_name, Person.id).limit(limit),
                params,
            )
        ).unique()
    )
    return companies, persons
