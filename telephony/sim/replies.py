"""Building AMI replies the way Asterisk lays them out."""

from __future__ import annotations

import re
from collections.abc import Callable

from telephony.protocol import AmiMessage

__all__ = ["TRUE", "Send", "complete", "list_event", "parse_callerid", "response"]

Send = Callable[[AmiMessage], None]
_CALLERID = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$')
TRUE = ("true", "yes", "1", "on")


def response(status: str, action_id: str | None, /, **headers: str) -> AmiMessage:
    """Build a ``Response:`` message (ActionID right after the status, as Asterisk does)."""
    pairs: list[tuple[str, str]] = [("Response", status)]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    pairs.extend(headers.items())
    return AmiMessage(tuple(pairs))


def list_event(name: str, action_id: str | None, *pairs: tuple[str, str]) -> AmiMessage:
    """Build an event of a list answer (ActionID last, as Asterisk does)."""
    head: list[tuple[str, str]] = [("Event", name)]
    tail = [("ActionID", action_id)] if action_id is not None else []
    return AmiMessage((*head, *pairs, *tail))


def complete(name: str, action_id: str | None, items: int) -> AmiMessage:
    """Build the closing ``...Complete`` event of a list answer."""
    pairs: list[tuple[str, str]] = [("Event", name)]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    pairs += [("EventList", "Complete"), ("ListItems", str(items))]
    return AmiMessage(tuple(pairs))


def parse_callerid(value: str | None) -> tuple[str | None, str | None]:
    """Split ``"Name" <number>`` into (number, name)."""
    if not value:
        return None, None
    match = _CALLERID.match(value)
    if match:
        return match.group(2), match.group(1) or match.group(2)
    return value, value
