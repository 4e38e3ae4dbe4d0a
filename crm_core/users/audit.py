"""The audit log: who did what, when and from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.db import utcnow
from crm_core.users.models import AuditEntry, User
from crm_core.users.permissions import Principal

__all__ = ["AuditContext", "record_audit"]

_SECRET_WORDS = ("password", "secret", "token", "key", "authorization", "cookie")


@dataclass(frozen=True)
class AuditContext:
    """Where a change came from: the request's address, agent, method, path and id."""

    remote_addr: str | None = None
    user_agent: str | None = None
    method: str | None = None
    path: str | None = None
    request_id: str | None = None


def scrub(details: dict[str, Any]) -> dict[str, Any]:
    """Replace values under secret-looking keys by ``***`` (recursively)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            out[key] = "***"
        elif isinstance(value, dict):
            out[key] = scrub(value)
        else:
            out[key] = value
    return out


async def record_audit(
    db: AsyncSession,
    ctx: AuditContext,
    *,
    action: str,
    principal: Principal | None = None,
    user: User | None = None,
    username: str | None = None,
    status: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit entry to ``db``'s transaction (it commits with the change it describes)."""
    name: str | None
    if principal is not None:
        user_id: int | None = principal.user_id
        name = principal.username
    elif user is not None:
        user_id, name = user.id, user.username
    else:
        user_id, name = None, username
    entry = AuditEntry(
        at=at or utcnow(),
        user_id=user_id,
        username=name,
        action=action,
        method=ctx.method,
        path=(ctx.path or "")[:500] or None,
        status=status,
        object_type=object_type,
        object_id=object_id,
        remote_addr=ctx.remote_addr,
        user_agent=(ctx.user_agent or "")[:400] or None,
        request_id=ctx.request_id,
        details=scrub(details or {}),
    )
    db.add(entry)
    return entry
