"""The simulator's AMI server: TCP sessions, login, event masks and filters, and Shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from telephony.protocol import AmiMessage, AmiParser
from telephony.sim.actions import ActionHandler, response
from telephony.sim.dialplan import Dialplan
from telephony.sim.engine import Pbx
from telephony.sim.queues import QueueSet

__all__ = ["DEFAULT_USERS", "PbxSimulator", "SimUser", "start_simulator"]

logger = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EVENT_CLASSES = frozenset(
    {"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
     "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
     "message"}
)  # fmt: skip
_BAD_FILTER = "Filter was formatted incorrectly.  Check the syntax of the filter given."
_UNAUTHENTICATED = frozenset({"login", "challenge", "logoff"})
_READ_ONLY_ACTIONS = frozenset(
    {"ping", "logoff", "events", "status", "coreshowchannels", "queuestatus", "queuesummary",
     "coresettings", "corestatus", "getvar", "waitevent", "listcommands"}
)  # fmt: skip


@dataclass(frozen=True)
class SimUser:
    """An AMI account of the simulator (as in manager.conf)."""

    username: str
    secret: str
    read: frozenset[str] = frozenset({"all"})
    write: frozenset[str] = frozenset({"all"})
    exclude_events: frozenset[str] = frozenset()

    def may_read(self, event_class: str) -> bool:
        """Return True if the account may receive events of this class."""
        return "all" in self.read or event_class in self.read


DEFAULT_USERS: Mapping[str, SimUser] = {
    "crm": SimUser("crm", "crmsecret"),
    "crmfiltered": SimUser(
        "crmfiltered",
        "crmsecret",
        exclude_events=frozenset(
            {
                "VarSet",
                "Newexten",
                "DeviceStateChange",
                "ExtensionStatus",
                "RTCPSent",
                "RTCPReceived",
            }
        ),
    ),
    "monitor": SimUser(
        "monitor",
        "monsecret",
        read=frozenset({"call", "agent", "reporting", "user", "cdr", "dialplan"}),
        write=frozenset({"reporting"}),
    ),
}


def parse_mask(value: str | None) -> frozenset[str]:
    """Turn an ``Events:``/``EventMask:`` value into a set of event classes."""
    text = (value or "on").strip().lower()
    if text in ("on", "yes", "true", "1", "all"):
        return EVENT_CLASSES
    if text in ("off", "no", "false", "0", "none"):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


@dataclass(eq=False)
class Session:
    """One AMI client connection."""

    sim: PbxSimulator
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    user: SimUser | None = None
    mask: frozenset[str] = frozenset()
    challenge: str | None = None
    closing: bool = False
    parser: AmiParser = field(default_factory=AmiParser)
    filters: list[Callable[[AmiMessage], bool]] = field(default_factory=list)

    def send(self, message: AmiMessage) -> None:
        """Write one message, unless the connection is going away."""
        if not self.closing and not self.writer.is_closing():
            self.writer.write(message.encode())

    def deliver(self, message: AmiMessage, event_class: str) -> None:
        """Deliver an event if this session's account, mask and filters let it through."""
        if self.user is None or event_class not in self.mask:
            return
        if not self.user.may_read(event_class):
            return
        if message.event in self.user.exclude_events:
            return
        if self.filters and not any(f(message) for f in self.filters):
            return
        self.send(message)

    async def close(self) -> None:
        """Close the connection."""
        self.closing = True
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def run(self) -> None:
        """Serve the connection until it closes."""
        self.writer.write(BANNER)
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                for action in self.parser.feed(data):
                    await self.handle(action)
                    if self.closing:
                        break
        except (ConnectionError, OSError):
            logger.debug("simulator session reset")
        finally:
            self.sim.sessions.discard(self)
            self.closing = True
            self.writer.close()

    async def handle(self, action: AmiMessage) -> None:
        """Answer one client message."""
        action_id = action.action_id
        name = (action.get("Action") or "").strip()
        key = name.lower()
        self.sim.action_arrived(action)
        if not name:
            self.send(response("Error", action_id, Message="Missing action in request"))
            self.sim.bad_request(self, "Action: NONE")
            return
        if self.user is None and key not in _UNAUTHENTICATED:
            self.send(response("Error", action_id, Message="Permission denied"))
            return
        if key == "login":
            await self._login(action)
            return
        if key == "challenge":
            self.challenge = str(self.sim.challenge_seq())
            self.send(response("Success", action_id, Challenge=self.challenge))
            return
        if key == "logoff":
            self.send(response("Goodbye", action_id, Message="Thanks for all the fish."))
            await self.writer.drain()
            await self.close()
            return
        assert self.user is not None
        if "all" not in self.user.write and key not in _READ_ONLY_ACTIONS:
            self.send(response("Error", action_id, Message="Permission denied"))
            return
        if key == "filter":
            self._filter(action)
            return
        if key == "events":
            self.mask = parse_mask(action.get("EventMask"))
            self.send(response("Success", action_id, Events="On" if self.mask else "Off"))
            return
        handled = await self.sim.actions.handle(key, action, self.send)
        if not handled:
            self.send(
                response(
                    "Error",
                    action_id,
                    Message=f"Invalid/unknown command: {name}. "
                    "Use Action: ListCommands to show available commands.",
                )
            )
            self.sim.bad_request(self, f"Action: {name}")

    def _filter(self, action: AmiMessage) -> None:
        """Add a per-session include filter (legacy regex or advanced criteria), as 09d."""
        action_id = action.action_id
        criteria = action.get("MatchCriteria")
        text = action.get("Filter") or ""
        if criteria is None:
            try:
                pattern = re.compile(text)
            except re.error:
                pattern = None
            if pattern is None or not text:
                self.send(response("Error", action_id, Message=_BAD_FILTER))
                return
            self.filters.append(lambda m: pattern.search(m.encode().decode()) is not None)
            self.send(response("Success", action_id, Message="Success"))
            return
        parts = dict(re.findall(r"(\w+)\(([^)]*)\)", criteria))
        if "header" in parts and "method" not in parts:
            self.send(response("Error", action_id, Message=_BAD_FILTER))
            return
        name, header = parts.get("name"), parts.get("header")

        def matches(message: AmiMessage) -> bool:
            if name is not None and message.event != name:
                return False
            return header is None or message.get(header) == text

        self.filters.append(matches)
        self.send(response("Success", action_id, Message="Success"))

    async def _login(self, action: AmiMessage) -> None:
        action_id = action.action_id
        user = self.sim.users.get(action.get("Username") or "")
        ok = False
        if user is not None:
            if (action.get("AuthType") or "").lower() == "md5":
                digest = hashlib.md5(  # noqa: S324 - AMI's challenge protocol is MD5
                    f"{self.challenge or ''}{user.secret}".encode()
                ).hexdigest()
                ok = self.challenge is not None and action.get("Key") == digest
            else:
                ok = action.get("Secret") == user.secret
        if not ok:
            # Asterisk answers a failed login about a second late, then drops the connection.
            await self.sim.pbx.sleep(1.0)
            self.send(response("Error", action_id, Message="Authentication failed"))
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()
            await self.close()
            return
        assert user is not None
        self.user = user
        self.mask = parse_mask(action.get("Events"))
        self.send(response("Success", action_id, Message="Authentication accepted"))
        uptime = str(int(self.sim.uptime()))
        self.deliver(
            AmiMessage.build(
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", uptime),
                ("LastReload", uptime),
                ("Status", "Fully Booted"),
            ),
            "system",
        )
        self.deliver(
            AmiMessage.build(
                ("Event", "SuccessfulAuth"),
                ("Privilege", "security,all"),
                ("Severity", "Informational"),
                ("Service", "AMI"),
                ("EventVersion", "1"),
                ("AccountID", user.username),
                ("UsingPassword", "0"),
            ),
            "security",
        )


