"""Events of the screen pop, shared by the pop dispatchers of every ``serve`` process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crm_core.bus.events import Event

__all__ = ["PopContactLinked"]


@dataclass(frozen=True, kw_only=True)
class PopContactLinked(Event):
    """An agent said who is calling (one of the pop's candidates, or a new contact): every
    process rebuilds that call's open pops for the record and sends them to its own consoles."""

    event_name: ClassVar[str] = "screenpop.contact_linked"
    call_id: str
    kind: str
    contact_id: int
    name: str
