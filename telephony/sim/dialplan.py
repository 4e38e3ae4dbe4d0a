"""The simulated dialplan: agent seats, the PSTN number plan, inbound calls, fax, Dial, Originate.

It mirrors ``pbx-config/extensions.conf`` of the recorded reference PBX (see docs/telephony.md
for the number plan).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telephony.protocol import AmiMessage
from telephony.sim.engine import UNKNOWN, AttendedXfer, Bridge, Chan, LocalPair, Pbx, Progress
from telephony.sim.legs import Leg
from telephony.sim.parties import fax, fax_result, pstn, seat

__all__ = ["Dialplan", "Leg", "OriginateRequest", "known_context"]

logger = logging.getLogger(__name__)

CONTEXTS = frozenset(
    {"agents", "customers", "pstn-sim", "from-pstn", "caller-sim", "fax", "test",
     "transfer-agent", "transfer-queue"}
)  # fmt: skip
# Additions to the reference dialplan for transfers (see docs/telephony.md):
#   [transfer-agent]  exten => _X.,1,Dial(Local/${EXTEN}@agents,30)  same => n,Hangup()
#   [transfer-queue]  exten => _[a-z].,1,Queue(${EXTEN},t,,,120)    same => n,Hangup()
QUEUE_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_FAILURE_REASON = {"busy": 5, "congestion": 8, "hangup": 1, "timeout": 3}


def known_context(context: str) -> bool:
    """Return True if the simulated dialplan has this context."""
    return context in CONTEXTS


def extension_exists(context: str, exten: str) -> bool:
    """Return True if ``exten`` matches a pattern of ``context``."""
    if context == "agents":
        return exten.isdigit() and (
            exten in ("1010", "3001", "3002")
            or (len(exten) == 4 and exten[:3] in ("100", "200") and exten[3] != "0")
        )
    if context in ("customers", "pstn-sim", "from-pstn", "caller-sim"):
        return exten.lstrip("+").isdigit() or (context == "from-pstn" and exten == "s")
    if context == "fax":
        return exten in ("send", "receive")
    if context == "test":
        return exten in ("echo", "record", "userevent")
    if context == "transfer-agent":
        return exten.isdigit()
    if context == "transfer-queue":
        return bool(exten) and exten[0].isalpha() and set(exten) <= QUEUE_NAME
    return False


@dataclass
class OriginateRequest:
    """A parsed Originate action."""

    action_id: str | None
    channel: str
    context: str | None
    exten: str | None
    application: str | None
    data: str
    cid_num: str | None
    cid_name: str | None
    timeout_s: float
    variables: dict[str, str] = field(default_factory=dict)
    account: str = ""


class Dialplan:
    """Runs the reference dialplan on simulated channels."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.queue_app: Callable[[Leg, str, float], Awaitable[None]] | None = None

    # -- originate ----------------------------------------------------------------------------

    async def originate(self, req: OriginateRequest, respond: Callable[[AmiMessage], None]) -> None:
        """Run an Originate to the end of its first phase and report OriginateResponse."""
        tech, _, rest = req.channel.partition("/")
        exten, _, context = rest.partition("@")
        if tech != "Local" or not context:
            respond(self._originate_response(req, "Failure", 0, None))
            return
        pair = self.pbx.new_local(exten, context)
        outer, inner = pair.outer, pair.inner
        if not known_context(context) or not extension_exists(context, exten):
            inner.hangup_event(0)
            outer.hangup_event(0)
            respond(self._originate_response(req, "Failure", 0, None))
            return
        outer.account = inner.account = req.account
        for name, value in req.variables.items():
            outer.set_var(name, value)
        for name, value in req.variables.items():
            inner.set_var(name, value)
        if req.cid_num:
            outer.cid_num, outer.cid_name = req.cid_num, req.cid_name or req.cid_num
            outer.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
            outer.conn_num, outer.conn_name = outer.cid_num, outer.cid_name
            outer.emit("NewConnectedLine")
            inner.cid_num, inner.cid_name = outer.cid_num, outer.cid_name
            inner.conn_num, inner.conn_name = outer.cid_num, outer.cid_name
            inner.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
            inner.emit("NewConnectedLine")
        self.pbx.emit(
            "DialBegin", [*outer.block("Dest"), ("DialString", f"{exten}@{context}")], "call,all"
        )
        self.start_inner(pair)
        outcome = await self._wait_answer(pair, req.timeout_s, dial_caller=None)
        if outcome.kind != "answer":
            reason = _FAILURE_REASON.get(outcome.kind, 1)
            if outcome.kind in ("busy", "congestion"):
                status = outcome.kind.upper()
                self.pbx.emit("DialEnd", [*outer.block("Dest"), ("DialStatus", status)], "call,all")
            respond(self._originate_response(req, "Failure", reason, None))
            pair.outer_killed(19 if outcome.kind == "timeout" else 0)
            return
        respond(self._originate_response(req, "Success", 4, outer))
        self.pbx.emit("DialEnd", [*outer.block("Dest"), ("DialStatus", "ANSWER")], "call,all")
        if req.application:
            outer.app, outer.app_data = req.application, req.data
            self.pbx.spawn(self._application(pair, req.application, req.data), owner=outer)
        elif req.context and req.exten:
            outer.context, outer.exten, outer.priority = req.context, req.exten, 1
            outer.own_pbx = True
            self.pbx.spawn(self.run(Leg(outer)), owner=outer)

    def _originate_response(
        self, req: OriginateRequest, response: str, reason: int, chan: Chan | None
    ) -> AmiMessage:
        pairs: list[tuple[str, str]] = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
        if req.action_id is not None:
            pairs.append(("ActionID", req.action_id))
        pairs += [("Response", response), ("Channel", chan.name if chan else req.channel)]
        if req.application:
            pairs += [("Application", req.application), ("Data", req.data)]
        else:
            pairs += [("Context", req.context or ""), ("Exten", req.exten or "")]
        pairs += [
            ("Reason", str(reason)),
            ("Uniqueid", chan.uniqueid if chan else "<null>"),
            ("CallerIDNum", req.cid_num or UNKNOWN),
            ("CallerIDName", req.cid_name or UNKNOWN),
        ]
        return AmiMessage(tuple(pairs))

    async def _application(self, pair: LocalPair, app: str, data: str) -> None:
        if app.lower() == "chanspy":
            await self._chanspy(pair, data)
            return
        if app.lower() not in ("wait", "echo", "playback", "sendfax", "receivefax", "milliwatt"):
            # An unknown application: Asterisk hangs the channel up at once (07b).
            pair.outer_killed(0)
            return
        if app.lower() in ("sendfax", "receivefax"):
            # A 3-page G3 fax at 14400 bit/s takes about 30 s (05).
            await self.pbx.sleep(30.59)
            event = "SendFAX" if app.lower() == "sendfax" else "ReceiveFAX"
            fax_result(self.pbx, pair.outer, event, data.split(",")[0])
            pair.outer_killed(0)
            return
        seconds = float(data) if app.lower() == "wait" and _is_number(data) else 3600.0
        await self.pbx.sleep(seconds)
        pair.outer_killed(0)

    async def _chanspy(self, pair: LocalPair, data: str) -> None:
        """ChanSpy(prefix,options): spy on the first channel whose name starts with prefix."""
        prefix, _, options = data.partition(",")
        spyer = pair.outer
        spyee = next(
            (c for c in self.pbx.channels.values() if c.name.startswith(prefix) and c is not spyer),
            None,
        )
        if spyee is None:
            # Nothing to spy on: with option E/S ChanSpy ends at once.
            pair.outer_killed(16)
            return
        self.pbx.emit("ChanSpyStart", [*spyer.block("Spyer"), *spyee.block("Spyee")], "call,all")
        ended = asyncio.Event()
        spyee.on_gone.append(ended.set)
        spyer.on_gone.append(ended.set)
        try:
            await ended.wait()
        finally:
            spyee.on_gone.remove(ended.set)
            spyer.on_gone.remove(ended.set)
        self.pbx.emit("ChanSpyStop", [*spyer.block("Spyer"), *spyee.block("Spyee")], "call,all")
        if "E" in options:
            pair.outer_killed(16)

    async def _wait_answer(
        self, pair: LocalPair, timeout_s: float, dial_caller: Chan | None
    ) -> Progress:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s / self.pbx.speed
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Progress("timeout")
            try:
                progress = await asyncio.wait_for(pair.progress.get(), remaining)
            except TimeoutError:
                return Progress("timeout")
            if progress.kind == "ringing":
                headers = [*pair.outer.block("Dest"), ("DialStatus", "RINGING")]
                if dial_caller is not None:
                    headers = [*dial_caller.block(), *headers]
                self.pbx.emit("DialState", headers, "call,all")
                continue
            return progress

    # -- dialplan -------------------------------------------------------------------------------

    def start_inner(self, pair: LocalPair) -> None:
        """Start the dialplan of a pair's inner half."""
        self.pbx.spawn(self.run(Leg(pair.inner)), owner=pair.inner)

    async def run(self, leg: Leg) -> None:
        """Run the extension the channel is in."""
        chan = leg.chan
        context, exten = chan.context, chan.exten
        if context == "agents":
            await seat(self.pbx, leg, exten)
        elif context == "pstn-sim":
            await pstn(self.pbx, leg, exten.lstrip("+"))
        elif context == "customers":
            await self._customers(leg, exten.lstrip("+"))
        elif context == "from-pstn":
            await self._from_pstn(leg)
        elif context == "caller-sim":
            await self.pbx.sleep(float(exten) if exten.isdigit() else 20)
            leg.hangup(16)
        elif context == "fax":
            await fax(self.pbx, leg, exten)
        elif context == "transfer-agent":
            cause = await self.dial(chan, exten, "agents", 30)
            leg.hangup(cause)
        elif context == "transfer-queue":
            if self.queue_app is not None:
                await self.queue_app(leg, exten, 120)
            leg.hangup(16)
        else:
            leg.hangup(0)

    async def _customers(self, leg: Leg, number: str) -> None:
        chan = leg.chan
        timeout = chan.variables.get("DIALTIMEOUT", "")
        seconds = float(timeout) if _is_number(timeout) else 30.0
        chan.priority = 3
        cause = await self.dial(chan, number, "pstn-sim", seconds)
        leg.hangup(cause)

    async def dial(self, caller: Chan, exten: str, context: str, timeout_s: float) -> int:
        """Dial ``Local/exten@context`` from ``caller``; return the caller's hang-up cause."""
        pair = self.pbx.new_local(exten, context, linkedid=caller.linkedid)
        callee = pair.outer
        callee.dialed = True
        callee.account = pair.inner.account = caller.account
        callee.cid_num, callee.cid_name = exten, caller.cid_name
        callee.conn_num, callee.conn_name = caller.cid_num, caller.cid_name
        callee.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        inner = pair.inner
        inner.cid_num, inner.cid_name = caller.cid_num, caller.cid_name
        inner.conn_num, inner.conn_name = exten, caller.cid_name
        inner.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        self.pbx.emit(
            "DialBegin",
            [*caller.block(), *callee.block("Dest"), ("DialString", f"{exten}@{context}")],
            "call,all",
        )
        self.start_inner(pair)
        caller.variables.pop("DIALSTATUS", None)
        try:
            outcome = await self._wait_answer(pair, timeout_s, dial_caller=caller)
            status = {
                "answer": "ANSWER",
                "busy": "BUSY",
                "congestion": "CONGESTION",
            }.get(outcome.kind, "NOANSWER")
            if outcome.kind == "answer":
                callee.exten = ""
                if caller.state != 6:
                    # Dial answers its caller when the callee answers.
                    Leg(caller).answer()
            caller.variables["DIALSTATUS"] = status
            self.pbx.emit(
                "DialEnd",
                [*caller.block(), *callee.block("Dest"), ("DialStatus", status)],
                "call,all",
            )
            if outcome.kind == "hangup":
                return outcome.cause
            if outcome.kind != "answer":
                pair.outer_killed(0)
                return 16
            await self.bridge_until_split(caller, callee)
            return 16
        finally:
            if not callee.gone and callee.dialed:
                pair.outer_killed(16)

    async def bridge_until_split(
        self, a: Chan, b: Chan, on_split: Callable[[Chan], None] | None = None
    ) -> Bridge:
        """Bridge two channels and wait until one leaves; ``a`` then leaves too."""
        bridge = Bridge(self.pbx)
        split = asyncio.Event()

        def on_leave(left: Chan) -> None:
            if left.xfer is not None and left.xfer.original is bridge:
                return  # the transferer steps out to consult a transfer target (Atxfer)
            if not split.is_set() and on_split is not None:
                on_split(left)
            split.set()

        bridge.on_leave.append(on_leave)
        bridge.enter(b)
        bridge.enter(a)
        try:
            await split.wait()
        finally:
            bridge.on_leave.remove(on_leave)
        for member in list(bridge.members):
            if member is a:
                bridge.leave(member)
        return bridge

    # -- attended transfer (Atxfer) ----------------------------------------------------------

    async def consult(
        self, transferer: Chan, transferee: Chan, original: Bridge, exten: str, context: str
    ) -> None:
        """The transferer leaves the call (the transferee hears music) and dials the target."""
        xfer = AttendedXfer(transferer=transferer, transferee=transferee, original=original)
        transferer.xfer = xfer
        original.leave(transferer)
        transferee.emit("MusicOnHoldStart", ("Class", "default"))
        try:
            await self.dial(transferer, exten, context, 30)
        finally:
            if transferer.xfer is xfer and not transferer.gone:
                # The target did not answer or hung up: back to the original call.
                transferer.xfer = None
                if transferee.bridge is original:
                    transferee.emit("MusicOnHoldStop")
                    original.enter(transferer)

    def complete_transfer(self, xfer: AttendedXfer) -> None:
        """The transferer hangs up while consulting: the transferee joins the target."""
        transferer, transferee = xfer.transferer, xfer.transferee
        consult = transferer.bridge
        target = consult.peer_of(transferer) if consult is not None else None
        transferer.xfer = None
        if consult is None or target is None or transferee.gone:
            return
        self.pbx.emit(
            "AttendedTransfer",
            [
                ("Result", "Success"),
                *transferer.block("OrigTransferer"),
                *xfer.original.block("OrigBridge"),
                *transferer.block("SecondTransferer"),
                *consult.block("SecondBridge"),
                ("DestType", "Bridge"),
                ("DestBridgeUniqueid", consult.id),
                *transferee.block("Transferee"),
                *target.block("TransferTarget"),
                ("IsExternal", "No"),
            ],
            "call,all",
        )
        transferee.emit("MusicOnHoldStop")
        # Neither the transferer's Dial nor its consultation Dial may hang these two up now.
        transferee.dialed = target.dialed = False
        xfer.original.leave(transferee)
        consult.enter(transferee)

        def on_leave(left: Chan) -> None:
            if left in (transferee, target):
                consult.on_leave.remove(on_leave)
                other = target if left is transferee else transferee
                self.pbx.spawn(self._hang_up_alone(other))

        consult.on_leave.append(on_leave)

    async def _hang_up_alone(self, chan: Chan) -> None:
        """Hang up a channel left alone in a bridge after its peer hung up."""
        if not chan.gone and chan.pair is not None:
            if chan is chan.pair.inner:
                chan.pair.inner_hangup(16)
            else:
                chan.pair.outer_killed(16)

    async def _from_pstn(self, leg: Leg) -> None:
        chan = leg.chan
        cli = chan.variables.get("INBOUND_CLI")
        if cli and leg.is_inner and cli != chan.cid_num:
            chan.cid_num = cli
            chan.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        if leg.answer():
            await self.pbx.sleep(0.5)
        queue = chan.variables.get("QUEUE") or "support"
        timeout = chan.variables.get("QUEUETIMEOUT", "")
        seconds = float(timeout) if _is_number(timeout) else 120.0
        if self.queue_app is not None:
            await self.queue_app(leg, queue, seconds)
        leg.hangup(16)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
