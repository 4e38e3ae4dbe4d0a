"""Typed domain events and their JSON wire form.

Every event is a frozen, keyword-only dataclass that subclasses :class:`Event` and names itself
with the class variable ``event_name`` (``"<package>.<name>"``, e.g. ``"telephony.call_started"``).
Naming a subclass registers it, so a bus that carries events between processes can turn the JSON
back into the same type. Field types are limited to what survives JSON unchanged: ``str``, ``int``,
``float``, ``bool``, ``None``, ``datetime`` (timezone-aware), ``StrEnum``/``IntEnum`` members,
``tuple`` of those, and nested frozen dataclasses of those.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = [
    "Event",
    "EventDecodeError",
    "decode_event",
    "encode_event",
    "event_type",
    "registered_events",
    "utcnow",
]

_REGISTRY: dict[str, type[Event]] = {}
E = TypeVar("E", bound="Event")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class EventDecodeError(ValueError):
    """A message on the bus could not be turned back into a known event."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event."""

    event_name: ClassVar[str] = ""
    occurred_at: datetime = dataclasses.field(default_factory=utcnow)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("event_name", "")
        if not name:
            # A subclass of a named event is a different event: it must name itself, or it
            # would travel under its parent's name and lose its own fields on the way.
            cls.event_name = ""
            return
        other = _REGISTRY.get(name)
        if other is not None and (other.__module__, other.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(f"event name {name!r} is used by {other!r} and {cls!r}")
        _REGISTRY[name] = cls


def registered_events() -> dict[str, type[Event]]:
    """Return a copy of the registry of named event types."""
    return dict(_REGISTRY)


def event_type(name: str) -> type[Event]:
    """Return the event class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise EventDecodeError(f"unknown event type {name!r}") from None


def _to_json(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def encode_event(event: Event) -> str:
    """Serialise an event to its JSON wire form."""
    if not type(event).event_name:
        raise TypeError(f"{type(event).__qualname__} has no event_name and cannot be sent")
    return json.dumps(
        {"event": type(event).event_name, "data": _to_json(event)},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _from_json(tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        last_error: Exception | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _from_json(arg, value)
            except (TypeError, ValueError) as err:
                last_error = err
        raise EventDecodeError(f"value {value!r} fits none of {tp!r}") from last_error
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        return tuple(_from_json(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        key_t, val_t = get_args(tp)
        return {_from_json(key_t, k): _from_json(val_t, v) for k, v in value.items()}
    if tp is Any:
        return value
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp(value)
        if issubclass(tp, datetime):
            return datetime.fromisoformat(value)
        if dataclasses.is_dataclass(tp):
            return _build(tp, value)
        if tp is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, tp):
            raise EventDecodeError(f"expected {tp.__name__}, got {type(value).__name__}")
        return value
    if tp is typing.Literal or origin is typing.Literal:
        return value
    raise EventDecodeError(f"unsupported field type {tp!r}")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # Resolving string annotations is slow; every event of a type needs the same answer.
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            kwargs[f.name] = _from_json(hints[f.name], data[f.name])
    return cls(**kwargs)


def decode_event(raw: str | bytes) -> Event:
    """Turn the JSON wire form back into the registered event type."""
    try:
        envelope = json.loads(raw)
        name = envelope["event"]
        data = envelope["data"]
    except (ValueError, KeyError, TypeError) as err:
        raise EventDecodeError(f"not an event message: {err}") from err
    if not isinstance(name, str) or not isinstance(data, dict):
        raise EventDecodeError("not an event message: 'event' must be a string, 'data' an object")
    cls = event_type(name)
    try:
        event = _build(cls, data)
    except (TypeError, ValueError) as err:
        raise EventDecodeError(f"bad {name!r} event: {err}") from err
    assert isinstance(event, Event)
    return event
