"""Telephony: the PBX boundary — AMI gateway, call tracker, agent and queue state, PBX simulator."""
