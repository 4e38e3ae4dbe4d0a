"""The wire format of forwarded PBX actions: JSON requests and replies, checked on both sides.

A follower builds requests with these models (what they refuse is refused before it travels,
:func:`checked`); the leader reads them with :func:`decode_request` (a bad one is an
``InvalidInput`` saying what is wrong, never an exception of pydantic's). Errors travel as their
``code``, message and details and are raised again as the same class (:func:`decode_reply`), so
that the HTTP status is the leader's. ``v`` is the wire version: processes of different
versions refuse each other clearly. Header values are single lines (a line break would inject
AMI headers or actions). A ``snapshot`` request asks for no PBX action: the leader answers with
its tracker's calls and agents (:class:`SnapshotReply`), which a follower loads into its mirror.
See :mod:`telephony.forwarding` for the design.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, NoReturn, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from crm_core.errors import (
    CallboardError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from telephony.errors import (
    AmiActionFailed,
    AmiLoginFailed,
    AmiTimeout,
    ChannelNotFound,
    PbxUnavailable,
    TelephonyError,
)
from telephony.models import (
    AgentInfo,
    AgentState,
    CallDirection,
    CallInfo,
    CallState,
    TrackerSnapshot,
)
from telephony.ports import (
    ActionResult,
    OriginateSpec,
    RecordingAction,
    SpyMode,
    TargetType,
    TransferMode,
)
from telephony.protocol import AmiMessage

__all__ = [
    "FORWARDABLE_ACTIONS",
    "WIRE_VERSION",
    "ActionReply",
    "ActionRequest",
    "CallRequest",
    "ChannelReply",
    "ForwardedRequest",
    "HangupRequest",
    "MessageReply",
    "OriginateRequest",
    "RecordingRequest",
    "SnapshotAgent",
    "SnapshotCall",
    "SnapshotReply",
    "SnapshotRequest",
    "SpyReply",
    "SpyRequest",
    "TransferReply",
    "TransferRequest",
    "checked",
    "decode_reply",
    "decode_request",
    "encode_error",
    "encode_request",
    "encode_result",
    "message_of",
    "result_of_action",
    "result_of_message",
]

log = logging.getLogger(__name__)
_R = TypeVar("_R", bound=BaseModel)

WIRE_VERSION = 1
# The actions of telephony.actions.AmiActions: what the platform itself sends to a PBX.
FORWARDABLE_ACTIONS = frozenset(
    {
        "Atxfer",
        "BridgeList",
        "CoreShowChannels",
        "Getvar",
        "Hangup",
        "MixMonitor",
        "MixMonitorMute",
        "Originate",
        "Ping",
        "PlayDTMF",
        "QueueAdd",
        "QueuePause",
        "QueuePenalty",
        "QueueRemove",
        "QueueStatus",
        "QueueSummary",
        "Redirect",
        "Setvar",
        "StopMixMonitor",
        "UserEvent",
    }
)
# The code of a TimeoutError from originate_and_wait (no OriginateResponse in time): raised
# again as TimeoutError on the follower, as the caller of originate_and_wait expects.
NO_ANSWER_REPORT = "originate_no_answer_report"

# AMI header names and values: one line each (a line break would inject headers or actions).
_Name = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]
_Value = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[^\r\n]*$")]
_Variable = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\r\n=]+$")]
_CallId = Annotated[str, StringConstraints(max_length=64, pattern=r"^[0-9]+\.[0-9]+$")]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionRequest(_Wire):
    """One AMI action through the leader's connection."""

    op: Literal["action"] = "action"
    action: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,40}$")]
    headers: dict[_Name, _Value | Annotated[list[_Value], Field(max_length=64)]] = {}
    listing: bool = False
    timeout_s: float = Field(gt=0, le=300)


