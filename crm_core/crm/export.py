"""Export of companies and persons as CSV or XLSX, within the caller's scope.

An export is the list endpoint's query (filters, search, sort; no paging) run as one read,
streamed in batches, serialised through the same output models as the API so field masking is
identical (an agent without ``crm.sensitive`` exports no ID-card numbers). Every export is written
to the audit log with its filters and row count.

Cells are neutralised against spreadsheet formula injection: a value that a spreadsheet would run
as a formula (starting with ``=``, ``@``, a tab or carriage return, or ``+``/``-`` followed by
anything but a number) is prefixed with an apostrophe. Phone numbers such as ``+30 210 1234567``
stay as they are.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import func, select

from crm_core.crm import repository as repo
from crm_core.crm.models import Company, Person
from crm_core.crm.policies import CRM_SENSITIVE
from crm_core.crm.schemas import CompanyOut, PersonOut
from crm_core.crm.service import CrmService
from crm_core.errors import InvalidInput
from crm_core.listing import ListSpec
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Role
from crm_core.users.permissions import Permission, Principal, grant

__all__ = [
    "CRM_EXPORT",
    "XLSX_MAX_ROWS",
    "ExportFormat",
    "ExportKind",
    "ExportService",
    "cell_text",
    "parse_export_query",
]

CRM_EXPORT = Permission.define("crm.export", "export companies and persons in scope (CSV, XLSX)")
grant(Role.ADMIN, CRM_EXPORT)
grant(Role.SUPERVISOR, CRM_EXPORT)
grant(Role.CAMPAIGN_MANAGER, CRM_EXPORT)

BATCH = 500
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit less the header row
_SAFE_SIGNED = re.compile(r"^[+-][\d\s().\-/]*$")


class ExportFormat(StrEnum):
    """The file formats an export can have."""

    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        """The response's content type."""
        if self is ExportFormat.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class ExportKind:
    """What is exported: a model, its list rules and its output model."""

    noun: str
    model: type[Company] | type[Person]
    spec: ListSpec
    out: type[BaseModel]


COMPANIES = ExportKind("companies", Company, repo.COMPANY_LIST, CompanyOut)
PERSONS = ExportKind("persons", Person, repo.PERSON_LIST, PersonOut)


def parse_export_query(params: Mapping[str, str]) -> tuple[ExportFormat, dict[str, str]]:
    """The export's format and its list parameters (filters, ``attr.*``, search, sort); paging
    parameters are refused (an export is whole). The list parameters are checked when it runs."""
    rest = dict(params)
    raw = rest.pop("format", "csv")
    try:
        fmt = ExportFormat(raw.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"query parameter 'format' must be one of csv, xlsx (got {raw[:20]!r})",
            details={"parameter": "format", "allowed": [f.value for f in ExportFormat]},
        ) from None
    for name in ("limit", "offset"):
        if name in rest:
            raise InvalidInput(
                f"an export has no paging; remove {name!r} and narrow it with filters instead",
                details={"parameter": name},
            )
    return fmt, rest


