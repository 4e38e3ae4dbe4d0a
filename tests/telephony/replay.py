"""Helpers to replay recorded traces through the parser and the call tracker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_core.bus.events import Event
from telephony.models import AgentDirectory
from telephony.tracker import CallTracker

from .traces import TracedMessage, at, server_messages

__all__ = ["DIRECTORY", "Replay", "call_events", "replay", "replay_messages"]

DIRECTORY = AgentDirectory(
    {
        f"Local/{n}@agents": f"agent-{n}"
        for n in [*range(1001, 1011), *range(2001, 2010), 3001, 3002]
    }
)


@dataclass
class Replay:
    """The tracker after a replay and every event it emitted, with the trace time."""

    tracker: CallTracker
    events: list[tuple[float, Event]] = field(default_factory=list)

    def of(self, kind: type[Event]) -> list[Event]:
        """Return the events of one type."""
        return [e for _, e in self.events if isinstance(e, kind)]


def replay_messages(
    messages: Iterable[TracedMessage], tracker: CallTracker | None = None
) -> Replay:
    """Feed messages to a tracker (a new one by default)."""
    result = Replay(tracker or CallTracker("main", DIRECTORY))
    for m in messages:
        for event in result.tracker.apply(m.message, at(m.t)):
            result.events.append((m.t, event))
    return result


def replay(name: str) -> Replay:
    """Replay the server side of a recorded trace."""
    return replay_messages(server_messages(name))


def call_events(result: Replay) -> list[str]:
    """Return the names of the call-level events, in order."""
    names = []
    for _, event in result.events:
        name = type(event).__name__
        if name.startswith("Call"):
            names.append(name)
    return names
