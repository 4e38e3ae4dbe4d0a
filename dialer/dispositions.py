"""Disposition codes (global and per campaign) and the disposition an agent gives a call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.bus.events import utcnow
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Role
from crm_core.users.permissions import Permission, Principal, grant
from dialer.console_models import CallWrapup, DispositionCode
from dialer.events import CallWrappedUp
from dialer.wrapup import CALLS_WRAPUP, CallAccess, apply_wrapup, touch, wrapup_for

__all__ = ["DISPOSITIONS_MANAGE", "DispositionResult", "DispositionService"]

log = logging.getLogger(__name__)

DISPOSITIONS_MANAGE = Permission.define(
    "dispositions.manage", "create and change disposition codes"
)
grant(Role.SUPERVISOR, DISPOSITIONS_MANAGE)
grant(Role.ADMIN, DISPOSITIONS_MANAGE)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details={"field": field})


@dataclass(frozen=True)
class DispositionResult:
    """A disposition saved for a call."""

    wrapup: CallWrapup
    code: DispositionCode
    stored: CallWrappedUp | None  # set when the call is stored: publish it after the commit
    replaced: str | None

    @property
    def on_record(self) -> bool:
        """True when the disposition is on the stored call record already."""
        return self.stored is not None


class DispositionService:
    """Manages the codes and saves dispositions on calls."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], access: CallAccess) -> None:
        self._sessions = sessions
        self._access = access

    # -- codes -------------------------------------------------------------------------------

    async def effective(
        self, campaign_id: int | None, *, include_inactive: bool = False
    ) -> list[DispositionCode]:
        """The codes of a campaign: its own, plus the global ones it does not redefine."""
        stmt = select(DispositionCode).where(
            or_(DispositionCode.campaign_id.is_(None), DispositionCode.campaign_id == campaign_id)
            if campaign_id is not None
            else DispositionCode.campaign_id.is_(None)
        )
        if not include_inactive:
            stmt = stmt.where(DispositionCode.active.is_(True))
        async with self._sessions() as db:
            rows = list(await db.scalars(stmt))
        own = {r.code for r in rows if r.campaign_id is not None}
        kept = [r for r in rows if r.campaign_id is not None or r.code not in own]
        return sorted(kept, key=lambda r: (r.position, r.code, r.id))

    async def create_code(
        self, principal: Principal, values: dict[str, Any], ctx: AuditContext
    ) -> DispositionCode:
        """Add a code; its ``code`` is unique within its campaign (or among global codes)."""
        principal.require(DISPOSITIONS_MANAGE)
        try:
            async with session_scope(self._sessions) as db:
                await self._unique(db, values["campaign_id"], values["code"], None)
                row = DispositionCode(**values)
                db.add(row)
                await db.flush()
                await record_audit(
                    db,
                    ctx,
                    action="disposition_code.create",
                    principal=principal,
                    object_type="disposition_code",
                    object_id=str(row.id),
                    details={"code": row.code, "campaign_id": row.campaign_id},
                )
        except IntegrityError:
            raise self._taken(values["code"]) from None
        return row

    async def update_code(
        self, principal: Principal, code_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> DispositionCode:
        """Change a code (deactivate it rather than delete it: calls keep their codes)."""
        principal.require(DISPOSITIONS_MANAGE)
        try:
            async with session_scope(self._sessions) as db:
                row = await db.get(DispositionCode, code_id)
                if row is None:
                    raise NotFound(f"no disposition code {code_id}")
                if "code" in changes and changes["code"] != row.code:
                    await self._unique(db, row.campaign_id, changes["code"], row.id)
                for key, value in changes.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
                await record_audit(
                    db,
                    ctx,
                    action="disposition_code.update",
                    principal=principal,
                    object_type="disposition_code",
                    object_id=str(row.id),
                    details={"fields": sorted(changes)},
                )
        except IntegrityError:
            raise self._taken(str(changes.get("code"))) from None
        return row

    @staticmethod
    def _taken(code: str) -> Conflict:
        return Conflict(
            f"code {code!r} exists already for this campaign (or globally)",
            details={"field": "code"},
        )

    async def _unique(
        self, db: AsyncSession, campaign_id: int | None, code: str, own_id: int | None
    ) -> None:
        stmt = select(DispositionCode.id).where(DispositionCode.code == code)
        stmt = stmt.where(
            DispositionCode.campaign_id.is_(None)
            if campaign_id is None
            else DispositionCode.campaign_id == campaign_id
        )
        found = await db.scalar(stmt)
        if found is not None and found != own_id:
            raise self._taken(code)

    # -- dispositions on calls ---------------------------------------------------------------

    async def _valid_code(
        self, db: AsyncSession, code: str, campaign_id: int | None
    ) -> DispositionCode:
        stmt = select(DispositionCode).where(
            DispositionCode.code == code, DispositionCode.active.is_(True)
        )
        if campaign_id is None:
            stmt = stmt.where(DispositionCode.campaign_id.is_(None))
        else:
            stmt = stmt.where(
                or_(
                    DispositionCode.campaign_id.is_(None),
                    DispositionCode.campaign_id == campaign_id,
                )
            )
        rows = list(await db.scalars(stmt))
        if not rows:
            where = f"campaign {campaign_id}" if campaign_id is not None else "global codes"
            raise _bad("code", f"{code!r} is not an active disposition code ({where})")
        # A campaign's own code wins over a global one of the same name.
        return next((r for r in rows if r.campaign_id is not None), rows[0])

    async def dispose(
        self,
        principal: Principal,
        call_id: str,
        *,
        code: str,
        notes: str,
        campaign_id: int | None,
        ctx: AuditContext,
        db: AsyncSession,
    ) -> DispositionResult:
        """Save the disposition of a call (in ``db``'s transaction); a new one replaces the last.

        The wrap-up row is the durable copy; it is copied onto the call record and activity now
        when the call is stored already, else as soon as it is.
        """
        principal.require(CALLS_WRAPUP)
        call = await self._access.find(db, principal, call_id)
        row = await wrapup_for(db, call)
        if campaign_id is None:
            campaign_id = row.campaign_id
        found = await self._valid_code(db, code, campaign_id)
        replaced = row.code
        row.campaign_id = campaign_id
        row.code = found.code
        row.label = found.label
        row.category = found.category
        row.notes = notes
        row.disposition_user_id = principal.user_id
        row.disposition_at = utcnow()
        touch(row)
        await db.flush()
        stored = await apply_wrapup(db, row)
        await record_audit(
            db,
            ctx,
            action="call.disposition",
            principal=principal,
            object_type="call",
            object_id=call_id,
            details={"code": found.code, "replaced": replaced, "campaign_id": campaign_id},
        )
        log.info("call %s disposition %s by %s", call_id, found.code, principal.username)
        return DispositionResult(row, found, stored, replaced)
