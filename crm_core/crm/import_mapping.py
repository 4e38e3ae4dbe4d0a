"""The column mapping of an import: which of our fields comes from which column, and a row's body.

A row becomes the same request body the API takes (``CompanyIn``/``PersonIn``); ``Located``
remembers which column each part of the body came from, so that an error found by the model or
by the service rules can be reported against the column a person sees. Custom attributes are
mapped as ``attr.<name>``; whether such an attribute exists is checked against the database
before the first row is read (see ``importing.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_core.crm.import_files import Table, cell_text
from crm_core.errors import InvalidInput

__all__ = ["ATTR_PREFIX", "COMMON_FIELDS", "FIELDS", "Kind", "Located", "Mapping", "parse_mapping"]

Kind = Literal["companies", "persons"]

# Our field -> phone or e-mail kind; one column each.
PHONE_FIELDS = {"phone": "work", "mobile": "mobile", "home_phone": "home", "fax": "fax"}
EMAIL_FIELDS = {"email": "work", "home_email": "home"}
# Resolved to ids by name (or id; owner: username or id), then checked by the usual rules.
ASSIGN_FIELDS = {"territory": "territory_id", "team": "team_id", "owner": "owner_id"}
# Resolved to an id by name (case-insensitive) or id, like a territory; then checked (in use).
SOURCE_FIELDS = {"lead_source": "lead_source_id"}
COMMON_FIELDS = (
    frozenset(PHONE_FIELDS)
    | frozenset(EMAIL_FIELDS)
    | frozenset(ASSIGN_FIELDS)
    | frozenset(SOURCE_FIELDS)
    | {"external_id", "lead_source_note"}
)
# ``attr.<name>`` maps a column to the custom attribute <name> of the imported kind.
ATTR_PREFIX = "attr."
_ATTR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
FIELDS: dict[Kind, frozenset[str]] = {
    "companies": COMMON_FIELDS
    | {
        "code",
        "name",
        "vat_number",
        "trade_register_number",
        "industry",
        "employee_count",
        "turnover",
        "description",
        "website",
        "status",
        "roles",
    },
    "persons": COMMON_FIELDS
    | {
        "given_name",
        "family_name",
        "nickname",
        "salutation",
        "title",
        "birth_date",
        "language",
        "id_card_number",
        "company_code",
        "job_title",
    },
}
_LINK_FIELDS = {"company_code": "companies.0", "job_title": "companies.0.job_title"}
_REF_TARGETS = {**ASSIGN_FIELDS, **SOURCE_FIELDS, **_LINK_FIELDS}
_SPLIT = re.compile(r"[,;|]")


@dataclass(frozen=True)
class Mapping:
    """Our field -> column index, validated against the file's header."""

    kind: Kind
    columns: dict[str, int]

    @property
    def attributes(self) -> list[str]:
        """The custom attribute names mapped (``attr.<name>``), sorted."""
        return sorted(k[len(ATTR_PREFIX) :] for k in self.columns if k.startswith(ATTR_PREFIX))


@dataclass
class Located:
    """A row's body and, for each of its parts (``phones.0``, ``code`` ...), the column label."""

    body: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def column_of(self, loc: str) -> str | None:
        """The column of a body location such as ``phones.0.number`` or ``territory_id``."""
        parts = loc.split(".")
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            if key in self.where:
                return self.where[key]
        return None


def parse_mapping(raw: str, kind: Kind, table: Table) -> Mapping:
    """The ``mapping`` form field (a JSON object) checked against ``kind`` and the header."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidInput(
            f"mapping: not valid JSON ({err})", details={"field": "mapping"}
        ) from None
    if not isinstance(data, dict) or not data:
        raise InvalidInput(
            'mapping: give a JSON object of our field -> column, e.g. {"name": "Company"}',
            details={"field": "mapping"},
        )
    allowed = FIELDS[kind]
    unknown = sorted(k for k in data if k not in allowed and not k.startswith(ATTR_PREFIX))
    if unknown:
        raise InvalidInput(
            f"mapping: unknown field(s) {', '.join(unknown)} for {kind}; "
            f"known fields are {', '.join(sorted(allowed))} and {ATTR_PREFIX}<attribute name>",
            details={"field": "mapping", "unknown": unknown},
        )
    malformed = sorted(
        k for k in data if k.startswith(ATTR_PREFIX) and not _ATTR_NAME.match(k[len(ATTR_PREFIX) :])
    )
    if malformed:
        raise InvalidInput(
            f"mapping: {', '.join(malformed)} is not a custom attribute name; write "
            f"{ATTR_PREFIX}<name> with the attribute's name (lower-case letters, digits, _)",
            details={"field": "mapping", "unknown": malformed},
        )
    columns: dict[str, int] = {}
    for key, ref in data.items():
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInput(
                f"mapping: {key} must name a column (header text or letter)",
                details={"field": "mapping"},
            )
        columns[key] = table.column(ref)
    if kind == "companies":
        missing = [k for k in ("code", "name") if k not in columns]
        if missing:
            raise InvalidInput(
                f"mapping: companies need a column for {' and '.join(missing)}",
                details={"field": "mapping", "missing": missing},
            )
    elif not {"given_name", "family_name"} & columns.keys():
        raise InvalidInput(
            "mapping: persons need a column for family_name or given_name",
            details={"field": "mapping", "missing": ["family_name"]},
        )
    if "job_title" in columns and "company_code" not in columns:
        raise InvalidInput(
            "mapping: job_title needs company_code (the company the person works for)",
            details={"field": "mapping", "missing": ["company_code"]},
        )
    return Mapping(kind, columns)


def locate(mapping: Mapping, table: Table, cells: list[Any]) -> Located:
    """The row's body (before references are resolved): empty cells are left out."""
    out = Located()
    for key, index in mapping.columns.items():
        text = cell_text(cells[index]) if index < len(cells) else ""
        label = table.label(index)
        if key.startswith(ATTR_PREFIX):
            name = key[len(ATTR_PREFIX) :]
            # Located even when empty: a required attribute left blank is reported at its column.
            out.where[f"attributes.{name}"] = label
            if text:
                out.body.setdefault("attributes", {})[name] = text
            continue
        if not text:
            continue
        if key in PHONE_FIELDS:
            phones = out.body.setdefault("phones", [])
            out.where[f"phones.{len(phones)}"] = label
            phones.append({"kind": PHONE_FIELDS[key], "number": text})
        elif key in EMAIL_FIELDS:
            emails = out.body.setdefault("emails", [])
            out.where[f"emails.{len(emails)}"] = label
            emails.append({"kind": EMAIL_FIELDS[key], "address": text})
        elif key in _REF_TARGETS:
            out.refs[key] = text
            out.where[_REF_TARGETS[key]] = label
        elif key == "roles":
            out.body["roles"] = [r.strip().lower() for r in _SPLIT.split(text) if r.strip()]
            out.where["roles"] = label
        else:
            out.body[key] = text.lower() if key == "status" else text
            out.where[key] = label
    return out
