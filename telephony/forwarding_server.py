"""The leader's side of forwarding: carry out what followers send for one PBX, answer typed.

Runs while this process leads the PBX (a supervised task started on election, stopped when
deposed). Each request is read and checked (:func:`telephony.forwarding.decode_request`); a
bad one is logged with its id and answered with ``InvalidInput``. A call-control operation is
carried out for the user it names: the user is reloaded from the database (unknown or
deactivated: refused) and their rights are checked here, as the HTTP route would (``calls.read``
to act on one's calls, ``agents.control`` to act on anyone's, ``calls.spy`` to spy), never taken
from the follower. Nothing runs past the request's deadline: what is left of it bounds the work.
A snapshot request is answered from the tracker in memory (``runtime.snapshot()``), without a
PBX action; until this process has read the PBX's state once (its first resync), it answers
``PbxUnavailable`` instead of an empty view, and the follower keeps what it shows and asks again.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import hot_read
from crm_core.errors import CallboardError, InvalidInput, PermissionDenied
from crm_core.users.auth import load_principal
from crm_core.users.permissions import Principal
from telephony.api import AGENTS_CONTROL, CALLS_READ, CALLS_SPY
from telephony.call_control import CallControl
from telephony.errors import AmiTimeout, PbxUnavailable
from telephony.forwarding_wire import (
    ActionRequest,
    CallRequest,
    ChannelReply,
    ForwardedRequest,
    HangupRequest,
    OriginateRequest,
    RecordingRequest,
    SnapshotReply,
    SnapshotRequest,
    SpyReply,
    SpyRequest,
    TransferReply,
    decode_request,
    encode_error,
    encode_result,
    result_of_action,
    result_of_message,
)
from telephony.ports import LeaderChannel
from telephony.runtime import PbxRuntime, RuntimeGateway

__all__ = ["ForwardingServer"]

log = logging.getLogger(__name__)


class ForwardingServer:
    """Carries out the requests that followers forward to this process for one PBX."""

    def __init__(
        self,
        runtime: PbxRuntime,
        gateway: RuntimeGateway,
        sessions: async_sessionmaker[AsyncSession],
        channel: LeaderChannel,
    ) -> None:
        # ``gateway`` is the PBX connection of this process itself (not a forwarding one).
        self._runtime = runtime
        self._gateway = gateway
        self._sessions = sessions
        self._channel = channel
        self.pbx = runtime.name

    async def run(self) -> None:
        """Serve the PBX's forwarded requests until cancelled (a supervised task)."""
        log.info("PBX %s: carrying out actions forwarded by other processes", self.pbx)
        await self._channel.serve(self.pbx, self.handle)

    async def handle(self, request_id: str, body: str, left_s: float) -> str:
        """Answer one forwarded request (every outcome is a reply; nothing is raised)."""
        try:
            request = decode_request(body, self.pbx)
        except InvalidInput as err:
            log.warning("PBX %s: forwarded request %s refused: %s", self.pbx, request_id, err)
            return encode_error(err)
        if not self._runtime.is_leader:
            return encode_error(
                PbxUnavailable(f"this process no longer holds PBX {self.pbx!r}: retry")
            )
        try:
            result = await self._carry_out(request, left_s)
        except CallboardError as err:
            log.info(
                "PBX %s: forwarded %s (request %s) failed: %s",
                self.pbx,
                request.op,
                request_id,
                err.code,
            )
            return encode_error(err)
        except TimeoutError as err:  # originate_and_wait: no OriginateResponse in time
            return encode_error(err)
        except Exception as err:
            log.exception(
                "PBX %s: forwarded %s (request %s) failed", self.pbx, request.op, request_id
            )
            return encode_error(err)
        log.debug("PBX %s: forwarded %s (request %s) done", self.pbx, request.op, request_id)
        return encode_result(result)

    async def _carry_out(
        self, request: ForwardedRequest, left_s: float
    ) -> BaseModel | dict[str, object]:
        if isinstance(request, SnapshotRequest):
            return self._snapshot()
        if isinstance(request, ActionRequest):
            result = await self._gateway.send_action(
                request.action,
                request.headers,
                timeout=max(min(request.timeout_s, left_s), 0.001),
                listing=request.listing,
            )
            return result_of_action(result)
        if isinstance(request, OriginateRequest):
            message = await self._runtime.originate_and_wait(
                request.spec(), max(min(request.wait_s, left_s), 0.001), forward=False
            )
            return result_of_message(message)
        try:
            async with asyncio.timeout(left_s):
                return await self._on_call(request)
        except TimeoutError:
            raise AmiTimeout(
                f"PBX {self.pbx!r} did not carry out the {request.op} in time"
            ) from None

    def _snapshot(self) -> SnapshotReply:
        """This process's tracker, once it has read the PBX (else nothing worth seeding from)."""
        if self._runtime.synced_session == 0:
            raise PbxUnavailable(
                f"the process holding PBX {self.pbx!r} has not read the PBX's state yet: retry"
            )
        return SnapshotReply.of(self._runtime.snapshot())

    async def _principal(self, user_id: int) -> Principal:
        """The acting user as the database says now (never as the follower said)."""
        principal = await hot_read(
            self._sessions, lambda conn: load_principal(conn, user_id, auth_method="forwarded")
        )
        if principal is None:
            raise PermissionDenied(f"user {user_id} is unknown or deactivated")
        return principal

    async def _on_call(self, request: CallRequest) -> BaseModel:
        principal = await self._principal(request.user_id)
        if isinstance(request, SpyRequest):
            principal.require(CALLS_SPY)
            control_any = True
        else:
            principal.require(CALLS_READ)
            control_any = principal.has(AGENTS_CONTROL)
        control = CallControl({self.pbx: self._runtime}, control_any=control_any, forward=False)
        call_id = request.call_id
        if isinstance(request, HangupRequest):
            return ChannelReply(channel=await control.hangup(principal, call_id))
        if isinstance(request, RecordingRequest):
            channel = await control.recording(principal, call_id, request.action)
            return ChannelReply(channel=channel)
        if isinstance(request, SpyRequest):
            phone, spied = await control.spy(principal, call_id, request.mode)
            return SpyReply(phone=phone, spied=spied)
        done = await control.transfer(
            principal, call_id, request.target_type, request.target, request.mode
        )
        return TransferReply(channel=done.channel, context=done.context, exten=done.exten)