class PbxSimulator:
    """A running simulated Asterisk: an AMI server on TCP plus the simulated PBX."""

    def __init__(self, *, speed: float = 1.0, users: Mapping[str, SimUser] | None = None) -> None:
        self.pbx = Pbx(speed=speed)
        self.dialplan = Dialplan(self.pbx)
        self.queues = QueueSet(self.pbx, self.dialplan)
        self.actions = ActionHandler(self.pbx, self.dialplan, self.queues)
        self.users: dict[str, SimUser] = dict(users if users is not None else DEFAULT_USERS)
        self.sessions: set[Session] = set()
        self.actions_seen: list[AmiMessage] = []
        self._arrived = asyncio.Event()
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._challenge = 198126966
        self._started = asyncio.get_running_loop().time()
        self.pbx.listeners.append(self._broadcast)

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        return self._port

    @property
    def speed(self) -> float:
        """Return how much faster than real time the PBX runs."""
        return self.pbx.speed

    def uptime(self) -> float:
        """Return simulated seconds since start."""
        return (asyncio.get_running_loop().time() - self._started) * self.pbx.speed

    def action_arrived(self, action: AmiMessage) -> None:
        """Record an action a client sent (see :meth:`wait_for_action`)."""
        self.actions_seen.append(action)
        self._arrived.set()

    async def wait_for_action(self, name: str) -> AmiMessage:
        """Wait until a client has sent an action called ``name``; return the first one."""
        while True:
            for action in self.actions_seen:
                if (action.get("Action") or "").lower() == name.lower():
                    return action
            self._arrived.clear()
            await self._arrived.wait()

    def challenge_seq(self) -> int:
        """Return a new MD5 login challenge."""
        value = self._challenge
        self._challenge += 7919
        return value

    async def start(self, host: str, port: int) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._accept, host, port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        logger.info("PBX simulator listening on %s:%s (speed %s)", host, self.port, self.speed)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.get_running_loop().create_task(session.run())
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)

    def _broadcast(self, message: AmiMessage, event_class: str) -> None:
        for session in list(self.sessions):
            session.deliver(message, event_class)

    def bad_request(self, session: Session, request_type: str) -> None:
        """Emit RequestBadFormat to the offending session (security class)."""
        session.deliver(
            AmiMessage.build(
                ("Event", "RequestBadFormat"),
                ("Privilege", "security,all"),
                ("Severity", "Error"),
                ("Service", "AMI"),
                ("EventVersion", "1"),
                ("RequestType", request_type),
                ("AccountID", session.user.username if session.user else ""),
            ),
            "security",
        )

    async def inbound_call(
        self,
        caller_id: str,
        queue: str = "support",
        patience_s: float = 60.0,
        *,
        did: str = "2101234567",
        crm_call_id: str | None = None,
    ) -> str:
        """Place an inbound call from ``caller_id`` into ``queue``; return its Linkedid."""
        return await self.actions.inbound_call(caller_id, queue, patience_s, did, crm_call_id)

    async def shutdown_sessions(self, *, restart: bool = True) -> None:
        """Send ``Event: Shutdown`` to every session and close them (a PBX restart)."""
        event = AmiMessage.build(
            ("Event", "Shutdown"),
            ("Privilege", "system,all"),
            ("Shutdown", "Cleanly"),
            ("Restart", "True" if restart else "False"),
        )
        for session in list(self.sessions):
            session.deliver(event, "system")
            await session.close()

    async def close(self) -> None:
        """Stop the server, drop every session and stop every simulated call."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            await session.close()
        await self.pbx.close()
        tasks = list(self._session_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> PbxSimulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    speed: float = 1.0,
    users: Mapping[str, SimUser] | None = None,
) -> PbxSimulator:
    """Start a PBX simulator listening on ``host:port`` (0 picks a free port)."""
    sim = PbxSimulator(speed=speed, users=users)
    await sim.start(host, port)
    return sim
