"""panoramisk 1.4 glue: message conversion, a faster reader, a Manager without its own
reconnect loop.

:class:`FastAMIProtocol` is panoramisk's ``AMIProtocol`` with a faster ``data_received``: it
builds the very same :class:`panoramisk.message.Message` objects (same headers, same order, same
``content``) without going through ``Message.from_line`` and the generic ``MutableMapping.update``
of its case-insensitive dict, which were the largest cost of an event in the application
(panoramisk's parsing was ~13 % of the process's samples under 2,000 events/s). Whatever the fast
path does not handle exactly as panoramisk does — a repeated header (``Variable``), a header
named ``Content``, a response with a body (``Follows``/``Fail``), a message answering a pending
action, recording of the stream — goes through panoramisk's own code. A test feeds every recorded
trace to both readers, in chunks of every size, and compares what they deliver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from telephony.protocol import AmiMessage

__all__ = [
    "FastAMIProtocol",
    "QuietManager",
    "Unread",
    "parse_message",
    "store_to_message",
    "to_ami_message",
]

_EOL = "\r\n"
_END = "\r\n\r\n"
_HAS_BODY = ("Response: Follows", "Response: Fail")  # panoramisk reads a body after these
_QUOTED = frozenset(key.lower() for key in Message.quoted_keys)  # unquoted by panoramisk
_BANNER = "Asterisk Call Manager/"
_NO_NAME = ("", "")  # what panoramisk's ``event.event`` reads when there is no Event header


def parse_message(block: str) -> Message | None:
    """One AMI message (a block without its blank line, stripped) as panoramisk's
    ``Message.from_line`` reads it: the same ``Message``, or None when it is neither an event
    nor a response. Falls back to ``from_line`` for whatever it does not take apart itself."""
    if block.startswith(_HAS_BODY):
        return Message.from_line(block)
    store: dict[str, tuple[str, Any]] = {}
    named = False
    for line in block.split(_EOL):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        lowered = key.lower()
        if lowered in store or lowered == "content":
            # A repeated header becomes a list in panoramisk, a case variant overwrites, and
            # "Content" collides with the message body's key: panoramisk's own way for those.
            return Message.from_line(block)
        if lowered in _QUOTED:
            value = unquote(value).strip()
        store[lowered] = (key, value)
        if key == "Event" or key == "Response":
            named = True
    if not named:
        return None
    store["content"] = ("content", "")
    message: Message = Message.__new__(Message)
    message._store = store
    message.manager = None
    return message


class Unread:
    """Events that the consumer drops on arrival, recognised from their first line (and a
    ``VarSet``'s ``Variable``) before anything is parsed, and how many were passed over.

    Only plain events are passed over: one carrying an ``ActionID`` (a list action's items)
    is always read, since it may answer a pending action. ``events`` must not name an event
    another callback of the manager needs (panoramisk's own: ``FullyBooted``).
    """

    def __init__(self, events: frozenset[str], variables: frozenset[str]) -> None:
        self.events = events
        self.variables = variables
        self.count = 0

    def __call__(self, block: str) -> bool:
        """True (and counted) when ``block`` is a message the consumer would drop."""
        if not block.startswith("Event: "):
            return False
        end = block.find(_EOL)
        name = block[7:end] if end >= 0 else block[7:]
        if name == "VarSet":
            at = block.find("\r\nVariable: ")
            if at < 0:
                return False
            start = at + 12
            stop = block.find(_EOL, start)
            if (block[start:stop] if stop >= 0 else block[start:]) in self.variables:
                return False
        elif name not in self.events:
            return False
        if "\r\nActionID: " in block:
            return False
        self.count += 1
        return True


class FastAMIProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, reading messages with :func:`parse_message`, passing over those
    that ``unread`` recognises as dropped by the consumer."""

    def __init__(self, unread: Unread | None = None) -> None:
        self.unread = unread

    def data_received(self, data: bytes) -> None:
        """Split the stream into messages and hand them on exactly as panoramisk does."""
        if getattr(self.factory, "save_stream", None):
            super().data_received(data)  # panoramisk records the raw stream itself
            return
        text = data.decode(getattr(self, "encoding", "ascii"), "ignore")
        if getattr(self, "version", None) is None and text.startswith(_BANNER):
            banner: str = text.partition(_EOL)[0].partition("/")[2]
            self.version = banner.strip()
            self.log.info("protocol version: '%s'", banner.strip())
        queue = self.queue
        if queue:
            text = queue.popleft() + text
        blocks = text.split(_END)
        queue.append(blocks.pop())
        unread = self.unread
        for raw in blocks:
            block = raw.strip()
            if unread is not None and unread(block):
                continue
            message = parse_message(block)
            if message is None:
                continue
            store = message._store
            if self.responses and ("actionid" in store or "commandid" in store):
                self.handle_message(message)  # may answer a pending action: panoramisk's way
                continue
            event = store.get("event")
            if event is None:
                continue  # a response nobody waits for: panoramisk drops it too
            if event[1].__class__ is str and event[1].lower() == "shutdown":
                self.connection_lost(message)
            self.factory.dispatch(message)


def to_ami_message(message: Mapping[str, Any]) -> AmiMessage:
    """Turn a panoramisk message (a case-insensitive dict) into our immutable message."""
    store = getattr(message, "_store", None)
    if not isinstance(store, dict):
        return _generic(message.items())
    return store_to_message(store)


def store_to_message(store: dict[str, tuple[str, Any]]) -> AmiMessage:
    """Convert panoramisk's internal store (lower-cased key -> (Key, value)) to our message."""
    # The hot path of every event: panoramisk's dict keeps lower-cased key -> (key, value) in
    # arrival order, which gives our pairs (the very same tuples: no new allocation) and our
    # lookup index in one pass, without lower().
    pairs: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for lowered, pair in store.items():
        value = pair[1]
        if value.__class__ is not str:
            return _with_repeats(store)  # repeated headers (Variable...) or command output
        pairs.append(pair)
        index[lowered] = value
    # Event/Response first, as on the wire (an OriginateResponse has both).
    if "event" in index:
        if "response" in index or pairs[0][0].lower() != "event":
            return _generic(store.values())
    elif "response" in index and pairs[0][0].lower() != "response":
        return _generic(store.values())
    return AmiMessage.with_index(tuple(pairs), index)


def _with_repeats(store: dict[str, tuple[str, Any]]) -> AmiMessage:
    pairs: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    reorder = False
    for lowered, (key, value) in store.items():
        if value.__class__ is str:
            pairs.append((key, value))
            index[lowered] = value
        elif lowered == "content":
            return _generic(store.values())
        else:
            values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            pairs.extend((key, v) for v in values)
            index[lowered] = values[0]
        if len(pairs) > 1 and lowered in ("event", "response"):
            reorder = True
    if reorder:
        return _generic(store.values())
    return AmiMessage.with_index(tuple(pairs), index)


def _generic(items: Iterable[tuple[str, Any]]) -> AmiMessage:
    pairs: list[tuple[str, str]] = []
    first: list[tuple[str, str]] = []
    for key, value in items:
        if key == "content":
            for line in str(value).splitlines():
                pairs.append(("Output", line))
            continue
        values = value if isinstance(value, list) else [value]
        target = first if key.lower() in ("event", "response") else pairs
        target.extend((key, str(v)) for v in values)
    return AmiMessage((*first, *pairs))


class QuietManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own reconnect loop."""

    def __init__(self, on_lost: Callable[[object], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost
        self._callback_tasks: set[asyncio.Future[Any]] = set()

    def dispatch(self, event: Message) -> list[str]:
        """panoramisk's dispatch (callbacks of every pattern matching the event's name, in
        registration order), reading the name straight from the message and matching the
        catch-all ``*`` without its regular expression."""
        name = event._store.get("event", _NO_NAME)[1]
        if name.__class__ is not str:
            matched: list[str] = super().dispatch(event)  # a repeated Event header
            return matched
        event.manager = self
        matches = []
        for pattern, regexp in self.patterns:
            if pattern != "*" and regexp.match(name) is None:
                continue
            matches.append(pattern)
            for callback in self.callbacks[pattern]:
                ret = callback(self, event)
                if ret is not None and (
                    asyncio.iscoroutine(ret) or isinstance(ret, asyncio.Future)
                ):
                    task = asyncio.ensure_future(ret, loop=self.loop)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_tasks.discard)
        return matches

    def connection_lost(self, exc: object) -> None:
        """Report the loss to the gateway instead of reconnecting on our back."""
        self._connected = False
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        # Never re-send actions after a reconnect: their callers were already told.
        self.awaiting_actions.clear()
        self._on_lost(exc)
