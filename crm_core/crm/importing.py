"""Import of companies and persons with their phones and e-mails from CSV and XLSX files.

Each row is validated by the API's own request models (``CompanyIn``/``PersonIn``) and the same
service rules (phone normalisation, record assignment, company links, lead sources, custom
attribute types), then checked for duplicates — against the database and the rows before it — by
normalised phone, e-mail, external id, tax number and company code. The whole import is one
transaction: a dry run, or a real run with any row error, is rolled back, so nothing is ever
half-imported. Progress goes to the importing user's browser sockets every ``progress_every``
rows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.bus.ports import EventBus
from crm_core.crm import attributes as attrs
from crm_core.crm import rules
from crm_core.crm.ext_models import LeadSource
from crm_core.crm.import_files import Table
from crm_core.crm.import_mapping import ATTR_PREFIX, Located, Mapping, locate
from crm_core.crm.import_records import (
    Definitions,
    check_external_id,
    create_record,
    find_matches,
    typed_attributes,
    update_record,
)
from crm_core.crm.import_schemas import ImportOut, ImportRowError
from crm_core.crm.models import Company, Territory
from crm_core.crm.schemas import CompanyIn, PersonIn
from crm_core.db import utcnow
from crm_core.errors import CallboardError, InvalidInput
from crm_core.push import push_to_users
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Team, User
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["MAX_ERRORS", "PROGRESS_EVERY", "ImportOptions", "ImportService", "OnDuplicate"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 500
# Rows read from the file per worker-thread call (parsing XLSX XML is CPU work).
READ_BATCH = 200


async def _read_rows(rows: Iterator[tuple[int, list[Any]]]) -> AsyncIterator[tuple[int, list[Any]]]:
    """``rows`` read in batches in a worker thread, so parsing never blocks the event loop."""
    while True:
        batch = await asyncio.to_thread(lambda: list(islice(rows, READ_BATCH)))
        if not batch:
            return
        for item in batch:
            yield item


MAX_ERRORS = 1000
OnDuplicate = Literal["skip", "update", "error"]
# Clearer than the schema's pattern message, for the fields a person types by hand.
_HINTS = {"external_id": "must be 1 to 100 characters without spaces or '/'"}


@dataclass(frozen=True)
class ImportOptions:
    """How to run an import."""

    dry_run: bool = False
    on_duplicate: OnDuplicate = "skip"


class _RowError(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class _Fatal(_RowError):
    """The transaction cannot go on (the database refused a write): stop at this row."""


@dataclass
class _Run:
    report: ImportOut
    # duplicate key ("phone:+30…") -> the row that created or updated a record with it
    seen: dict[str, int] = field(default_factory=dict)
    refs: dict[tuple[str, str], int] = field(default_factory=dict)
    # The custom attribute definitions of the imported kind, loaded in the import's session.
    defs: Definitions = field(default_factory=dict)


class ImportService:
    """Runs imports for one principal; the service is built per request."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        bus: EventBus,
        region: str,
        progress_every: int = PROGRESS_EVERY,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._bus = bus
        self._region = region
        self._every = progress_every

    async def run(
        self,
        principal: Principal,
        table: Table,
        mapping: Mapping,
        options: ImportOptions,
        ctx: AuditContext,
    ) -> ImportOut:
        """Import every row of ``table``; the report says what was (or would be) done."""
        run = _Run(
            ImportOut(
                import_id=uuid.uuid4().hex,
                dry_run=options.dry_run,
                rows=0,
                created=0,
                updated=0,
                skipped=0,
                errors=[],
                encoding=table.encoding,
                delimiter=table.delimiter,
            )
        )
        report = run.report
        dry = options.dry_run
        async with self._sessions() as db:
            # A dry run never flushes, so it reads but never writes: on SQLite it takes no write
            # lock and others may write meanwhile. Rows of the file are told apart by ``seen``.
            db.sync_session.autoflush = not dry
            tx = await db.begin()
            try:
                run.defs = await self._definitions(db, mapping)
                async for number, cells in _read_rows(table.rows):
                    if not any(c not in (None, "") for c in cells):
                        continue  # a blank line is no record
                    report.rows += 1
                    try:
                        await self._row(db, principal, mapping, table, cells, number, run, options)
                    except _RowError as err:
                        if len(report.errors) < MAX_ERRORS:
                            report.errors.append(
                                ImportRowError(row=number, column=err.column, message=err.message)
                            )
                        if isinstance(err, _Fatal):
                            break
                    if report.rows % self._every == 0:
                        if not dry:
                            await db.flush()
                        db.expunge_all()
                        await self._progress(principal, report, table.rows_total)
                if options.dry_run or report.errors:
                    await tx.rollback()
                else:
                    await record_audit(
                        db,
                        ctx,
                        action=f"{mapping.kind}.import",
                        principal=principal,
                        object_type="import",
                        object_id=report.import_id,
                        details={
                            "rows": report.rows,
                            "created": report.created,
                            "updated": report.updated,
                            "skipped": report.skipped,
                        },
                    )
                    await tx.commit()
            except BaseException:
                await tx.rollback()
                raise
        await self._progress(principal, report, report.rows)
        log.info(
            "import %s of %s by user %s: %s rows, %s created, %s updated, %s skipped, %s errors%s",
            report.import_id,
            mapping.kind,
            principal.user_id,
            report.rows,
            report.created,
            report.updated,
            report.skipped,
            len(report.errors),
            " (dry run)" if options.dry_run else "",
        )
        return report

    @staticmethod
    async def _definitions(db: AsyncSession, mapping: Mapping) -> Definitions:
        """The attribute definitions; an ``attr.<name>`` mapped that names none is a 400 here,
        before any row is read."""
        defs = await attrs.definitions(db, _entity(mapping))
        unknown = [n for n in mapping.attributes if n not in defs]
        if unknown:
            names = ", ".join(f"{ATTR_PREFIX}{n}" for n in unknown)
            known = ", ".join(f"{ATTR_PREFIX}{n}" for n in sorted(defs)) or "none is defined"
            raise InvalidInput(
                f"mapping: no custom attribute {names} for {mapping.kind} (defined: {known}; "
                "administrators define them under /api/attribute-definitions)",
                details={"field": "mapping", "unknown": [f"{ATTR_PREFIX}{n}" for n in unknown]},
            )
        return defs

    async def _progress(self, principal: Principal, report: ImportOut, total: int | None) -> None:
        await push_to_users(
            self._bus,
            (principal.user_id,),
            {
                "type": "import.progress",
                "import_id": report.import_id,
                "rows_done": report.rows,
                "rows_total": total,
            },
        )

    # -- one row -----------------------------------------------------------------------------

    async def _row(
        self,
        db: AsyncSession,
        principal: Principal,
        mapping: Mapping,
        table: Table,
        cells: list[Any],
        number: int,
        run: _Run,
        options: ImportOptions,
    ) -> None:
        located = locate(mapping, table, cells)
        await self._resolve(db, principal, located, run)
        model = CompanyIn if mapping.kind == "companies" else PersonIn
        try:
            body = model.model_validate(located.body)
        except ValidationError as err:
            first = err.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            message = _HINTS.get(loc, first["msg"])
            raise _RowError(
                located.column_of(loc), f"{loc + ': ' if loc else ''}{message}"
            ) from None
        try:
            await self._apply(db, principal, mapping, located, body, number, run, options)
        except CallboardError as err:
            loc = str(err.details.get("field", ""))
            raise _RowError(located.column_of(loc), err.message) from None

    async def _resolve(
        self, db: AsyncSession, principal: Principal, located: Located, run: _Run
    ) -> None:
        """Territory, team, owner and lead source by name or id; a company link by code (in my
        scope)."""
        refs: tuple[tuple[str, str, Any, Any, str], ...] = (
            ("territory", "territory_id", Territory, Territory.name, "territory"),
            ("team", "team_id", Team, Team.name, "team"),
            ("owner", "owner_id", User, User.username, "owner"),
            ("lead_source", "lead_source_id", LeadSource, LeadSource.name, "lead source"),
        )
        for key, target, model, column, what in refs:
            text = located.refs.get(key)
            if text is None:
                continue
            cache_key = (key, text.casefold())
            if cache_key not in run.refs:
                stmt = select(model.id).where(
                    model.id == int(text) if text.isdigit() else func.lower(column) == text.lower()
                )
                found = await db.scalar(stmt.limit(1))
                if found is None:
                    by = "username" if key == "owner" else "name"
                    raise _RowError(located.where[target], f"no {what} {text!r} (by {by} or id)")
                run.refs[cache_key] = found
            located.body[target] = run.refs[cache_key]
        code = located.refs.get("company_code")
        if code is not None:
            stmt = self._policies.scope(
                principal, Company, select(Company.id).where(Company.code == code)
            )
            company_id = await db.scalar(stmt)
            if company_id is None:
                raise _RowError(located.where["companies.0"], f"no company with code {code!r}")
            link: dict[str, Any] = {"company_id": company_id, "is_primary": True}
            if "job_title" in located.refs:
                link["job_title"] = located.refs["job_title"]
            located.body["companies"] = [link]

    async def _apply(
        self,
        db: AsyncSession,
        principal: Principal,
        mapping: Mapping,
        located: Located,
        body: CompanyIn | PersonIn,
        number: int,
        run: _Run,
        options: ImportOptions,
    ) -> None:
        report = run.report
        phones = rules.build_phones(body.phones, self._region)
        emails = rules.build_emails(body.emails)
        attributes = typed_attributes(run.defs, body.attributes)
        await check_external_id(db, mapping.kind, body.external_id)
        keys = [f"phone:{p.e164}" for p in phones] + [f"email:{e.address}" for e in emails]
        if body.external_id is not None:
            keys.append(f"external_id:{body.external_id}")
        if isinstance(body, CompanyIn):
            keys.append(f"code:{body.code}")
            if body.vat_number and body.vat_number.strip():
                keys.append(f"vat:{body.vat_number.strip()}")
        else:
            if not (body.given_name.strip() or body.family_name.strip()):
                raise InvalidInput(
                    "give a family name or a given name", details={"field": "family_name"}
                )
            if body.birth_date is not None and not (
                body.birth_date.year >= 1900 and body.birth_date <= utcnow().date()
            ):
                raise InvalidInput(
                    "birth_date: must be between 1900-01-01 and today",
                    details={"field": "birth_date"},
                )
        earlier = next((run.seen[k] for k in keys if k in run.seen), None)
        matches = await find_matches(db, mapping.kind, body, phones, emails)
        if matches or earlier is not None:
            why = f"duplicates row {earlier}" if earlier is not None else "already exists"
            what = "company" if mapping.kind == "companies" else "person"
            if options.on_duplicate == "error":
                raise _RowError(
                    None,
                    f"this {what} {why} (same phone, e-mail, external id, tax number or code)",
                )
            if options.on_duplicate == "skip":
                report.skipped += 1
                return
            if len(matches) > 1:
                ids = ", ".join(str(i) for i in sorted(matches))
                raise _RowError(None, f"matches several {what} records ({ids}); fix them first")
            if not matches:
                # A dry run: the earlier row's record exists only in this unflushed session.
                report.updated += 1
                return
            await update_record(
                db,
                self._policies,
                principal,
                mapping.kind,
                body,
                phones,
                emails,
                attributes,
                run.defs,
                matches.pop(),
            )
            report.updated += 1
        else:
            await create_record(
                db, self._policies, principal, body, phones, emails, attributes, run.defs
            )
            report.created += 1
        if not options.dry_run:
            try:
                await db.flush()
            except IntegrityError:
                raise _Fatal(
                    None, "clashes with another record (company code or external id?)"
                ) from None
        for k in keys:
            run.seen.setdefault(k, number)


def _entity(mapping: Mapping) -> str:
    """The entity type of attribute definitions: ``company`` or ``person``."""
    return "company" if mapping.kind == "companies" else "person"