def cell_text(value: Any) -> str:
    """One cell: scalars as text, lists joined by "; ", objects in a short readable form."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, Decimal | int | float):
        text = str(value)
    elif isinstance(value, list):
        text = "; ".join(_item_text(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return _neutralise(text)


def _item_text(item: Any) -> str:
    if not isinstance(item, dict):
        return cell_text(item)
    kind = item.get("kind")
    for key in ("number", "address"):
        if key in item:
            return f"{kind}: {item[key]}" if kind else str(item[key])
    if "street" in item:
        parts = [item.get("street"), item.get("postal_code"), item.get("city"), item.get("country")]
        text = ", ".join(str(p) for p in parts if p)
        return f"{kind}: {text}" if kind else text
    if "company_id" in item:
        title = item.get("job_title") or ""
        return f"{item['company_id']} ({title})" if title else str(item["company_id"])
    return json.dumps(
        {k: v for k, v in item.items() if k != "id"},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )


def _neutralise(text: str) -> str:
    if not text:
        return text
    first = text[0]
    if first in "=@\t\r" or (first in "+-" and not _SAFE_SIGNED.match(text)):
        return "'" + text
    return text


class ExportService:
    """Runs exports in the caller's scope, through the CRM service's scoped select."""

    def __init__(self, crm: CrmService) -> None:
        self._crm = crm

    def header(self, kind: ExportKind) -> list[str]:
        """The column names: the output model's fields, in order."""
        return list(kind.out.model_fields)

    async def count(self, principal: Principal, kind: ExportKind, params: dict[str, str]) -> int:
        """How many records the export will hold (checks the parameters too)."""
        async with self._crm.sessions() as db:
            today = self._crm.business_day()  # the lifecycle column and filter agree
            stmt, _order, _query = await repo.filtered_records(
                db,
                self._crm.scoped_select(principal, kind.model, today),
                kind.model,
                params,
                self._crm.inactive_after_days,
                today,
            )
            total = await db.scalar(
                select(func.count()).select_from(stmt.order_by(None).subquery())
            )
        return int(total or 0)

    async def rows(
        self, principal: Principal, kind: ExportKind, params: dict[str, str]
    ) -> AsyncIterator[list[list[str]]]:
        """The records as rows of cells, in batches, read in one transaction."""
        convert = self._converter(principal, kind)
        columns = self.header(kind)
        async with self._crm.sessions() as db:
            today = self._crm.business_day()  # the lifecycle column and filter agree
            stmt, order, _query = await repo.filtered_records(
                db,
                self._crm.scoped_select(principal, kind.model, today),
                kind.model,
                params,
                self._crm.inactive_after_days,
                today,
            )
            result = await db.stream_scalars(
                stmt.order_by(*order).execution_options(yield_per=BATCH)
            )
            async for batch in result.partitions(BATCH):
                yield [
                    [cell_text(dumped.get(c)) for c in columns]
                    for dumped in (convert(r).model_dump(mode="python") for r in batch)
                ]

    def _converter(self, principal: Principal, kind: ExportKind) -> Callable[[Any], BaseModel]:
        if kind.model is Person:

            def person(p: Person) -> BaseModel:
                return PersonOut.of(p, sensitive=self._crm.sees_sensitive(principal, p))

            return person
        return CompanyOut.of

    async def audit(
        self,
        principal: Principal,
        ctx: AuditContext,
        kind: ExportKind,
        fmt: ExportFormat,
        params: dict[str, str],
        rows: int,
    ) -> None:
        """Write the export to the audit log (who exported what, how many rows)."""
        async with self._crm.sessions() as db, db.begin():
            await record_audit(
                db,
                ctx,
                action="crm.export",
                principal=principal,
                status=200,
                object_type=kind.noun,
                details={
                    "format": fmt.value,
                    "rows": rows,
                    "query": params,
                    "sensitive": principal.has(CRM_SENSITIVE),
                },
            )


def csv_chunk(rows: Iterable[list[str]], *, header: list[str] | None = None) -> bytes:
    """Rows encoded as CSV (RFC 4180, CRLF line ends); the header first when given."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


class XlsxWriter:
    """A write-only workbook filled batch by batch off the event loop, saved to a temp file."""

    def __init__(self, title: str, header: list[str]) -> None:
        from openpyxl import Workbook

        self._wb = Workbook(write_only=True)
        self._ws = self._wb.create_sheet(title=title[:31])
        self._append([header])

    def _append(self, rows: list[list[str]]) -> None:
        from openpyxl.cell import WriteOnlyCell

        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(self._ws, value=value)
                cell.data_type = "s"  # never a formula, whatever the text starts with
                cells.append(cell)
            self._ws.append(cells)

    async def append(self, rows: list[list[str]]) -> None:
        """Add rows (in a worker thread: building cells is CPU work)."""
        await asyncio.to_thread(self._append, rows)

    async def save(self) -> IO[bytes]:
        """The finished file, rewound, in a spooled temporary file the caller closes."""

        def save() -> IO[bytes]:
            out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
            self._wb.save(out)
            out.seek(0)
            return out

        return await asyncio.to_thread(save)
