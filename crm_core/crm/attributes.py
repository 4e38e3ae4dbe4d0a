"""Custom attributes of companies and persons: typed values, filters and sorting in SQL.

An administrator defines attributes per entity type (``company``, ``person``) with a type (text,
number, date, choice, boolean). A value is stored in the column of its type in
``attribute_values``, so that ``?attr.<name>=``, ``attr.<name>__gte=`` / ``__lte=`` and
``sort=attr.<name>`` compare typed values in the database, on indexes (definition, value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm.ext_models import AttributeDefinition, AttributeType, AttributeValue
from crm_core.errors import InvalidInput

__all__ = [
    "PREFIX",
    "AttrQuery",
    "apply_values",
    "definitions",
    "merge_values",
    "parse_attr_query",
    "typed",
    "values_out",
]

PREFIX = "attr."
_MAX_NUMBER = Decimal("1e17")
_OPS = {
    AttributeType.TEXT: ("eq", "in", "contains"),
    AttributeType.CHOICE: ("eq", "in"),
    AttributeType.NUMBER: ("eq", "gte", "lte"),
    AttributeType.DATE: ("eq", "gte", "lte"),
    AttributeType.BOOLEAN: ("eq",),
}


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


def _param(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"query parameter {name!r} {message}", details={"parameter": name})


async def definitions(db: AsyncSession, entity: str) -> dict[str, AttributeDefinition]:
    """The attribute definitions of ``entity`` (company or person) by name."""
    rows = await db.scalars(
        select(AttributeDefinition).where(AttributeDefinition.entity_type == entity)
    )
    return {d.name: d for d in rows}


def _column(defn: AttributeDefinition) -> Any:
    kind = defn.type
    if kind == AttributeType.NUMBER:
        return AttributeValue.value_number
    if kind == AttributeType.DATE:
        return AttributeValue.value_date
    if kind == AttributeType.BOOLEAN:
        return AttributeValue.value_bool
    return AttributeValue.value_text


def _number(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("must be a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not value.is_finite() or abs(value) >= _MAX_NUMBER:
        raise ValueError("must be a finite number below 10^17")
    return value.quantize(Decimal("0.000001"))


def _date(raw: Any) -> date:
    if not isinstance(raw, str):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("must be a date written YYYY-MM-DD") from None
    if not 1900 <= value.year <= 9000:
        raise ValueError("must be between the years 1900 and 9000")
    return value


def typed(defn: AttributeDefinition, raw: Any, *, from_query: bool = False) -> Any:
    """``raw`` as the Python value of ``defn``'s type; ValueError says what is wrong."""
    kind = defn.type
    if kind == AttributeType.NUMBER:
        return _number(raw)
    if kind == AttributeType.DATE:
        return _date(raw)
    if kind == AttributeType.BOOLEAN:
        if from_query and isinstance(raw, str) and raw.lower() in {"true", "false"}:
            return raw.lower() == "true"
        if not isinstance(raw, bool):
            raise ValueError("must be true or false")
        return raw
    if not isinstance(raw, str):
        raise ValueError("must be text")
    text = raw.strip()
    if kind == AttributeType.CHOICE:
        if text not in defn.choices:
            raise ValueError(f"must be one of: {', '.join(map(str, defn.choices))}")
        return text
    if len(text) > 500:
        raise ValueError("must be at most 500 characters")
    return text


def _store(row: AttributeValue, defn: AttributeDefinition, value: Any) -> None:
    row.value_text = row.value_number = row.value_date = row.value_bool = None
    setattr(row, _column(defn).key, value)


def _shown(defn: AttributeDefinition, row: AttributeValue) -> Any:
    value = getattr(row, _column(defn).key)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def values_out(rows: list[AttributeValue]) -> dict[str, Any]:
    """The stored attributes of a record as ``{name: value}`` (numbers as JSON numbers)."""
    return {r.definition.name: _shown(r.definition, r) for r in rows}


async def apply_values(
    db: AsyncSession,
    entity: str,
    rows: list[AttributeValue],
    given: dict[str, Any],
    *,
    creating: bool,
) -> list[AttributeValue]:
    """``rows`` changed by ``given`` (null removes a value); InvalidInput names the attribute.

    On creation every required attribute must be given; later a required one cannot be removed.
    """
    return merge_values(await definitions(db, entity), rows, given, creating=creating)


def merge_values(
    defs: dict[str, AttributeDefinition],
    rows: list[AttributeValue],
    given: dict[str, Any],
    *,
    creating: bool,
) -> list[AttributeValue]:
    """:func:`apply_values` with the definitions already loaded (an import loads them once)."""
    by_def = {r.definition_id: r for r in rows}
    for name in sorted(given):
        field = f"attributes.{name}"
        defn = defs.get(name)
        if defn is None:
            known = ", ".join(sorted(defs)) or "none defined"
            raise _bad(field, f"unknown attribute (known: {known})")
        raw = given[name]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if defn.required:
                raise _bad(field, "is required")
            by_def.pop(defn.id, None)
            continue
        try:
            value = typed(defn, raw)
        except ValueError as err:
            raise _bad(field, str(err)) from None
        row = by_def.get(defn.id)
        if row is None:
            row = AttributeValue(definition_id=defn.id)
            row.definition = defn
            by_def[defn.id] = row
        _store(row, defn, value)
    if creating:
        for name, defn in sorted(defs.items()):
            if defn.required and defn.id not in by_def:
                raise _bad(f"attributes.{name}", "is required")
    return [by_def[k] for k in sorted(by_def)]


