"""Drive the simulator with a recorded conversation and compare what it answers with Asterisk.

Comparison is per channel (and per action for OriginateResponse, per agent leg for
AgentComplete): event names in order and the headers the platform reads. Volatile values are
normalised: channel numbers by order of appearance, Uniqueid/Linkedid by the channel they name.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

from telephony.protocol import AmiMessage, AmiParser
from telephony.sim import PbxSimulator

from .traces import load_timeline

__all__ = ["COMPARED_EVENTS", "Normalizer", "Transcript", "drive", "per_key"]

COMPARED_EVENTS = frozenset(
    {
        "Newchannel", "Newstate", "NewCallerid", "DialBegin", "DialState", "DialEnd",
        "BridgeEnter", "BridgeLeave", "HangupRequest", "SoftHangupRequest", "Hangup",
        "OriginateResponse", "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon",
        "AgentCalled", "AgentConnect", "AgentComplete", "MixMonitorStart", "MixMonitorStop",
        "UserEvent", "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause",
        "QueueMemberPenalty", "Shutdown", "FullyBooted", "RequestBadFormat",
        "QueueStatusComplete", "QueueSummaryComplete", "StatusComplete",
        "CoreShowChannelsComplete", "QueueEntry",
    }
)  # fmt: skip
_CHANNEL_HEADERS = ("ChannelState", "CallerIDNum", "ConnectedLineNum", "Context", "Exten",
                    "Cause", "Queue", "Interface", "MemberName", "UserEvent", "Digit",
                    "Position", "Count")  # fmt: skip
_DEST_HEADERS = ("DialStatus", "Queue", "Interface", "MemberName")
_SUFFIX = re.compile(r"^(?P<iface>[^;]+)-(?P<hex>[0-9a-f]{8})(?P<half>;[12])?$")


class Normalizer:
    """Maps volatile names and ids to stable ones, by order of appearance."""

    def __init__(self) -> None:
        self._bases: dict[str, str] = {}
        self._per_iface: Counter[str] = Counter()
        self._uids: dict[str, str] = {}

    def channel(self, name: str | None) -> str | None:
        if name is None:
            return None
        match = _SUFFIX.match(name)
        if not match:
            return name
        base = f"{match['iface']}-{match['hex']}"
        if base not in self._bases:
            self._per_iface[match["iface"]] += 1
            self._bases[base] = f"{match['iface']}#{self._per_iface[match['iface']]}"
        return self._bases[base] + (match["half"] or "")

    def bases(self) -> dict[str, str]:
        """Return the mapping of channel bases to their stable names."""
        return dict(self._bases)

    def uid(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._uids.get(value, "?")

    def learn(self, msg: AmiMessage) -> None:
        for prefix in ("", "Dest"):
            chan, uid = msg.get(prefix + "Channel"), msg.get(prefix + "Uniqueid")
            if chan and uid and uid not in self._uids:
                self._uids[uid] = self.channel(chan) or "?"


def key_of(msg: AmiMessage, norm: Normalizer, conn: str) -> tuple[str, tuple[object, ...]] | None:
    """Return (stream key, comparable tuple) of a server message, or None to ignore it."""
    norm.learn(msg)
    if msg.kind == "response":
        fields = ("Response", "ActionID", "Message", "Events", "Ping", "Variable", "Challenge")
        return f"{conn}:responses", tuple((f, msg.get(f)) for f in fields if f in msg)
    name = msg.event or ""
    if name not in COMPARED_EVENTS:
        return None
    if name == "OriginateResponse":
        fields = ("Response", "Reason", "Context", "Exten", "Application", "CallerIDNum")
        head = (norm.channel(msg.get("Channel")),)
        return f"originate:{msg.action_id}", head + tuple(msg.get(f) for f in fields)
    if name == "AgentComplete":
        dest = norm.channel(msg.get("DestChannel"))
        fields = ("Queue", "Interface", "MemberName", "Reason")
        return f"complete:{dest}", (
            norm.channel(msg.get("Channel")),
            *tuple(msg.get(f) for f in fields),
        )
    if "DestChannel" in msg:
        dest = norm.channel(msg.get("DestChannel"))
        return f"dest:{dest}", (
            name,
            norm.channel(msg.get("Channel")),
            *tuple(msg.get(f) for f in _DEST_HEADERS),
        )
    if "Channel" in msg and name != "QueueEntry":
        chan = norm.channel(msg.get("Channel"))
        values = tuple(msg.get(f) for f in _CHANNEL_HEADERS)
        extra = (norm.uid(msg.get("Uniqueid")), norm.uid(msg.get("Linkedid")))
        return f"chan:{chan}", (name, *values, *extra)
    fields = ("Queue", "Interface", "Paused", "PausedReason", "Penalty", "Shutdown", "Restart",
              "ListItems", "Status", "Position", "CallerIDNum", "RequestType")  # fmt: skip
    return f"{conn}:events", (name, *(msg.get(f) for f in fields))


def per_key(messages: list[tuple[str, AmiMessage]]) -> dict[str, list[tuple[object, ...]]]:
    """Group comparable messages by stream key, in order."""
    norm = Normalizer()
    out: dict[str, list[tuple[object, ...]]] = {}
    for conn, msg in messages:
        item = key_of(msg, norm, conn)
        if item is not None:
            out.setdefault(item[0], []).append(item[1])
    return out


@dataclass
class Transcript:
    """What the simulator sent on each connection, in order."""

    messages: list[tuple[str, AmiMessage]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    missing: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)


def _signature(msg: AmiMessage, norm: Normalizer) -> tuple[object, ...] | None:
    norm.learn(msg)
    if msg.kind == "response":
        return ("response", msg.action_id, msg.get("Response"))
    if msg.event in COMPARED_EVENTS and msg.event != "OriginateResponse":
        return ("event", msg.event, norm.channel(msg.get("Channel") or msg.get("DestChannel")))
    return None


def _translate(data: str, rec: Normalizer, sim: Normalizer) -> str:
    """Rewrite recorded channel names in an action to the simulator's names for them."""
    reverse = {v: k for k, v in sim.bases().items()}
    lines = []
    for line in data.split("\r\n"):
        key, sep, value = line.partition(": ")
        match = _SUFFIX.match(value) if sep else None
        if match:
            stable = rec.channel(f"{match['iface']}-{match['hex']}")
            if stable in reverse:
                line = f"{key}: {reverse[stable]}{match['half'] or ''}"
        lines.append(line)
    return "\r\n".join(lines)


