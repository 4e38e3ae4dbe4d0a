"""HTTP handlers of the CSV/XLSX import (multipart uploads) and of the ERP sync API."""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass, field
from typing import IO, cast

from aiohttp import BodyPartReader, web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS
from crm_core.crm.import_files import open_table
from crm_core.crm.import_mapping import FIELDS, Kind, parse_mapping
from crm_core.crm.import_schemas import (
    ImportOut,
    SyncBatchIn,
    SyncBatchOut,
    SyncCustomerIn,
    SyncInvoiceIn,
    SyncItemOut,
    SyncPaymentIn,
)
from crm_core.crm.importing import ImportOptions, ImportService, OnDuplicate
from crm_core.crm.policies import CRM_WRITE
from crm_core.crm.sync import CRM_SYNC, SyncService
from crm_core.errors import InvalidInput, UnsupportedMediaType
from crm_core.httpapi import (
    ApiRegistry,
    Handler,
    audit_context,
    json_ok,
    principal,
    read_body,
)

__all__ = ["register"]

_FORM_FIELDS = ("mapping", "dry_run", "on_duplicate", "sheet", "encoding")
_MAX_FIELD = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_EXTERNAL_RE = re.compile(r"^[^\s/]{1,100}$")


@dataclass
class _Upload:
    file: IO[bytes]
    filename: str = ""
    has_file: bool = False
    fields: dict[str, str] = field(default_factory=dict)


async def _read_form(request: web.Request, limit: int) -> _Upload:
    """The multipart form: the file spooled to disk past 1 MiB, the other fields as text."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the import as multipart/form-data with a 'file' part and a 'mapping' field "
            f"(got {request.content_type or 'none'})"
        )
    upload = _Upload(tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY))  # noqa: SIM115
    total = 0
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise InvalidInput("nested multipart parts are not supported")
            name = part.name or ""
            if name == "file":
                if upload.has_file:
                    raise InvalidInput("send one file per import", details={"field": "file"})
                upload.has_file = True
                upload.filename = part.filename or ""
                while chunk := await part.read_chunk(64 * 1024):
                    total += len(chunk)
                    if total > limit:
                        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=total)
                    upload.file.write(chunk)
            elif name in _FORM_FIELDS:
                raw = await part.read()
                total += len(raw)
                if len(raw) > _MAX_FIELD or total > limit:
                    raise InvalidInput(
                        f"the form field {name!r} is too long", details={"field": name}
                    )
                try:
                    upload.fields[name] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput(
                        f"the form field {name!r} is not UTF-8 text", details={"field": name}
                    ) from None
            else:
                raise InvalidInput(
                    f"unknown form field {name!r}; send file, {', '.join(_FORM_FIELDS)}",
                    details={"field": name},
                )
    except ValueError as err:
        upload.file.close()
        raise InvalidInput(f"the multipart body is malformed: {err}") from None
    except BaseException:
        upload.file.close()
        raise
    if not upload.has_file:
        upload.file.close()
        raise InvalidInput("attach the file as the form part 'file'", details={"field": "file"})
    if "mapping" not in upload.fields:
        upload.file.close()
        raise InvalidInput(
            "give the form field 'mapping': a JSON object of our field -> column, "
            'e.g. {"name": "B"}',
            details={"field": "mapping"},
        )
    return upload


def _options(fields: dict[str, str]) -> ImportOptions:
    dry = fields.get("dry_run", "false").strip().lower()
    if dry not in _TRUE | _FALSE:
        raise InvalidInput("dry_run must be true or false", details={"field": "dry_run"})
    on_duplicate = fields.get("on_duplicate", "skip").strip().lower()
    if on_duplicate not in ("skip", "update", "error"):
        raise InvalidInput(
            "on_duplicate must be skip, update or error", details={"field": "on_duplicate"}
        )
    return ImportOptions(dry_run=dry in _TRUE, on_duplicate=cast(OnDuplicate, on_duplicate))


async def _import(request: web.Request, kind: Kind) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    upload = await _read_form(request, settings.max_body_bytes)
    try:
        options = _options(upload.fields)
        # Opening an XLSX reads its zip directory and shared strings: CPU work off the loop.
        table = await asyncio.to_thread(
            open_table,
            upload.file,
            upload.filename,
            sheet=upload.fields.get("sheet") or None,
            encoding=upload.fields.get("encoding") or None,
        )
        try:
            mapping = parse_mapping(upload.fields["mapping"], kind, table)
            service = ImportService(app[SESSIONS], app[POLICIES], app[BUS], settings.default_region)
            report = await service.run(
                principal(request), table, mapping, options, audit_context(request)
            )
        finally:
            table.close()
    finally:
        upload.file.close()
    if report.errors and not report.dry_run:
        raise InvalidInput(
            f"the import was not applied — nothing was written: {len(report.errors)} row(s) "
            f"have errors (first: row {report.errors[0].row}: {report.errors[0].message})",
            details={"report": report.model_dump(mode="json")},
        )
    return json_ok(report)


async def import_companies(request: web.Request) -> web.Response:
    """Import companies with their phones and e-mails from a CSV or XLSX file."""
    return await _import(request, "companies")


async def import_persons(request: web.Request) -> web.Response:
    """Import persons with their phones, e-mails and company links from a CSV or XLSX file."""
    return await _import(request, "persons")


# -- ERP sync ------------------------------------------------------------------------------


def _sync(request: web.Request) -> SyncService:
    app = request.app
    return SyncService(app[SESSIONS], app[POLICIES], app[SETTINGS].default_region)


def _external_id(request: web.Request) -> str:
    raw = request.match_info["external_id"]
    if not _EXTERNAL_RE.match(raw):
        raise InvalidInput(
            "external_id: 1 to 100 characters without spaces or '/'",
            details={"field": "external_id"},
        )
    return raw


async def sync_customer(request: web.Request) -> web.Response:
    """Create or update a company or person by the ERP's id; the same payload twice changes
    nothing."""
    external_id = _external_id(request)
    body = await read_body(request, SyncCustomerIn)
    item = await _sync(request).customer(
        principal(request), external_id, body, audit_context(request)
    )
    return json_ok(item)


async def sync_invoice(request: web.Request) -> web.Response:
    """Create or update an invoice by the ERP's id; the same payload twice changes nothing."""
    external_id = _external_id(request)
    body = await read_body(request, SyncInvoiceIn)
    item = await _sync(request).invoice(
        principal(request), external_id, body, audit_context(request)
    )
    return json_ok(item)


