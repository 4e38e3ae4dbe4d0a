"""Tickets (complaints, requests) and activities (calls, meetings, tasks ...) with participants."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

__all__ = [
    "Activity",
    "ActivityParticipant",
    "ActivityStatus",
    "ActivityType",
    "Channel",
    "Priority",
    "Ticket",
    "TicketStatus",
]


class Priority(enum.StrEnum):
    """Urgency of a ticket or activity."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(enum.StrEnum):
    """Where a ticket stands."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Channel(enum.StrEnum):
    """How a ticket reached us."""

    CALL = "call"
    EMAIL = "email"
    SMS = "sms"
    WEB = "web"
    OTHER = "other"


class ActivityType(enum.StrEnum):
    """Kind of activity."""

    CALL = "call"
    MEETING = "meeting"
    TASK = "task"
    EMAIL = "email"
    SMS = "sms"
    FAX = "fax"
    VISIT = "visit"
    NOTE = "note"


class ActivityStatus(enum.StrEnum):
    """Progress of an activity."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Ticket(Base):
    """A complaint or request of a person and/or company, assigned to a user or team."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("company_id IS NOT NULL OR person_id IS NOT NULL", name="has_customer"),
        Index("ix_tickets_status_priority", "status", "priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), default="request")
    category: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL.value)
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.NEW.value)
    channel: Mapped[str] = mapped_column(String(16), default=Channel.CALL.value)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    assigned_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Activity(Base):
    """A call, meeting, task, message, visit or note; follow-ups chain through ``parent_id``."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    # One of the administrator-managed statuses (activity_statuses.name).
    status: Mapped[str] = mapped_column(
        String(16),
        ForeignKey("activity_statuses.name", onupdate="CASCADE"),
        default=ActivityStatus.PLANNED.value,
        index=True,
    )
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL.value)
    responsible_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"), default=None, index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), default=None, index=True
    )
    # Ids in packages built later (campaigns, telephony); no foreign key to them yet.
    campaign_id: Mapped[int | None] = mapped_column(Integer, default=None)
    call_id: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    cost_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    participants: Mapped[list[ActivityParticipant]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ActivityParticipant.id"
    )


class ActivityParticipant(Base):
    """A person, company or user taking part in an activity (exactly one of them)."""

    __tablename__ = "activity_participants"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN person_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="exactly_one",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
