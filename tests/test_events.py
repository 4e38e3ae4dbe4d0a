"""Domain events: JSON wire form round trips, decode errors and the event-name registry."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from crm_core.bus.events import (
    Event,
    EventDecodeError,
    decode_event,
    encode_event,
    event_type,
    registered_events,
    utcnow,
)


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class Party:
    number: str
    label: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventsPing(Event):
    event_name = "test.events_ping"
    n: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventsScalar(Event):
    event_name = "test.events_scalar"
    text: str
    number: int
    when: datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventsRich(Event):
    event_name = "test.events_rich"
    call_id: str
    duration: float
    answered: bool
    colour: Colour
    priority: Priority
    tags: tuple[str, ...] = ()
    pair: tuple[int, str] = (0, "")
    note: str | None = None
    answered_at: datetime | None = None
    caller: Party
    others: tuple[Party, ...] = ()


FIXED_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)


def rich_event() -> EventsRich:
    return EventsRich(
        occurred_at=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        call_id="c-1",
        duration=12.5,
        answered=True,
        colour=Colour.BLUE,
        priority=Priority.HIGH,
        tags=("vip", "callback"),
        pair=(7, "seven"),
        note=None,
        answered_at=datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
        caller=Party(number="+302101234567", label="home"),
        others=(Party(number="100"), Party(number="200", label="desk")),
    )


def test_rich_event_round_trip() -> None:
    event = rich_event()
    decoded = decode_event(encode_event(event))
    assert type(decoded) is EventsRich
    assert decoded == event
    assert isinstance(decoded, EventsRich)
    assert type(decoded.colour) is Colour
    assert type(decoded.priority) is Priority
    assert type(decoded.caller) is Party
    assert decoded.tags == ("vip", "callback")
    assert isinstance(decoded.others, tuple)


def test_wire_form_is_a_plain_json_envelope() -> None:
    wire = json.loads(encode_event(rich_event()))
    assert wire["event"] == "test.events_rich"
    data = wire["data"]
    assert data["occurred_at"] == "2024-05-01T12:30:15.123456+00:00"
    assert data["colour"] == "blue"
    assert data["priority"] == 2
    assert data["tags"] == ["vip", "callback"]
    assert data["caller"] == {"number": "+302101234567", "label": "home"}
    assert data["note"] is None


def test_decode_accepts_bytes_and_non_ascii_text() -> None:
    event = EventsScalar(text="Καλημέρα ☎", number=-3, when=datetime(2024, 1, 1, tzinfo=UTC))
    raw = encode_event(event)
    assert "Καλημέρα" in raw
    assert decode_event(raw.encode("utf-8")) == event


def test_float_field_accepts_an_integer_on_the_wire() -> None:
    raw = encode_event(rich_event()).replace('"duration":12.5', '"duration":12')
    decoded = decode_event(raw)
    assert isinstance(decoded, EventsRich)
    assert decoded.duration == 12.0
    assert type(decoded.duration) is float


def test_missing_optional_fields_take_their_defaults() -> None:
    raw = json.dumps(
        {
            "event": "test.events_rich",
            "data": {
                "call_id": "c-2",
                "duration": 1.0,
                "answered": False,
                "colour": "red",
                "priority": 1,
                "caller": {"number": "1"},
            },
        }
    )
    decoded = decode_event(raw)
    assert isinstance(decoded, EventsRich)
    assert decoded.note is None
    assert decoded.tags == ()
    assert decoded.caller == Party(number="1")
    assert decoded.occurred_at.tzinfo is not None


@hyp_settings(max_examples=60, deadline=None)
@given(
    text=st.text(),
    number=st.integers(min_value=-(2**70), max_value=2**70),
    when=st.datetimes(timezones=FIXED_ZONES),
)
def test_scalar_values_round_trip(text: str, number: int, when: datetime) -> None:
    event = EventsScalar(text=text, number=number, when=when)
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert isinstance(decoded, EventsScalar)
    assert decoded.when.utcoffset() == when.utcoffset()


@hyp_settings(max_examples=40, deadline=None)
@given(
    tags=st.lists(st.text(max_size=10), max_size=5).map(tuple),
    note=st.none() | st.text(),
    colour=st.sampled_from(Colour),
    priority=st.sampled_from(Priority),
)
def test_collections_enums_and_optionals_round_trip(
    tags: tuple[str, ...], note: str | None, colour: Colour, priority: Priority
) -> None:
    event = dataclasses.replace(
        rich_event(), tags=tags, note=note, colour=colour, priority=priority
    )
    assert decode_event(encode_event(event)) == event


def test_unknown_event_name_raises_decode_error() -> None:
    with pytest.raises(
        EventDecodeError, match=re.escape("unknown event type 'test.no_such_event'")
    ):
        decode_event('{"event": "test.no_such_event", "data": {}}')
    with pytest.raises(EventDecodeError):
        event_type("test.no_such_event")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param("[1, 2]", id="array"),
        pytest.param('"just a string"', id="string"),
        pytest.param('{"event": "test.events_ping"}', id="no-data"),
        pytest.param('{"data": {"n": 1}}', id="no-event"),
        pytest.param('{"event": "test.events_ping", "data": {"n": "one"}}', id="wrong-type"),
        pytest.param('{"event": "test.events_ping", "data": {}}', id="missing-field"),
        pytest.param('{"event": "test.events_ping", "data": 5}', id="data-not-object"),
        pytest.param('{"event": "test.events_ping", "data": null}', id="data-null"),
        pytest.param(
            '{"event": "test.events_ping", "data": {"n": 1, "occurred_at": "yesterday"}}',
            id="bad-datetime",
        ),
        pytest.param(
            '{"event": "test.events_ping", "data": {"n": 1, "occurred_at": 5}}',
            id="datetime-not-string",
        ),
        pytest.param(
            encode_event(rich_event()).replace('"colour":"blue"', '"colour":"green"'),
            id="bad-enum",
        ),
        pytest.param(
            encode_event(rich_event()).replace('"pair":[7,"seven"]', '"pair":[7]'),
            id="short-tuple",
        ),
        pytest.param(
            encode_event(rich_event()).replace('"tags":["vip","callback"]', '"tags":5'),
            id="tuple-not-list",
        ),
        pytest.param(
            encode_event(rich_event()).replace('"note":null', '"note":5'),
            id="optional-wrong-type",
        ),
    ],
)
def test_malformed_messages_raise_decode_error(raw: str | bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(raw)


@pytest.mark.parametrize("name", ["[]", "{}"])
def test_unhashable_event_name_raises_decode_error(name: str) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(f'{{"event": {name}, "data": {{}}}}')


def test_registry_knows_named_events() -> None:
    registry = registered_events()
    assert registry["test.events_ping"] is EventsPing
    assert event_type("test.events_rich") is EventsRich
    registry.pop("test.events_ping")  # a copy: the registry itself is untouched
    assert event_type("test.events_ping") is EventsPing


def test_duplicate_event_name_raises_type_error() -> None:
    with pytest.raises(TypeError, match=re.escape("test.events_ping")):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class OtherPing(Event):
            event_name = "test.events_ping"

    assert event_type("test.events_ping") is EventsPing


def test_duplicate_event_name_from_another_module_raises_type_error() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class First(Event):
        __module__ = "telephony.events"
        __qualname__ = "StatusChanged"
        event_name = "test.events_dup_across_modules"

    with pytest.raises(TypeError):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Second(Event):
            __module__ = "dialer.events"
            __qualname__ = "StatusChanged"
            event_name = "test.events_dup_across_modules"

    assert event_type("test.events_dup_across_modules") is First


def test_event_without_name_cannot_be_encoded() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Nameless(Event):
        value: int

    with pytest.raises(TypeError, match="Nameless has no event_name"):
        encode_event(Nameless(value=1))
    with pytest.raises(TypeError):
        encode_event(Event())
    assert Nameless not in registered_events().values()


def test_unnamed_subclass_of_a_named_event_cannot_be_encoded() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class LoudPing(EventsPing):
        volume: int = 11

    with pytest.raises(TypeError):
        encode_event(LoudPing(n=1))


def test_utcnow_is_timezone_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert EventsPing(n=1).occurred_at.utcoffset() == timedelta(0)


def test_events_are_frozen() -> None:
    event = EventsPing(n=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.n = 2  # type: ignore[misc]
