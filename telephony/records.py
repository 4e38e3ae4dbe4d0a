"""Durable telephony data: finished calls (one row per call) and agents' phone interfaces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, utcnow

__all__ = ["AgentPhone", "CallRecordRow"]


class CallRecordRow(Base):
    """A finished call, stored once per PBX and Linkedid whatever happens to the process."""

    __tablename__ = "call_records"
    __table_args__ = (
        UniqueConstraint("pbx", "call_id", name="uq_call_records_pbx_call_id"),
        Index("ix_call_records_started_at", "started_at"),
        Index("ix_call_records_agent_user_id_started_at", "agent_user_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pbx: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str] = mapped_column(String(64))  # Asterisk's Linkedid
    crm_call_id: Mapped[str | None] = mapped_column(String(64), default=None)
    direction: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime] = mapped_column()
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    caller_id: Mapped[str | None] = mapped_column(String(64), default=None)
    called_number: Mapped[str | None] = mapped_column(String(64), default=None)
    # The customer's number in E.164 (the caller on inbound calls, the called party outbound).
    customer_e164: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), default=None, index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), default=None, index=True
    )
    queue: Mapped[str | None] = mapped_column(String(64), default=None)
    ring_s: Mapped[float] = mapped_column(Float, default=0.0)
    wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    total_s: Mapped[float] = mapped_column(Float, default=0.0)
    hangup_cause: Mapped[int] = mapped_column(Integer, default=0)
    hangup_cause_text: Mapped[str] = mapped_column(String(100), default="")
    hangup_by: Mapped[str] = mapped_column(String(16), default="unknown")
    dial_status: Mapped[str | None] = mapped_column(String(32), default=None)
    recording_file: Mapped[str | None] = mapped_column(String(500), default=None)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    # True when the call ended while the AMI connection was down (times are then approximate).
    vanished: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The agent's disposition, copied here by the console (dialer) whenever it is given.
    disposition_code: Mapped[str | None] = mapped_column(String(32), default=None)
    disposition_notes: Mapped[str | None] = mapped_column(Text, default=None)
    disposition_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    disposition_at: Mapped[datetime | None] = mapped_column(default=None)


class AgentPhone(Base):
    """The phone interface of an agent on one PBX (``PJSIP/1001``, ``Local/1001@agents``)."""

    __tablename__ = "agent_phones"
    __table_args__ = (UniqueConstraint("pbx", "interface", name="uq_agent_phones_pbx_interface"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    pbx: Mapped[str] = mapped_column(String(32))
    interface: Mapped[str] = mapped_column(String(128))
    queues: Mapped[str] = mapped_column(String(500), default="")  # comma-separated queue names
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
