"""Console data: disposition codes, what the agent said about a call (wrap-up), callbacks."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, utcnow

__all__ = [
    "CallWrapup",
    "Callback",
    "CallbackStatus",
    "DispositionCategory",
    "DispositionCode",
]


class DispositionCategory(enum.StrEnum):
    """What a disposition means for reporting and for the dialer."""

    SUCCESS = "success"
    NO_CONTACT = "no_contact"
    CALLBACK = "callback"
    NOT_INTERESTED = "not_interested"
    DO_NOT_CALL = "do_not_call"
    OTHER = "other"


class CallbackStatus(enum.StrEnum):
    """Where a callback stands."""

    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


class DispositionCode(Base):
    """A code an agent gives a call: global (``campaign_id`` null) or of one campaign."""

    __tablename__ = "disposition_codes"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code", name="uq_disposition_codes_campaign_id_code"),
        # NULLs are distinct in a unique constraint: global codes need their own index.
        Index(
            "uq_disposition_codes_global_code",
            "code",
            unique=True,
            sqlite_where=text("campaign_id IS NULL"),
            postgresql_where=text("campaign_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The campaigns package is not built yet: no foreign key.
    campaign_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(24), default=DispositionCategory.OTHER.value)
    requires_callback: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CallWrapup(Base):
    """The console's side of one call: disposition, chosen contact, ticket.

    It exists before the call record does (an agent may disposition a call that is still up), so
    its content is copied onto the call record and the call activity once they exist;
    ``version``/``pending`` say whether a change still has to be copied.
    """

    __tablename__ = "call_wrapups"
    __table_args__ = (
        UniqueConstraint("call_id", name="uq_call_wrapups_call_id"),
        Index("ix_call_wrapups_pending", "pending"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))  # Asterisk's Linkedid
    pbx: Mapped[str | None] = mapped_column(String(32), default=None)
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, default=None)
    code: Mapped[str | None] = mapped_column(String(32), default=None)
    label: Mapped[str | None] = mapped_column(String(100), default=None)
    category: Mapped[str | None] = mapped_column(String(24), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    disposition_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    disposition_at: Mapped[datetime | None] = mapped_column(default=None)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), default=None
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), default=None
    )
    linked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    applied_version: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Callback(Base):
    """A call to make back to a contact at a time agreed in the contact's time zone."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_status_due_at", "status", "due_at"),
        Index("ix_callbacks_notified_at_due_at", "notified_at", "due_at"),
        CheckConstraint("status IN ('scheduled', 'done', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.SCHEDULED.value)
    due_at: Mapped[datetime] = mapped_column()
    due_local: Mapped[str] = mapped_column(String(16))  # YYYY-MM-DDTHH:MM in time_zone
    time_zone: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    phone: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64), default=None)
    campaign_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # Null: anyone of ``team_id`` (the creator's team) may take it.
    assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    notified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
