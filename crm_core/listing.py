"""List conventions every list endpoint follows: pagination, sorting, filtering, free-text search.

Query string: ``limit`` (1-200, default 50), ``offset`` (default 0), ``sort`` (comma-separated field
names, ``-`` for descending, e.g. ``sort=-created_at,username``), ``q`` (free text, where the list
supports it) and filters ``<field>=<value>`` (equality), ``<field>__in=a,b``, ``<field>__gte=``,
``<field>__lte=`` and ``<field>__contains=`` as each list declares them. Unknown parameters,
fields and bad values are answered with 400 naming the parameter. Answer: ``{"items", "total",
"limit", "offset"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core.errors import InvalidInput

__all__ = [
    "MAX_LIMIT",
    "FilterSpec",
    "ListQuery",
    "ListSpec",
    "Page",
    "paginate",
    "parse_list_query",
]

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
Kind = Literal["str", "int", "bool", "datetime", "choice"]
_OPS = ("eq", "in", "gte", "lte", "contains")


@dataclass(frozen=True)
class FilterSpec:
    """A filterable field: its column, value kind and allowed operators."""

    column: Any
    kind: Kind = "str"
    ops: tuple[str, ...] = ("eq",)
    choices: tuple[str, ...] = ()
    description: str = ""
    # For filters that are not a plain column comparison (membership in a related table, ...).
    condition: Callable[[str, Any], ColumnElement[bool]] | None = None


@dataclass(frozen=True)
class ListSpec:
    """What one list endpoint allows."""

    sortable: Mapping[str, Any]
    default_sort: tuple[str, ...]
    filters: Mapping[str, FilterSpec] = field(default_factory=dict)
    search: Sequence[Any] = ()
    tiebreak: Any = None

    def parameter_names(self) -> list[str]:
        """Every query parameter this list accepts."""
        names = ["limit", "offset", "sort"]
        if self.search:
            names.append("q")
        for name, spec in self.filters.items():
            for op in spec.ops:
                names.append(name if op == "eq" else f"{name}__{op}")
        return names


@dataclass(frozen=True)
class ListQuery:
    """A parsed, validated list request."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: tuple[tuple[str, bool], ...] = ()
    filters: tuple[tuple[str, str, Any], ...] = ()
    q: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