@dataclass(frozen=True)
class AttrQuery:
    """The ``attr.*`` filters and the full sort of a list request."""

    filters: tuple[tuple[str, str, str], ...]
    sort: tuple[tuple[str, bool], ...]

    @property
    def empty(self) -> bool:
        """True when the request uses no custom attribute."""
        return not self.filters and not any(k.startswith(PREFIX) for k, _ in self.sort)


def parse_attr_query(params: dict[str, str]) -> tuple[dict[str, str], AttrQuery]:
    """Split ``attr.*`` filters and the sort off ``params`` (checked later against definitions)."""
    rest: dict[str, str] = {}
    filters: list[tuple[str, str, str]] = []
    sort: list[tuple[str, bool]] = []
    for key, raw in params.items():
        if key.startswith(PREFIX):
            name, sep, op = key[len(PREFIX) :].partition("__")
            if sep and op == "eq":
                raise _param(key, "is unknown; write equality as attr.<name>=value")
            filters.append((name, op or "eq", raw))
        elif key == "sort":
            for part in (p.strip() for p in raw.split(",")):
                if part:
                    sort.append((part.lstrip("-+"), part.startswith("-")))
        else:
            rest[key] = raw
    return rest, AttrQuery(tuple(filters), tuple(sort))


def conditions(
    defs: dict[str, AttributeDefinition], owner: Any, fk: Any, query: AttrQuery
) -> list[ColumnElement[bool]]:
    """SQL conditions of the ``attr.*`` filters: ``owner`` (a record id) in a subquery."""
    out: list[ColumnElement[bool]] = []
    for name, op, raw in query.filters:
        key = f"{PREFIX}{name}" + ("" if op == "eq" else f"__{op}")
        defn = defs.get(name)
        if defn is None:
            raise _param(key, f"names no attribute; known: {', '.join(sorted(defs)) or 'none'}")
        ops = _OPS[AttributeType(defn.type)]
        if op not in ops:
            allowed = ", ".join("=" if o == "eq" else f"__{o}" for o in ops)
            raise _param(key, f"is not allowed for a {defn.type} attribute (use {allowed})")
        col = _column(defn)
        try:
            if op == "in":
                values = [typed(defn, v, from_query=True) for v in raw.split(",") if v != ""]
                cond = col.in_(values)
            elif op == "contains":
                cond = func.lower(col).contains(raw[:500].lower(), autoescape=True)
            else:
                value = typed(defn, raw, from_query=True)
                if op == "gte":
                    cond = col >= value
                elif op == "lte":
                    cond = col <= value
                else:
                    cond = col == value
        except ValueError as err:
            raise _param(key, str(err)) from None
        out.append(owner.in_(select(fk).where(AttributeValue.definition_id == defn.id, cond)))
    return out


def ordered(
    stmt: Select[Any],
    defs: dict[str, AttributeDefinition],
    owner: Any,
    fk_name: str,
    sortable: Mapping[str, Any],
    query: AttrQuery,
) -> tuple[Select[Any], list[Any]]:
    """``stmt`` joined to the sorted attributes, and the ORDER BY terms (missing values last)."""
    order: list[Any] = []
    for key, desc in query.sort:
        if key.startswith(PREFIX):
            defn = defs.get(key[len(PREFIX) :])
            if defn is None:
                raise InvalidInput(
                    f"cannot sort by {key!r}: no such attribute",
                    details={"parameter": "sort", "allowed": [f"{PREFIX}{n}" for n in defs]},
                )
            alias = aliased(AttributeValue)
            stmt = stmt.outerjoin(
                alias,
                (getattr(alias, fk_name) == owner) & (alias.definition_id == defn.id),
            )
            col = getattr(alias, _column(defn).key)
            order.append(col.desc().nulls_last() if desc else col.asc().nulls_last())
        elif key in sortable:
            order.append(sortable[key].desc() if desc else sortable[key].asc())
        else:
            allowed = [*sortable, *(f"{PREFIX}{n}" for n in defs)]
            raise InvalidInput(
                f"cannot sort by {key!r}; sortable fields: {', '.join(allowed)}",
                details={"parameter": "sort", "allowed": allowed},
            )
    return stmt, order


# The ``attr.*`` list parameters, for the OpenAPI description of lists and exports.
ATTR_QUERY = {
    "attr.<name>": "custom attribute equals (text, number, date, choice, boolean)",
    "attr.<name>__gte": "number or date attribute at least",
    "attr.<name>__lte": "number or date attribute at most",
    "attr.<name>__in": "text or choice attribute is one of (comma-separated)",
    "attr.<name>__contains": "text attribute contains",
}
