"""The simulator's AMI actions, answered with the exact messages of the recorded Asterisk."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telephony.protocol import AmiMessage
from telephony.sim.commands import COMMANDS as _COMMANDS
from telephony.sim.dialplan import Dialplan, Leg, OriginateRequest, extension_exists
from telephony.sim.engine import Chan, Pbx
from telephony.sim.listing_actions import ListingActions
from telephony.sim.queues import QueueSet
from telephony.sim.replies import TRUE, Send, complete, list_event, parse_callerid, response

__all__ = ["ActionHandler", "response"]

logger = logging.getLogger(__name__)


class ActionHandler:
    """Answers AMI actions against the simulated PBX."""

    def __init__(self, pbx: Pbx, dialplan: Dialplan, queues: QueueSet) -> None:
        self.pbx = pbx
        self.dialplan = dialplan
        self.queues = queues
        self.database: dict[tuple[str, str], str] = {}
        self.globals: dict[str, str] = {}
        self._handlers: dict[str, Callable[[AmiMessage, Send], Awaitable[None]]] = {
            "ping": self.ping,
            "coresettings": self.core_settings,
            "corestatus": self.core_status,
            "originate": self.originate,
            "hangup": self.hangup,
            "redirect": self.redirect,
            "setvar": self.setvar,
            "getvar": self.getvar,
            "mixmonitor": self.mix_monitor,
            "stopmixmonitor": self.stop_mix_monitor,
            "playdtmf": self.play_dtmf,
            "mixmonitormute": self.mix_monitor_mute,
            "atxfer": self.atxfer,
            "bridgelist": self.bridge_list,
            "listcommands": self.list_commands,
            "userevent": self.user_event,
            "command": self.command,
            "waitevent": self.wait_event,
            "dbput": self.db_put,
            "dbget": self.db_get,
            **ListingActions(pbx, queues).handlers(),
        }

    async def handle(self, key: str, action: AmiMessage, send: Send) -> bool:
        """Answer an action; return False if the action is unknown."""
        handler = self._handlers.get(key)
        if handler is None:
            return False
        await handler(action, send)
        return True

    def _chan(self, action: AmiMessage) -> Chan | None:
        name = action.get("Channel")
        return self.pbx.channels.get(name) if name else None

    # -- system ---------------------------------------------------------------------------------

    async def ping(self, action: AmiMessage, send: Send) -> None:
        """Ping."""
        send(response("Success", action.action_id, Ping="Pong", Timestamp=f"{time.time():.6f}"))

    async def core_settings(self, action: AmiMessage, send: Send) -> None:
        """CoreSettings."""
        send(
            response(
                "Success",
                action.action_id,
                AMIversion="11.0.0",
                AsteriskVersion="22.10.1",
                SystemName="",
                CoreMaxCalls="200",
                CoreMaxLoadAvg="0.000000",
                CoreRunUser="",
                CoreRunGroup="",
                CoreMaxFilehandles="0",
                CoreRealTimeEnabled="No",
                CoreCDRenabled="Yes",
                CoreHTTPenabled="No",
                SoundsSearchCustomDir="No",
            )
        )

    async def core_status(self, action: AmiMessage, send: Send) -> None:
        """CoreStatus."""
        started = time.localtime(self.pbx.started)
        live = {c.linkedid for c in self.pbx.channels.values()}
        send(
            response(
                "Success",
                action.action_id,
                CoreStartupDate=time.strftime("%Y-%m-%d", started),
                CoreStartupTime=time.strftime("%H:%M:%S", started),
                CoreReloadDate=time.strftime("%Y-%m-%d", started),
                CoreReloadTime=time.strftime("%H:%M:%S", started),
                CoreCurrentCalls=str(len(live)),
                CoreProcessedCalls=str(self.pbx.calls_processed),
            )
        )

    async def command(self, action: AmiMessage, send: Send) -> None:
        """Command (only ``core show version``)."""
        cmd = (action.get("Command") or "").strip()
        if cmd == "fax show stats":
            lines = ["", "FAX Statistics:", "---------------", "", "Current Sessions     : 0",
                     "Transmit Attempts    : 1", "Receive Attempts     : 1",
                     "Completed FAXes      : 2", "Failed FAXes         : 0"]  # fmt: skip
            pairs = [("Response", "Success")]
            if action.action_id is not None:
                pairs.append(("ActionID", action.action_id))
            pairs += [("Message", "Command output follows"), *(("Output", x) for x in lines)]
            send(AmiMessage(tuple(pairs)))
            return
        if cmd == "core show version":
            send(
                response(
                    "Success",
                    action.action_id,
                    Message="Command output follows",
                    Output="Asterisk 22.10.1 (Callboard PBX simulator)",
                )
            )
            return
        hint = " ".join(cmd.split()[:2])
        send(
            response(
                "Error",
                action.action_id,
                Message="Command output follows",
                Output=f"No such command '{cmd}' (type 'core show help {hint}' for other "
                "possible commands)",
            )
        )

    async def wait_event(self, action: AmiMessage, send: Send) -> None:
        """WaitEvent (waits the timeout; events are delivered as usual meanwhile)."""
        timeout = action.get("Timeout") or "1"
        await self.pbx.sleep(float(timeout) if timeout.isdigit() else 1.0)
        send(response("Success", action.action_id, Message="Waiting for Event completed."))
        send(list_event("WaitEventComplete", action.action_id))

    async def db_put(self, action: AmiMessage, send: Send) -> None:
        """DBPut."""
        key = (action.get("Family") or "", action.get("Key") or "")
        self.database[key] = action.get("Val") or ""
        send(response("Success", action.action_id, Message="Updated database successfully"))

    async def db_get(self, action: AmiMessage, send: Send) -> None:
        """DBGet."""
        key = (action.get("Family") or "", action.get("Key") or "")
        if key not in self.database:
            send(response("Error", action.action_id, Message="Database entry not found"))
            return
        send(response("Success", action.action_id, EventList="start", Message="Result will follow"))
        send(
            list_event(
                "DBGetResponse",
                action.action_id,
                ("Family", key[0]),
                ("Key", key[1]),
                ("Val", self.database[key]),
            )
        )
        send(complete("DBGetComplete", action.action_id, 1))

    # -- calls ----------------------------------------------------------------------------------

    async def originate(self, action: AmiMessage, send: Send) -> None:
        """Originate (sync or async; Context/Exten or Application)."""
        action_id = action.action_id
        channel = action.get("Channel")
        if not channel:
            send(response("Error", action_id, Message="Channel not specified"))
            return
        priority = action.get("Priority")
        if priority is not None and not priority.strip().isdigit():
            send(response("Error", action_id, Message="Invalid priority"))
            return
        context, exten = action.get("Context"), action.get("Exten")
        application = action.get("Application")
        if not application and context and not extension_exists(context, exten or ""):
            send(response("Error", action_id, Message="Extension does not exist."))
            return
        timeout = action.get("Timeout") or "30000"
        cid_num, cid_name = parse_callerid(action.get("CallerID"))
        req = OriginateRequest(
            action_id=action_id,
            channel=channel,
            context=context,
            exten=exten,
            application=application,
            data=action.get("Data") or "",
            cid_num=cid_num,
            cid_name=cid_name,
            timeout_s=(int(timeout) if timeout.isdigit() else 30000) / 1000,
            variables=_variables(action),
            account=action.get("Account") or "",
        )
        is_async = (action.get("Async") or "").lower() in TRUE
        if is_async:
            send(response("Success", action_id, Message="Originate successfully queued"))
            self.pbx.spawn(self.dialplan.originate(req, self._publish))
            return
        result: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()

        def settle(message: AmiMessage) -> None:
            if not result.done():
                result.set_result(message)

        self.pbx.spawn(self.dialplan.originate(req, settle))
        outcome = await result
        if outcome.get("Response") == "Success":
            send(response("Success", action_id, Message="Originate successfully queued"))
        else:
            send(response("Error", action_id, Message="Originate failed"))

    def _publish(self, message: AmiMessage) -> None:
        self.pbx.emit(message.name, list(message.headers[2:]), "call,all")

    async def hangup(self, action: AmiMessage, send: Send) -> None:
        """Hangup."""
        chan = self._chan(action)
        if chan is None or chan.pair is None:
            send(response("Error", action.action_id, Message="No such channel"))
            return
        cause = action.get("Cause") or "16"
        code = int(cause) if cause.isdigit() else 16
        send(response("Success", action.action_id, Message="Channel Hungup"))
        if chan.xfer is not None:
            # The transferer hangs up during an attended transfer: the transfer completes.
            self.dialplan.complete_transfer(chan.xfer)
        pair = chan.pair
        if chan is pair.inner:
            pair.inner_hangup(code)
        elif chan.dialed or not chan.own_pbx:
            pair.outer_killed(code)
        else:
            pair.outer_own_end(code)

    async def redirect(self, action: AmiMessage, send: Send) -> None:
        """Redirect (blind transfer of one channel to a dialplan location)."""
        name = action.get("Channel") or ""
        chan = self.pbx.channels.get(name)
        if chan is None or chan.pair is None:
            send(response("Error", action.action_id, Message=f"Channel does not exist: {name}"))
            return
        context, exten = action.get("Context") or "", action.get("Exten") or ""
        if not extension_exists(context, exten):
            send(response("Error", action.action_id, Message="Extension does not exist."))
            return
        send(response("Success", action.action_id, Message="Redirect successful"))
        self.pbx.cancel_owned(chan)
        chan.dialed = False
        chan.own_pbx = True
        chan.context, chan.exten, chan.priority = context, exten, 1
        if chan.bridge is not None:
            chan.bridge.leave(chan)
        self.pbx.spawn(self.dialplan.run(Leg(chan)), owner=chan)

    async def setvar(self, action: AmiMessage, send: Send) -> None:
        """Setvar (channel or global)."""
        variable = action.get("Variable")
        if not variable:
            send(response("Error", action.action_id, Message="No variable specified"))
            return
        value = action.get("Value") or ""
        if action.get("Channel") is None:
            self.globals[variable] = value
        else:
            chan = self._chan(action)
            if chan is None:
                send(response("Error", action.action_id, Message="No such channel"))
                return
            chan.set_var(variable, value)
        send(response("Success", action.action_id, Message="Variable Set"))

    async def getvar(self, action: AmiMessage, send: Send) -> None:
        """Getvar (channel variables, CHANNEL(linkedid)/CALLERID(num), globals, EPOCH)."""
        variable = action.get("Variable") or ""
        if action.get("Channel") is None:
            value = str(int(time.time())) if variable == "EPOCH" else self.globals.get(variable)
            send(response("Success", action.action_id, Variable=variable, Value=value or ""))
            return
        chan = self._chan(action)
        if chan is None:
            send(response("Error", action.action_id, Message="No such channel"))
            return
        functions = {
            "CHANNEL(linkedid)": chan.linkedid,
            "CHANNEL(uniqueid)": chan.uniqueid,
            "CALLERID(num)": chan.cid_num,
            "CALLERID(name)": chan.cid_name,
        }
        value = functions.get(variable, chan.variables.get(variable, ""))
        send(response("Success", action.action_id, Variable=variable, Value=value))

    async def mix_monitor(self, action: AmiMessage, send: Send) -> None:
        """MixMonitor."""
        chan = self._chan(action)
        if chan is None:
            send(response("Error", action.action_id, Message="No such channel"))
            return
        filename = action.get("File") or f"{chan.uniqueid}.wav"
        if not filename.startswith("/"):
            filename = f"/var/spool/asterisk/monitor/{filename}"
        send(response("Success", action.action_id))
        chan.recording = True
        chan.set_var("MIXMONITOR_FILENAME", filename)
        chan.emit("MixMonitorStart")

    async def stop_mix_monitor(self, action: AmiMessage, send: Send) -> None:
        """StopMixMonitor."""
        chan = self._chan(action)
        if chan is None:
            send(response("Error", action.action_id, Message="No such channel"))
            return
        send(response("Success", action.action_id))
        chan.recording = False
        chan.emit("MixMonitorStop")

    async def mix_monitor_mute(self, action: AmiMessage, send: Send) -> None:
        """MixMonitorMute: mute (State 1) or unmute (0) a recording; emits MixMonitorMute."""
        aid = action.action_id
        state, direction = action.get("State"), (action.get("Direction") or "").lower()
        if not action.get("Channel"):
            send(response("Error", aid, Message="No channel specified"))
            return
        if not state:
            send(response("Error", aid, Message="No state specified"))
            return
        if not direction:
            send(response("Error", aid, Message="No direction specified"))
            return
        if direction not in ("read", "write", "both"):
            message = "Invalid direction specified. Must be read, write or both"
            send(response("Error", aid, Message=message))
            return
        chan = self._chan(action)
        if chan is None:
            send(response("Error", aid, Message="No such channel"))
            return
        if not chan.recording:
            send(response("Error", aid, Message="Cannot set mute flag"))
            return
        muted = state.lower() in TRUE
        send(response("Success", aid))
        chan.emit("MixMonitorMute", ("Direction", direction), ("State", "1" if muted else "0"))

    async def atxfer(self, action: AmiMessage, send: Send) -> None:
        """Atxfer: the transferer's new leg dials Exten@Context; completed when it hangs up."""
        aid = action.action_id
        if not action.get("Channel"):
            send(response("Error", aid, Message="No channel specified"))
            return
        exten = action.get("Exten") or ""
        if not exten:
            send(response("Error", aid, Message="No extension specified"))
            return
        chan = self._chan(action)
        if chan is None:
            send(response("Error", aid, Message="Channel specified does not exist"))
            return
        send(response("Success", aid, Message="Atxfer successfully queued"))
        context = action.get("Context") or chan.context
        bridge = chan.bridge
        peer = bridge.peer_of(chan) if bridge is not None else None
        if bridge is None or peer is None or chan.xfer is not None:
            return  # the feature's DTMF reaches a channel that is not bridged: nothing happens
        if not extension_exists(context, exten):
            return  # Asterisk plays "pbx-invalid" to the transferer; the call stays as it was
        self.pbx.spawn(self.dialplan.consult(chan, peer, bridge, exten, context), owner=chan)

    async def play_dtmf(self, action: AmiMessage, send: Send) -> None:
        """PlayDTMF: the digit is heard by the other half of the Local channel."""
        chan = self._chan(action)
        digit = action.get("Digit") or ""
        if chan is None or chan.pair is None:
            send(response("Error", action.action_id, Message="No such channel"))
            return
        send(response("Success", action.action_id, Message="DTMF successfully queued"))
        hearer = chan.pair.inner if chan is chan.pair.outer else chan.pair.outer
        for event in ("DTMFBegin", "DTMFEnd"):
            hearer.emit(event, ("Digit", digit), ("Direction", "Received"), privilege="dtmf,all")
        hearer.dtmf.put_nowait(digit)

    async def bridge_list(self, action: AmiMessage, send: Send) -> None:
        """BridgeList: one BridgeListItem per bridge (as 01b), then BridgeListComplete."""
        aid = action.action_id
        wanted = action.get("BridgeType")
        send(response("Success", aid, EventList="start", Message="Bridge listing will follow"))
        bridges = [
            b for b in self.pbx.bridges.values() if wanted is None or wanted.lower() == "basic"
        ]
        for bridge in bridges:
            send(list_event("BridgeListItem", aid, *bridge.block("Bridge")))
        send(complete("BridgeListComplete", aid, len(bridges)))

    async def list_commands(self, action: AmiMessage, send: Send) -> None:
        """ListCommands: one ``Name: synopsis  (Priv: ...)`` header per action (as 08)."""
        names = sorted({*self._handlers, "login", "logoff", "challenge", "events", "filter"})
        pairs = dict(_COMMANDS[n] for n in names if n in _COMMANDS)
        send(response("Success", action.action_id, **pairs))

    async def user_event(self, action: AmiMessage, send: Send) -> None:
        """UserEvent: broadcast with every header of the action."""
        name = action.get("UserEvent")
        if not name:
            send(response("Error", action.action_id, Message="UserEvent not specified"))
            return
        send(response("Success", action.action_id, Message="Event Sent"))
        headers = [(k, v) for k, v in action.headers if k.lower() not in ("action", "userevent")]
        self.pbx.emit("UserEvent", [("UserEvent", name), *headers], "user,all")

    async def inbound_call(
        self, caller_id: str, queue: str, patience_s: float, did: str, crm_call_id: str | None
    ) -> str:
        """Start an inbound call into a queue, as the recordings simulate one."""
        variables = {"INBOUND_CLI": caller_id, "QUEUE": queue}
        if crm_call_id:
            variables["CRM_CALL_ID"] = crm_call_id
        req = OriginateRequest(
            action_id=None,
            channel=f"Local/{did}@from-pstn",
            context=None,
            exten=None,
            application="Wait",
            data=f"{patience_s:g}",
            cid_num=caller_id,
            cid_name=caller_id,
            timeout_s=30,
            variables=variables,
        )
        linked: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def settle(message: AmiMessage) -> None:
            if not linked.done():
                linked.set_result(message.get("Uniqueid") or "")

        self.pbx.spawn(self.dialplan.originate(req, settle))
        return await linked


def _variables(action: AmiMessage) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in action.get_all("Variable"):
        for part in value.split(","):
            key, sep, val = part.partition("=")
            if sep:
                result[key.strip()] = val
    return result