class OriginateRequest(_Wire):
    """``originate_and_wait`` on the leader: Originate, then its ``OriginateResponse``."""

    op: Literal["originate"] = "originate"
    channel: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\r\n]+$")]
    context: _Value | None = None
    exten: _Value | None = None
    priority: int = Field(default=1, ge=1, le=10_000)
    application: _Value | None = None
    data: _Value | None = None
    caller_id: _Value | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    variables: dict[_Variable, _Value] = Field(default_factory=dict, max_length=64)
    account: _Value | None = None
    action_id: _Value | None = None
    wait_s: float = Field(gt=0, le=300)

    @classmethod
    def of(cls, spec: OriginateSpec, wait_s: float) -> OriginateRequest:
        """The request for ``spec``."""
        return cls(
            channel=spec.channel,
            context=spec.context,
            exten=spec.exten,
            priority=spec.priority,
            application=spec.application,
            data=spec.data,
            caller_id=spec.caller_id,
            timeout_s=spec.timeout_s,
            variables=dict(spec.variables),
            account=spec.account,
            action_id=spec.action_id,
            wait_s=wait_s,
        )

    def spec(self) -> OriginateSpec:
        """The Originate to send."""
        return OriginateSpec(
            channel=self.channel,
            context=self.context,
            exten=self.exten,
            priority=self.priority,
            application=self.application,
            data=self.data,
            caller_id=self.caller_id,
            timeout_s=self.timeout_s,
            variables=dict(self.variables),
            account=self.account,
            action_id=self.action_id,
        )


class _OnCall(_Wire):
    """A call-control operation: who acts (their id only; the leader reloads them) on what."""

    user_id: int = Field(ge=1, le=2**31 - 1)
    call_id: _CallId


class HangupRequest(_OnCall):
    """Hang up a call in progress."""

    op: Literal["hangup"] = "hangup"


class RecordingRequest(_OnCall):
    """Start, stop, pause or resume recording a call."""

    op: Literal["recording"] = "recording"
    action: RecordingAction


class TransferRequest(_OnCall):
    """Transfer a call's customer."""

    op: Literal["transfer"] = "transfer"
    target_type: TargetType
    target: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    mode: TransferMode


class SpyRequest(_OnCall):
    """Ring the user's phone and listen to, whisper to or barge into a call."""

    op: Literal["spy"] = "spy"
    mode: SpyMode


class SnapshotRequest(_Wire):
    """The calls and agents the leader's tracker shows now (no PBX action): a follower seeds its
    mirror with them (:meth:`telephony.mirror.CallMirror.load`)."""

    op: Literal["snapshot"] = "snapshot"


CallRequest = HangupRequest | RecordingRequest | TransferRequest | SpyRequest
ForwardedRequest = Annotated[
    ActionRequest | OriginateRequest | CallRequest | SnapshotRequest, Field(discriminator="op")
]


class _Envelope(_Wire):
    v: int
    pbx: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    request: ForwardedRequest


class _ErrorBody(_Wire):
    code: Annotated[str, StringConstraints(max_length=64)]
    message: Annotated[str, StringConstraints(max_length=4096)]
    details: dict[str, Any] = {}


class _Reply(_Wire):
    v: int
    ok: bool
    result: dict[str, Any] | None = None
    error: _ErrorBody | None = None


_Pairs = list[tuple[str, str]]


class ActionReply(_Wire):
    """What an AMI action answers: the response and the listed events."""

    action: str
    response: _Pairs
    items: list[_Pairs] = []


class MessageReply(_Wire):
    """What ``originate_and_wait`` answers: the OriginateResponse."""

    message: _Pairs


class ChannelReply(_Wire):
    """What hangup and recording answer: the channel acted on."""

    channel: str


class TransferReply(_Wire):
    """What a transfer answers: the channel moved and where to."""

    channel: str
    context: str
    exten: str


class SpyReply(_Wire):
    """What spying answers: the supervisor's phone and the channel listened to."""

    phone: str
    spied: str


# Ids and texts of a snapshot, as the PBX gave them to the tracker (call ids are Linkedids, which
# a PBX's system name may prefix; reasons and caller ids may be set outside the platform):
# bounded, not patterned. How many calls and agents one may list: far above any PBX, low enough
# to bound what a follower accepts.
_Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_Text = Annotated[str, StringConstraints(max_length=1024)]
_SNAPSHOT_MAX = 100_000