async def sync_payment(request: web.Request) -> web.Response:
    """Create or update a payment by the ERP's id, with allocations by invoice external id."""
    external_id = _external_id(request)
    body = await read_body(request, SyncPaymentIn)
    item = await _sync(request).payment(
        principal(request), external_id, body, audit_context(request)
    )
    return json_ok(item)


async def sync_batch(request: web.Request) -> web.Response:
    """Upsert invoices, then payments, in one transaction."""
    body = await read_body(request, SyncBatchIn)
    out = await _sync(request).batch(principal(request), body, audit_context(request))
    return json_ok(out)


def _describe_import(kind: Kind) -> str:
    fields = ", ".join(sorted(FIELDS[kind]))
    return (
        "multipart/form-data with the parts: `file` (CSV — `,` `;` or tab separated, UTF-8 "
        "with or without BOM, else cp1253, else latin-1 — or XLSX), `mapping` (JSON object: "
        f"our field -> column header or letter; fields: {fields}, and `attr.<name>` for a "
        "custom attribute — an unknown one is a 400 before any row is read), `dry_run` "
        "(true|false), "
        "`on_duplicate` (skip|update|error, default skip), `sheet` (XLSX sheet name, default "
        "the first), `encoding` (CSV, to override detection). The upload may be up to the "
        "configured max_body_bytes. A real import is one transaction: any row error writes "
        "nothing and answers 400 with the report in `details.report`. See docs/crm.md."
    )


def register(api: ApiRegistry) -> None:
    """Declare the import and sync endpoints."""
    imports: tuple[tuple[Kind, Handler], ...] = (
        ("companies", import_companies),
        ("persons", import_persons),
    )
    for kind, handler in imports:
        api.route(
            "POST",
            f"/api/imports/{kind}",
            summary=f"Import {kind} from a CSV or XLSX file (multipart; dry run, de-duplication)",
            tag="crm-import",
            permission=CRM_WRITE,
            body=None,
            response=ImportOut,
            audited=True,
            errors=(400, 401, 403, 413, 415),
            description=_describe_import(kind),
        )(handler)
    for noun, handler, body in (
        ("customer", sync_customer, SyncCustomerIn),
        ("invoice", sync_invoice, SyncInvoiceIn),
        ("payment", sync_payment, SyncPaymentIn),
    ):
        api.route(
            "PUT",
            rf"/api/sync/{noun}s/{{external_id:[^/]+}}",
            summary=f"Create or update a {noun} by the ERP's external id (idempotent)",
            tag="crm-sync",
            permission=CRM_SYNC,
            body=body,
            response=SyncItemOut,
            audited=True,
            errors=(400, 401, 403, 404, 409, 415),
            description="`result` is created, updated or unchanged (the same payload again).",
        )(handler)
    api.route(
        "POST",
        "/api/sync/batch",
        summary="Upsert customers, invoices, then payments, by external id in one transaction",
        tag="crm-sync",
        permission=CRM_SYNC,
        body=SyncBatchIn,
        response=SyncBatchOut,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
        description="All or nothing: an error names the item (`invoices.2.amount`).",
    )(sync_batch)
