"""Domain events of the dialer's console side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crm_core.bus.events import Event

__all__ = ["CallWrappedUp"]


@dataclass(frozen=True, kw_only=True)
class CallWrappedUp(Event):
    """The console's wrap-up of a call (disposition, contact, ticket) is on its stored record."""

    event_name: ClassVar[str] = "dialer.call_wrapped_up"
    call_id: str
    pbx: str | None
    disposition_code: str | None
    person_id: int | None
    company_id: int | None
