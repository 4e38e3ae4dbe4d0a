"""panoramisk 1.4 glue: message conversion and a Manager without its own reconnect loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk import Manager

from telephony.protocol import AmiMessage

__all__ = ["QuietManager", "to_ami_message"]


def to_ami_message(message: Mapping[str, Any]) -> AmiMessage:
    """Turn a panoramisk message (a case-insensitive dict) into our immutable message."""
    pairs: list[tuple[str, str]] = []
    first: list[tuple[str, str]] = []
    for key, value in message.items():
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
