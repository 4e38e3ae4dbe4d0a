"""panoramisk 1.4 glue: message conversion and a Manager without its own reconnect loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from panoramisk import Manager

from telephony.protocol import AmiMessage

__all__ = ["QuietManager", "store_to_message", "to_ami_message"]


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
