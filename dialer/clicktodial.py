"""Click-to-dial: the agent's phone rings first; once it answers, the customer is dialled.

The request is refused with a clear reason before anything rings when the number is invalid, the
agent has no phone or is logged out, or the number is outside what the agent may call (a number of
a contact in the agent's record scope, or any number with ``calls.dial_any``). When the agent's
phone does not answer, the caller is told so. The call itself then flows back through the tracker
like any other, identified by its ``CRM_CALL_ID`` channel variable.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import repository as repo
from crm_core.crm.phones import normalise
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, PermissionDenied
from crm_core.settings import PbxConnection
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Role
from crm_core.users.permissions import Permission, PolicyRegistry, Principal, grant
from telephony.models import AgentState
from telephony.ports import OriginateSpec
from telephony.records import AgentPhone
from telephony.runtime import PbxRuntime

__all__ = ["CALLS_DIAL", "CALLS_DIAL_ANY", "ClickToDial", "DialResult", "dial_string"]

log = logging.getLogger(__name__)

CALLS_DIAL = Permission.define("calls.dial", "click-to-dial numbers of contacts in one's scope")
CALLS_DIAL_ANY = Permission.define("calls.dial_any", "click-to-dial any valid number")
grant(Role.AGENT, CALLS_DIAL)
grant(Role.SUPERVISOR, CALLS_DIAL, CALLS_DIAL_ANY)
grant(Role.ADMIN, CALLS_DIAL, CALLS_DIAL_ANY)

ANSWER_WAIT_S = 35.0  # the agent's phone rings up to RING_S; Asterisk then answers the Originate
RING_S = 25.0
_REASONS = {
    0: "the phone is not reachable",
    1: "the phone is not reachable",
    3: "your phone was not answered",
    5: "your phone is busy",
    8: "the phone is congested or unreachable",
}


@dataclass(frozen=True)
class DialResult:
    """A click-to-dial that reached the agent's phone."""

    crm_call_id: str
    pbx: str
    number: str
    dialled: str
    interface: str


def dial_string(e164: str, region: str) -> str:
    """What the outbound context is asked to dial.

    A number of the home region is sent as its national significant number (``2101234567``),
    any other as ``00`` + its international digits; trunk prefixes and routing belong to the
    dialplan of the outbound context (see deploy/asterisk).
    """
    parsed = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.national_significant_number(parsed)
    return "00" + e164.lstrip("+")


class ClickToDial:
    """Originates agent-first calls on the PBX where the agent has a phone."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        runtimes: dict[str, PbxRuntime],
        pbxes: dict[str, PbxConnection],
        *,
        region: str,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._runtimes = runtimes
        self._pbxes = pbxes
        self._region = region

    async def dial(
        self,
        principal: Principal,
        to: str,
        ctx: AuditContext,
        *,
        contact_kind: str | None = None,
        contact_id: int | None = None,
    ) -> DialResult:
        """Ring the agent's phone, then dial ``to``; raise a clear error when that cannot be."""
        principal.require(CALLS_DIAL)
        try:
            e164 = normalise(to, self._region)
        except ValueError as err:
            raise InvalidInput(f"invalid number: {err}", details={"field": "to"}) from None
        async with self._sessions() as db:
            phones = [
                p
                for p in await db.scalars(
                    select(AgentPhone).where(AgentPhone.user_id == principal.user_id)
                )
                if p.pbx in self._runtimes
            ]
            if not phones:
                raise Conflict(
                    "you have no phone on a connected PBX; ask an administrator to set it",
                    details={"reason": "no_phone"},
                )
            phone = phones[0]
            found = await repo.lookup_phone(db, self._policies, principal, e164)
        if contact_id is not None and not any(
            c.id == contact_id and (contact_kind is None or c.type == contact_kind) for c in found
        ):
            raise PermissionDenied(
                "this number is not a number of that contact (or the contact is not yours to call)",
                details={"reason": "not_allowed"},
            )
        if not found and not principal.has(CALLS_DIAL_ANY):
            raise PermissionDenied(
                "number not allowed: it is not the number of a contact you work with",
                details={"reason": "not_allowed"},
            )
        runtime = self._runtimes[phone.pbx]
        agent = next(
            (a for a in runtime.snapshot().agents if a.agent_id == str(principal.user_id)), None
        )
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            raise Conflict(
                "you are not logged in: log in to your queues first",
                details={"reason": "logged_out"},
            )
        pbx = self._pbxes[phone.pbx]
        crm_call_id = f"c2d-{secrets.token_hex(8)}"
        dialled = dial_string(e164, self._region)
        variables = {"CRM_CALL_ID": crm_call_id, "DIALTIMEOUT": "30"}
        if contact_id is not None:
            variables["CRM_CONTACT_ID"] = f"{contact_kind or 'person'}:{contact_id}"
        spec = OriginateSpec(
            channel=phone.interface,
            context=pbx.context,
            exten=dialled,
            priority=1,
            caller_id=f'"{principal.username}" <{e164}>',
            timeout_s=RING_S,
            variables=variables,
            account="callboard",
        )
        async with session_scope(self._sessions) as db:
            await record_audit(
                db,
                ctx,
                action="call.dial",
                principal=principal,
                object_type="call",
                object_id=crm_call_id,
                details={"to": e164, "pbx": phone.pbx},
            )
        try:
            answer = await runtime.originate_and_wait(spec, ANSWER_WAIT_S)
        except TimeoutError:
            raise Conflict(
                "the PBX did not report whether your phone answered",
                details={"reason": "no_answer_report"},
            ) from None
        if answer.get("Response") != "Success":
            reason = int(answer.get("Reason") or 0)
            raise Conflict(
                f"{_REASONS.get(reason, 'the call could not be placed')} (reason {reason})",
                details={"reason": "phone_unreachable", "ami_reason": reason},
            )
        log.info(
            "click-to-dial %s by %s to %s on %s", crm_call_id, principal.username, e164, phone.pbx
        )
        return DialResult(crm_call_id, phone.pbx, e164, dialled, phone.interface)
