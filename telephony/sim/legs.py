"""Dialplan primitives for a channel that runs dialplan (an inner half, or a free outer)."""

from __future__ import annotations

from telephony.sim.engine import Chan, LocalPair

__all__ = ["Leg"]


class Leg:
    """Dialplan primitives for a channel that runs dialplan (an inner half, or a free outer)."""

    def __init__(self, chan: Chan) -> None:
        assert chan.pair is not None
        self.chan = chan
        self.pair: LocalPair = chan.pair
        self.is_inner = chan is self.pair.inner

    def answer(self) -> bool:
        """Answer; return True if the channel was not up yet (Asterisk then waits 0.5 s)."""
        if self.chan.state == 6:
            return False
        if self.is_inner:
            self.pair.answer()
        else:
            self.chan.set_state(6)
        return True

    def ringing(self) -> None:
        """Indicate ringing to the caller."""
        if self.is_inner:
            self.pair.ringing()

    def refuse(self, kind: str, cause: int) -> None:
        """Indicate busy or congestion."""
        if self.is_inner:
            self.pair.refuse(kind, cause)
        else:
            self.chan.cause = cause
            self.chan.set_state(7)

    def hangup(self, cause: int = 16) -> None:
        """Hang up from the dialplan."""
        if self.is_inner:
            self.pair.inner_hangup(cause)
        else:
            self.pair.outer_own_end(cause)
