"""Every telephony event round-trips through the bus codec."""

from __future__ import annotations

import inspect

from crm_core.bus.events import Event, decode_event, encode_event
from telephony import events as telephony_events

from .replay import replay


def _event_classes() -> set[type[Event]]:
    return {
        cls
        for _, cls in inspect.getmembers(telephony_events, inspect.isclass)
        if issubclass(cls, Event) and cls.event_name.startswith("telephony.")
    }


def test_every_event_from_every_replay_round_trips() -> None:
    seen: set[type[Event]] = set()
    for name in ["02", "03c", "03g", "04a", "04b", "04d", "04e", "05", "10"]:
        for _, event in replay(name).events:
            wire = encode_event(event)
            back = decode_event(wire)
            assert back == event, wire
            assert type(back) is type(event)
            seen.add(type(event))
    assert seen == _event_classes()


def test_event_names_are_namespaced_and_unique() -> None:
    names = [cls.event_name for cls in _event_classes()]
    assert len(names) == len(set(names)) == 11
    assert all(n.startswith("telephony.") for n in names)
