"""Queues and members of the simulated app_queue (the recorded queues.conf by default)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from telephony.sim.engine import Chan

__all__ = ["Member", "SimQueue", "default_queues"]


@dataclass
class Member:
    """A queue member (an agent's phone interface)."""

    interface: str
    name: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    dynamic: bool = False
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))
    in_call: bool = False
    ringing: bool = False
    ringinuse: bool = False

    @property
    def status(self) -> int:
        """Return the device state number Asterisk reports."""
        if self.in_call:
            return 2
        if self.ringing:
            return 6
        return 1

    def headers(self, queue: str) -> list[tuple[str, str]]:
        """Return the QueueMember* event headers."""
        return [
            ("Queue", queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.interface),
            ("Membership", "dynamic" if self.dynamic else "static"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.reason),
            ("Ringinuse", "1" if self.ringinuse else "0"),
            ("Wrapuptime", "0"),
        ]


@dataclass
class SimQueue:
    """One queue."""

    name: str
    strategy: str
    timeout: float
    retry: float
    members: list[Member] = field(default_factory=list)
    callers: list[Chan] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    talk_total: float = 0.0
    hold_total: float = 0.0
    last_index: int = -1

    def member(self, interface: str) -> Member | None:
        """Return the member with this interface."""
        for member in self.members:
            if member.interface.lower() == interface.lower():
                return member
        return None

    def pick(self) -> list[Member]:
        """Return the members to ring now, by strategy."""
        free = [m for m in self.members if not m.paused and not m.in_call and not m.ringing]
        if not free:
            return []
        if self.strategy == "ringall":
            return free
        if self.strategy == "rrmemory":
            order = self.members[self.last_index + 1 :] + self.members[: self.last_index + 1]
            for member in order:
                if member in free:
                    self.last_index = self.members.index(member)
                    return [member]
        return [free[0]]


def default_queues() -> dict[str, SimQueue]:
    """Return the queues of the recorded queues.conf."""
    return {
        "support": SimQueue(
            "support",
            "rrmemory",
            15,
            2,
            [
                Member("Local/1001@agents", "Agent 1001"),
                Member("Local/1002@agents", "Agent 1002"),
            ],
        ),
        "sales": SimQueue(
            "sales",
            "ringall",
            10,
            1,
            [
                Member("Local/2001@agents", "Slow Agent 2001"),
                Member("Local/3001@agents", "Never Answers 3001"),
            ],
        ),
        "empty": SimQueue("empty", "linear", 15, 2),
    }
