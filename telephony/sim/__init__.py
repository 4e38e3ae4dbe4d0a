"""A protocol-faithful Asterisk simulator: an AMI server over TCP running the reference dialplan."""

from __future__ import annotations

from telephony.sim.server import DEFAULT_USERS, PbxSimulator, SimUser, start_simulator

__all__ = ["DEFAULT_USERS", "PbxSimulator", "SimUser", "start_simulator"]