def _int(name: str, raw: str, lo: int, hi: int | None) -> int:
    try:
        if not re.fullmatch(r"-?[0-9]{1,20}", raw):
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise InvalidInput(
            f"query parameter {name!r} must be a whole number", details={"parameter": name}
        ) from None
    if value < lo or (hi is not None and value > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise InvalidInput(f"query parameter {name!r} must be {bound}", details={"parameter": name})
    return value


def _value(name: str, spec: FilterSpec, raw: str) -> Any:
    if spec.kind == "int":
        return _int(name, raw, -(2**63), 2**63 - 1)
    if spec.kind == "bool":
        low = raw.lower()
        if low in {"true", "1", "yes"}:
            return True
        if low in {"false", "0", "no"}:
            return False
        raise InvalidInput(
            f"query parameter {name!r} must be true or false", details={"parameter": name}
        )
    if spec.kind == "datetime":
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(
                f"query parameter {name!r} must be an ISO 8601 date-time with a time zone",
                details={"parameter": name},
            ) from None
        if value.tzinfo is None:
            raise InvalidInput(
                f"query parameter {name!r} needs a time zone (e.g. Z or +02:00)",
                details={"parameter": name},
            )
        try:
            value.astimezone(UTC)  # what the database layer will do; year 1 or 9999 may overflow
        except OverflowError:
            raise InvalidInput(
                f"query parameter {name!r} is out of range", details={"parameter": name}
            ) from None
        return value
    if spec.kind == "choice" and raw not in spec.choices:
        raise InvalidInput(
            f"query parameter {name!r} must be one of: {', '.join(spec.choices)}",
            details={"parameter": name, "allowed": list(spec.choices)},
        )
    if len(raw) > 500:
        raise InvalidInput(f"query parameter {name!r} is too long", details={"parameter": name})
    return raw


def parse_list_query(params: Mapping[str, str], spec: ListSpec) -> ListQuery:
    """Validate a query string against ``spec``; raise InvalidInput naming the bad parameter."""
    limit, offset = DEFAULT_LIMIT, 0
    sort: list[tuple[str, bool]] = []
    filters: list[tuple[str, str, Any]] = []
    q: str | None = None
    for name, raw in params.items():
        if name == "limit":
            limit = _int(name, raw, 1, MAX_LIMIT)
        elif name == "offset":
            offset = _int(name, raw, 0, 10_000_000)
        elif name == "sort":
            for part in (p.strip() for p in raw.split(",")):
                if not part:
                    continue
                desc = part.startswith("-")
                key = part.lstrip("-+")
                if key not in spec.sortable:
                    raise InvalidInput(
                        f"cannot sort by {key!r}; sortable fields: {', '.join(spec.sortable)}",
                        details={"parameter": "sort", "allowed": list(spec.sortable)},
                    )
                sort.append((key, desc))
        elif name == "q" and spec.search:
            q = raw.strip()[:200] or None
        else:
            field_name, sep, op = name.partition("__")
            op = op or "eq"
            fspec = spec.filters.get(field_name)
            # Equality is written as the bare field name only (no "__eq").
            if fspec is None or op not in fspec.ops or (sep and op == "eq"):
                raise InvalidInput(
                    f"unknown query parameter {name!r}; allowed: "
                    f"{', '.join(spec.parameter_names())}",
                    details={"parameter": name, "allowed": spec.parameter_names()},
                )
            if op == "in":
                values = [_value(name, fspec, v) for v in raw.split(",") if v != ""]
                filters.append((field_name, op, values))
            else:
                filters.append((field_name, op, _value(name, fspec, raw)))
    if not sort:
        sort = [(k.lstrip("-"), k.startswith("-")) for k in spec.default_sort]
    return ListQuery(limit, offset, tuple(sort), tuple(filters), q)


def _condition(fspec: FilterSpec, op: str, value: Any) -> ColumnElement[bool]:
    if fspec.condition is not None:
        return fspec.condition(op, value)
    col = fspec.column
    if op == "eq":
        return col == value  # type: ignore[no-any-return]
    if op == "in":
        return col.in_(value)  # type: ignore[no-any-return]
    if op == "gte":
        return col >= value  # type: ignore[no-any-return]
    if op == "lte":
        return col <= value  # type: ignore[no-any-return]
    if op == "contains":
        return func.lower(col).contains(str(value).lower(), autoescape=True)
    raise AssertionError(op)


def apply_list_query(stmt: Select[Any], query: ListQuery, spec: ListSpec) -> Select[Any]:
    """``stmt`` with the query's filters and search applied (no ordering or paging)."""
    for name, op, value in query.filters:
        stmt = stmt.where(_condition(spec.filters[name], op, value))
    if query.q and spec.search:
        needle = query.q.lower()
        stmt = stmt.where(
            or_(*(func.lower(c).contains(needle, autoescape=True) for c in spec.search))
        )
    return stmt


async def paginate(
    db: AsyncSession, stmt: Select[Any], query: ListQuery, spec: ListSpec
) -> Page[Any]:
    """Run ``stmt`` filtered, sorted and paged as ``query`` says; count the total too."""
    stmt = apply_list_query(stmt, query, spec)
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    order = [spec.sortable[k].desc() if desc else spec.sortable[k].asc() for k, desc in query.sort]
    if spec.tiebreak is not None:
        order.append(spec.tiebreak.asc())
    rows = await db.scalars(stmt.order_by(*order).limit(query.limit).offset(query.offset))
    return Page(list(rows.unique()), int(total or 0), query.limit, query.offset)