class SnapshotCall(_Wire):
    """A call in progress as the leader's tracker has it (without legs: a mirror keeps none)."""

    call_id: _Id
    direction: CallDirection
    state: CallState
    started_at: AwareDatetime
    answered_at: AwareDatetime | None = None
    agent_id: _Id | None = None
    caller_id: _Text | None = None
    called_number: _Text | None = None
    queue: _Text | None = None
    crm_call_id: _Text | None = None
    recording_file: _Value | None = None

    @classmethod
    def of(cls, call: CallInfo) -> SnapshotCall:
        """The wire form of a tracker's call."""
        return cls(
            call_id=call.call_id,
            direction=call.direction,
            state=call.state,
            started_at=call.started_at,
            answered_at=call.answered_at,
            agent_id=call.agent_id,
            caller_id=call.caller_id,
            called_number=call.called_number,
            queue=call.queue,
            crm_call_id=call.crm_call_id,
            recording_file=call.recording_file,
        )

    def info(self, pbx: str) -> CallInfo:
        """The call, of ``pbx``."""
        return CallInfo(
            pbx=pbx,
            call_id=self.call_id,
            direction=self.direction,
            state=self.state,
            started_at=self.started_at,
            answered_at=self.answered_at,
            agent_id=self.agent_id,
            caller_id=self.caller_id,
            called_number=self.called_number,
            queue=self.queue,
            crm_call_id=self.crm_call_id,
            recording_file=self.recording_file,
        )


class SnapshotAgent(_Wire):
    """An agent as the leader's tracker has it: state, the call it is on, its queues."""

    agent_id: _Id
    state: AgentState
    reason: _Text | None = None
    call_id: _Id | None = None
    queues: Annotated[list[_Text], Field(max_length=1000)] = []
    since: AwareDatetime | None = None

    @classmethod
    def of(cls, agent: AgentInfo) -> SnapshotAgent:
        """The wire form of a tracker's agent."""
        return cls(
            agent_id=agent.agent_id,
            state=agent.state,
            reason=agent.reason,
            call_id=agent.call_id,
            queues=list(agent.queues),
            since=agent.since,
        )

    def info(self, pbx: str) -> AgentInfo:
        """The agent, of ``pbx``."""
        return AgentInfo(
            pbx=pbx,
            agent_id=self.agent_id,
            state=self.state,
            reason=self.reason,
            call_id=self.call_id,
            queues=tuple(self.queues),
            since=self.since,
        )


class SnapshotReply(_Wire):
    """What a snapshot request answers: the leader's tracker, and the time of the last AMI
    message it applied (which decides the events a follower applies after it)."""

    taken_at: AwareDatetime | None
    calls: Annotated[list[SnapshotCall], Field(max_length=_SNAPSHOT_MAX)] = []
    agents: Annotated[list[SnapshotAgent], Field(max_length=_SNAPSHOT_MAX)] = []

    @classmethod
    def of(cls, snapshot: TrackerSnapshot) -> SnapshotReply:
        """The wire form of a tracker's snapshot."""
        return cls(
            taken_at=snapshot.taken_at,
            calls=[SnapshotCall.of(c) for c in snapshot.calls],
            agents=[SnapshotAgent.of(a) for a in snapshot.agents],
        )

    def snapshot(self, pbx: str) -> TrackerSnapshot:
        """The snapshot, of ``pbx`` (the PBX whose leader was asked)."""
        return TrackerSnapshot(
            pbx=pbx,
            taken_at=self.taken_at,
            calls=tuple(c.info(pbx) for c in self.calls),
            agents=tuple(a.info(pbx) for a in self.agents),
        )


# Most specific first: an error travels as the first of these it is an instance of.
_ERRORS: tuple[type[CallboardError], ...] = (
    ChannelNotFound,
    AmiActionFailed,
    AmiLoginFailed,
    AmiTimeout,
    PbxUnavailable,
    TelephonyError,
    PermissionDenied,
    NotFound,
    Conflict,
    InvalidInput,
    ServiceUnavailable,
    CallboardError,
)
_BY_CODE = {cls.code: cls for cls in _ERRORS}