async def drive(sim: PbxSimulator, name: str, *, wait_s: float = 3.0) -> Transcript:
    """Replay the client side of a recording against the simulator, action by action.

    Before each action the driver waits until the simulator has sent everything the recording
    shows before it (giving up after ``wait_s`` so that the comparison can report what is
    missing), then keeps the recorded pause in simulated time.
    """
    transcript = Transcript()
    rec_norm, sim_norm = Normalizer(), Normalizer()
    parsers: dict[str, AmiParser] = {}
    wanted: Counter[tuple[str, tuple[object, ...]]] = Counter()
    got: Counter[tuple[str, tuple[object, ...]]] = Counter()
    conns: dict[str, tuple[asyncio.StreamWriter, asyncio.Task[None]]] = {}
    last_server_t = 0.0

    async def reader_loop(conn: str, reader: asyncio.StreamReader) -> None:
        parser = AmiParser()
        while data := await reader.read(65536):
            for msg in parser.feed(data):
                transcript.messages.append((conn, msg))
                sig = _signature(msg, sim_norm)
                if sig is not None:
                    got[(conn, sig)] += 1
                transcript.changed.set()

    async def caught_up() -> None:
        try:
            async with asyncio.timeout(wait_s):
                while any(got[k] < n for k, n in wanted.items()):
                    transcript.changed.clear()
                    await transcript.changed.wait()
        except TimeoutError:
            transcript.missing.extend(k for k, n in wanted.items() if got[k] < n)
            for k, n in wanted.items():
                got[k] = max(got[k], n)

    try:
        for line in load_timeline(name):
            if line.dir == "S>C":
                for msg in parsers.setdefault(line.conn, AmiParser()).feed(line.data.encode()):
                    sig = _signature(msg, rec_norm)
                    if sig is not None:
                        wanted[(line.conn, sig)] += 1
                last_server_t = line.t
            elif line.dir == "C>S":
                await caught_up()
                await sim.pbx.sleep(max(line.t - last_server_t, 0.0))
                if line.conn not in conns:
                    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
                    task = asyncio.create_task(reader_loop(line.conn, reader))
                    conns[line.conn] = (writer, task)
                conns[line.conn][0].write(_translate(line.data, rec_norm, sim_norm).encode())
            elif "core restart" in line.data:
                await caught_up()
                await sim.shutdown_sessions()
            elif "connection closed" in line.data:
                conn = line.data.split(":", 1)[0]
                if conn in conns:
                    await caught_up()
                    async with asyncio.timeout(wait_s):
                        await conns[conn][1]
    finally:
        for writer, task in conns.values():
            writer.close()
            task.cancel()
        await asyncio.gather(*(t for _, t in conns.values()), return_exceptions=True)
    return transcript
