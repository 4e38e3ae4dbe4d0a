"""What the console's use cases need from the live side of the platform (wired in ``web``).

The dialer may not import the screen pop (they are sibling packages), and calls in progress live
in the telephony runtimes: ``web.console_wiring`` implements these ports on top of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["LiveCall", "LiveCalls", "NoLiveCalls", "PopUpdates"]


@dataclass(frozen=True)
class LiveCall:
    """A call in progress as the console sees it."""

    call_id: str
    pbx: str | None
    agent_user_ids: frozenset[int]
    # The contact the open pop shows per agent (kind, id), when exactly one was found.
    pop_contacts: dict[int, tuple[str, int]] = field(default_factory=dict)


class LiveCalls(Protocol):
    """Calls in progress, by the pop's ``call.id`` (Asterisk Linkedid)."""

    def find(self, call_id: str) -> LiveCall | None:
        """The call in progress, or None once it ended (or when it never existed)."""
        ...


class PopUpdates(Protocol):
    """Changes to the open pops of a call."""

    async def link_contact(self, call_id: str, contact: dict[str, Any]) -> tuple[int, ...]:
        """Show ``contact`` as the call's chosen contact in its open pops; the users told."""
        ...


class NoLiveCalls:
    """No PBX: nothing is in progress, and there is no pop to update."""

    def find(self, call_id: str) -> LiveCall | None:
        """Never a call."""
        return None

    async def link_contact(self, call_id: str, contact: dict[str, Any]) -> tuple[int, ...]:
        """Nobody to tell."""
        return ()
