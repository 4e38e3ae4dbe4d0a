"""PBX actions from any process: a follower has the PBX's leader carry them out over Redis.

With several ``callboard serve`` processes only the leader of a PBX holds its AMI connection
(:mod:`telephony.leader`); an agent's request may land on any process. A follower therefore
forwards every PBX action to the leader and gives back the leader's typed result or typed error,
so that the HTTP answer is the one the leader would have given (Asterisk's message included).

Two levels, chosen by what the action needs of the leader:

* **AMI actions** (``send_action``, under every typed action of
  :class:`~telephony.actions.AmiActions`): a follower's ``runtime.gateway`` is a
  :class:`ForwardingGateway` that sends the action through the leader's connection. Agent
  control (log in, pause, ready), live queues and anything else written on the gateway work
  unchanged. The process that took the HTTP request checked the caller's rights, against the
  same database, as it would as leader; the leader only accepts the platform's own actions
  (``FORWARDABLE_ACTIONS``: no ``Command``, ``Events``, ``Login``...) and refuses headers with
  line breaks (no injected actions).
* **Whole operations** that need the leader's live state: ``originate_and_wait`` (its answer is
  an ``OriginateResponse`` event on the leader's stream) and call control (hang up, record,
  transfer, spy: a follower's mirrored calls have no legs or channels). The request carries the
  acting user's id, never their roles: the leader reloads the user from the database, checks
  their rights again and runs its own :class:`~telephony.call_control.CallControl`
  (see :mod:`telephony.forwarding_server`).

A follower also asks the leader for its tracker's **snapshot** (calls in progress, agents and
their queues) to seed its bus mirror when it starts, when the leader changes and after it missed
events (:meth:`LeaderLink.snapshot`, answered by :mod:`telephony.forwarding_server` from memory,
with no PBX action; how the mirror orders it with the bus: :mod:`telephony.mirror`).

Every request has a deadline (its time to run plus a second in transit): the follower answers
``AmiTimeout`` (503) when no reply came by then, e.g. because the leader died, and a request not
taken by its deadline is dropped, not carried out late (``adapters/redis_rpc.py``). Requests and
replies are JSON checked on both sides (:mod:`telephony.forwarding_wire`, with ``v`` the wire
version, so that processes of different versions refuse each other clearly). In the embedded
mode (one process, no Redis) nothing of this is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from telephony.actions import AmiActions
from telephony.forwarding_wire import (
    ActionReply,
    ActionRequest,
    CallRequest,
    ForwardedRequest,
    MessageReply,
    OriginateRequest,
    SnapshotReply,
    SnapshotRequest,
    checked,
    decode_reply,
    encode_request,
    message_of,
)
from telephony.leader import Leadership
from telephony.models import TrackerSnapshot
from telephony.ports import (
    ActionResult,
    GatewayHealth,
    GatewayStatus,
    LeaderChannel,
    OriginateSpec,
    ReceivedBatch,
    ReceivedEvent,
)
from telephony.protocol import AmiMessage

if TYPE_CHECKING:
    from telephony.runtime import RuntimeGateway

__all__ = ["SNAPSHOT_RUN_S", "TRANSIT_S", "ForwardingGateway", "LeaderLink"]

_R = TypeVar("_R", bound=BaseModel)
# On top of an action's own time: for the request to reach the leader and the reply to return.
TRANSIT_S = 1.0
# At most this long for the leader to answer a snapshot (from memory): a follower whose leader
# is gone knows it soon, and keeps what it shows (the PBX's action_timeout, if shorter, wins).
SNAPSHOT_RUN_S = 2.0


class LeaderLink:
    """A follower's way to one PBX's leader: sends requests, returns results, raises errors."""

    def __init__(self, channel: LeaderChannel, pbx: str, *, action_timeout_s: float) -> None:
        self._channel = channel
        self.pbx = pbx
        self._action_timeout_s = action_timeout_s

    async def _ask(self, request: ForwardedRequest, run_s: float, reply_type: type[_R]) -> _R:
        """Send ``request`` with ``run_s`` to run; the leader's result, or its error raised."""
        body = encode_request(self.pbx, request)
        raw = await self._channel.request(self.pbx, body, ttl_s=run_s + TRANSIT_S)
        return decode_reply(raw, reply_type, pbx=self.pbx, op=request.op)

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Send an AMI action through the leader's connection."""
        run_s = timeout or self._action_timeout_s
        request = checked(
            lambda: ActionRequest(
                action=action, headers=dict(headers or {}), listing=listing, timeout_s=run_s
            )
        )
        out = await self._ask(request, run_s, ActionReply)
        return ActionResult(
            action=out.action,
            response=message_of(out.response),
            items=tuple(message_of(m) for m in out.items),
        )

    async def originate_and_wait(self, spec: OriginateSpec, wait_s: float) -> AmiMessage:
        """The leader originates and waits for the OriginateResponse; TimeoutError if none."""
        request = checked(lambda: OriginateRequest.of(spec, wait_s))
        out = await self._ask(request, wait_s + self._action_timeout_s, MessageReply)
        return message_of(out.message)

    async def call_action(self, request: CallRequest, reply_type: type[_R]) -> _R:
        """A call-control operation, carried out by the leader for ``request.user_id``."""
        return await self._ask(request, self._action_timeout_s, reply_type)

    async def snapshot(self) -> TrackerSnapshot:
        """The calls and agents the leader's tracker shows now; its error raised (``AmiTimeout``
        when no leader answered, ``PbxUnavailable`` when it has not read the PBX yet)."""
        run_s = min(self._action_timeout_s, SNAPSHOT_RUN_S)
        reply = await self._ask(SnapshotRequest(), run_s, SnapshotReply)
        return reply.snapshot(self.pbx)


class ForwardingGateway(AmiActions):
    """A PBX's gateway in a process that may lead it or not: while this process leads, actions
    use the PBX connection here; otherwise they go to the leader. Everything else (events,
    status, start/stop) is the local gateway's."""

    def __init__(self, inner: RuntimeGateway, link: LeaderLink) -> None:
        self.inner = inner
        self.link = link
        self.pbx = inner.pbx
        self.leadership: Leadership | None = None  # set by the wiring

    @property
    def is_leader(self) -> bool:
        """True while this process holds the PBX's connection."""
        return self.leadership is None or self.leadership.is_leader

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Send an action here while leading, else through the leader."""
        if self.is_leader:
            return await self.inner.send_action(action, headers, timeout=timeout, listing=listing)
        return await self.link.send_action(action, headers, timeout=timeout, listing=listing)

    def events(self) -> AsyncIterator[ReceivedEvent]:
        """The local connection's events."""
        return self.inner.events()

    def batches(self) -> AsyncIterator[ReceivedBatch]:
        """The local connection's event batches."""
        return self.inner.batches()

    def health(self) -> GatewayHealth:
        """The local connection's health."""
        return self.inner.health()

    async def wait_status(self, *statuses: GatewayStatus) -> GatewayHealth:
        """Wait until the local connection reaches one of ``statuses``."""
        return await self.inner.wait_status(*statuses)

    async def next_change(self) -> GatewayHealth:
        """Wait for the local connection's next change of status."""
        return await self.inner.next_change()

    async def start(self) -> None:
        """Start the local connection (on election)."""
        await self.inner.start()

    async def stop(self) -> None:
        """Stop the local connection."""
        await self.inner.stop()
