"""HTTP handlers of the CRM exports (CSV streamed batch by batch, XLSX built off the loop)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.attributes import ATTR_QUERY
from crm_core.crm.export import (
    COMPANIES,
    CRM_EXPORT,
    PERSONS,
    XLSX_MAX_ROWS,
    ExportFormat,
    ExportKind,
    ExportService,
    XlsxWriter,
    csv_chunk,
    parse_export_query,
)
from crm_core.crm.service import CrmService
from crm_core.errors import InvalidInput
from crm_core.httpapi import ApiRegistry, Handler, audit_context, principal, query_once

__all__ = ["register"]


def _service(request: web.Request) -> ExportService:
    app = request.app
    return ExportService(CrmService.configured(app[SESSIONS], app[POLICIES], app[SETTINGS]))


def _handler(kind: ExportKind) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        fmt, params = parse_export_query(query_once(request))
        who = principal(request)
        service = _service(request)
        # Counting first checks every parameter before the answer starts streaming.
        total = await service.count(who, kind, params)
        if fmt is ExportFormat.XLSX and total > XLSX_MAX_ROWS:
            raise InvalidInput(
                f"{total} {kind.noun} match: too many for one XLSX sheet ({XLSX_MAX_ROWS}); "
                "export as CSV or narrow the filters",
                details={"parameter": "format"},
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"{kind.noun}-{stamp}.{fmt.value}"
        response = web.StreamResponse(
            headers={
                "Content-Type": fmt.media_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            }
        )
        header = service.header(kind)
        rows = 0
        if fmt is ExportFormat.CSV:
            response.enable_chunked_encoding()
            await response.prepare(request)
            # A BOM so that spreadsheet programs read the file as UTF-8 (Greek, Persian names).
            await response.write(b"\xef\xbb\xbf" + csv_chunk([], header=header))
            async for batch in service.rows(who, kind, params):
                rows += len(batch)
                await response.write(csv_chunk(batch))
        else:
            book = XlsxWriter(kind.noun, header)
            async for batch in service.rows(who, kind, params):
                rows += len(batch)
                await book.append(batch)
            data = await book.save()
            try:
                await response.prepare(request)
                while chunk := data.read(256 * 1024):
                    await response.write(chunk)
            finally:
                data.close()
        await service.audit(who, audit_context(request), kind, fmt, params, rows)
        await response.write_eof()
        return response

    handler.__name__ = f"export_{kind.noun}"
    handler.__doc__ = f"Export the {kind.noun} in my scope as CSV or XLSX."
    return handler


export_companies = _handler(COMPANIES)
export_persons = _handler(PERSONS)


def register(api: ApiRegistry) -> None:
    """Declare the export endpoints."""
    for kind, handler in ((COMPANIES, export_companies), (PERSONS, export_persons)):
        api.route(
            "GET",
            f"/api/{kind.noun}/export",
            summary=f"Export the {kind.noun} in my scope (CSV or XLSX)",
            tag="crm",
            permission=CRM_EXPORT,
            list_spec=kind.spec,
            paged=False,
            media_types=(
                "text/csv",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            errors=(400, 401, 403),
            extra_query={"format": "csv (default) or xlsx", **ATTR_QUERY},
            description=(
                "The list's filters, search and sort apply; no paging. Sensitive fields are "
                "masked as in the API. Cells that a spreadsheet would run as formulas are "
                "prefixed with an apostrophe. Every export is written to the audit log."
            ),
        )(handler)