def _errors_text(err: ValidationError) -> str:
    """Where and what, without the input values (they may hold numbers of customers)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in err.errors(include_input=False, include_url=False)
    )


def decode_request(body: str, pbx: str) -> ForwardedRequest:
    """Read a forwarded request for ``pbx``; raise InvalidInput saying what is wrong."""
    try:
        raw = json.loads(body)
    except ValueError as err:
        raise InvalidInput(f"forwarded request is not JSON: {err}") from None
    version = raw.get("v") if isinstance(raw, dict) else None
    if version != WIRE_VERSION:
        raise InvalidInput(
            f"forwarded request of wire version {version!r}; this process speaks "
            f"{WIRE_VERSION}: run the same Callboard version on every process"
        )
    try:
        envelope = _Envelope.model_validate(raw)
    except ValidationError as err:
        raise InvalidInput(f"invalid forwarded request: {_errors_text(err)}") from None
    if envelope.pbx != pbx:
        raise InvalidInput(f"request for PBX {envelope.pbx!r} reached the queue of {pbx!r}")
    request = envelope.request
    if isinstance(request, ActionRequest) and request.action not in FORWARDABLE_ACTIONS:
        raise InvalidInput(
            f"the action {request.action!r} is not one the platform sends: not forwarded",
            details={"action": request.action},
        )
    return request


def encode_result(result: BaseModel | dict[str, Any]) -> str:
    """A success reply."""
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return json.dumps({"v": WIRE_VERSION, "ok": True, "result": data})


def encode_error(err: BaseException) -> str:
    """An error reply: the error's kind (its ``code``), message and details."""
    body: dict[str, Any]
    if isinstance(err, TimeoutError):
        body = {"code": NO_ANSWER_REPORT, "message": str(err) or "no answer in time"}
    else:
        kind = next((cls for cls in _ERRORS if isinstance(err, cls)), None)
        if kind is None or not isinstance(err, CallboardError):
            body = {"code": TelephonyError.code, "message": "the request failed on the leader"}
        else:
            body = {"code": kind.code, "message": err.message[:4096], "details": err.details}
    return json.dumps({"v": WIRE_VERSION, "ok": False, "error": body}, default=str)


def _raise(error: _ErrorBody) -> NoReturn:
    """Raise, in this process, the error the leader raised."""
    if error.code == NO_ANSWER_REPORT:
        raise TimeoutError(error.message)
    kind = _BY_CODE.get(error.code, TelephonyError)
    if issubclass(kind, AmiActionFailed):
        raise kind(str(error.details.get("action", "")), error.message)
    raise kind(error.message, details=dict(error.details))


def message_of(pairs: _Pairs) -> AmiMessage:
    """The AMI message of a reply's header pairs."""
    return AmiMessage(tuple((k, v) for k, v in pairs))


def encode_request(pbx: str, request: ForwardedRequest) -> str:
    """The JSON of a request for ``pbx``'s leader."""
    return _Envelope(v=WIRE_VERSION, pbx=pbx, request=request).model_dump_json()


def decode_reply(raw: str, reply_type: type[_R], *, pbx: str, op: str) -> _R:
    """The leader's result; its error raised here; TelephonyError for an unreadable reply."""
    try:
        reply = _Reply.model_validate_json(raw)
        if reply.ok and reply.result is not None:
            return reply_type.model_validate(reply.result)
    except ValidationError as err:
        log.error("PBX %s: unreadable reply to a forwarded %s: %s", pbx, op, _errors_text(err))
        raise TelephonyError(
            f"the process holding PBX {pbx!r} sent an unreadable answer (see the log)"
        ) from None
    if reply.error is None:
        raise TelephonyError(f"the process holding PBX {pbx!r} answered neither")
    log.debug("PBX %s: forwarded %s failed: %s", pbx, op, reply.error.code)
    _raise(reply.error)


def checked(build: Callable[[], _R]) -> _R:
    """Build a request; what the models refuse is refused here, before it travels."""
    try:
        return build()
    except ValidationError as err:
        raise InvalidInput(f"cannot forward this to the PBX: {_errors_text(err)}") from None


def result_of_action(result: ActionResult) -> dict[str, Any]:
    """The reply body of an AMI action."""
    return ActionReply(
        action=result.action,
        response=list(result.response.headers),
        items=[list(m.headers) for m in result.items],
    ).model_dump(mode="json")


def result_of_message(message: AmiMessage) -> dict[str, Any]:
    """The reply body of ``originate_and_wait``."""
    return MessageReply(message=list(message.headers)).model_dump(mode="json")
