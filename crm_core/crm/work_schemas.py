"""Request and response bodies of tickets, activities and the timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.schema_base import Id, In, Patch, Timestamp
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket

__all__ = [
    "ActivityIn",
    "ActivityOut",
    "ActivityPatchIn",
    "ParticipantIn",
    "ParticipantOut",
    "TicketIn",
    "TicketOut",
    "TicketPatchIn",
    "TimelineItem",
    "TimelineOut",
]

PriorityName = Literal["low", "normal", "high", "urgent"]
TicketStatusName = Literal["new", "open", "pending", "resolved", "closed"]
TicketTypeName = Literal["complaint", "request", "question", "incident"]
ChannelName = Literal["call", "email", "sms", "web", "other"]
ActivityTypeName = Literal["call", "meeting", "task", "email", "sms", "fax", "visit", "note"]
# One of the administrator-managed statuses (GET /api/activity-statuses), checked by the service.
ActivityStatusName = Annotated[
    str, Field(min_length=1, max_length=16, pattern=r"^[a-z][a-z0-9_]*$")
]
Subject = Annotated[str, Field(min_length=1, max_length=200)]
Notes = Annotated[str, Field(max_length=20_000)]
Cost = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]


class TicketIn(In):
    """A new ticket of a person and/or company."""

    subject: Subject
    description: Notes = ""
    type: TicketTypeName = "request"
    category: str = Field(default="", max_length=64)
    priority: PriorityName = "normal"
    status: TicketStatusName = "new"
    channel: ChannelName = "call"
    person_id: Id | None = None
    company_id: Id | None = None
    assigned_user_id: Id | None = None
    assigned_team_id: Id | None = None

    @model_validator(mode="after")
    def _someone(self) -> TicketIn:
        if self.person_id is None and self.company_id is None:
            raise ValueError("give person_id, company_id or both")
        return self


class TicketPatchIn(Patch):
    """Changes to a ticket."""

    not_null = frozenset({"subject", "description", "type", "category", "priority", "status"})

    subject: Subject | None = None
    description: Notes | None = None
    type: TicketTypeName | None = None
    category: str | None = Field(default=None, max_length=64)
    priority: PriorityName | None = None
    status: TicketStatusName | None = None
    assigned_user_id: Id | None = None
    assigned_team_id: Id | None = None


class TicketOut(BaseModel):
    """A ticket."""

    id: int
    subject: str
    description: str
    type: str
    category: str
    priority: str
    status: str
    channel: str
    person_id: int | None
    company_id: int | None
    assigned_user_id: int | None
    assigned_team_id: int | None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, t: Ticket) -> TicketOut:
        """Serialise a ticket."""
        return cls.model_validate(t, from_attributes=True)


class ParticipantIn(In):
    """A participant: exactly one of person_id, company_id, user_id."""

    person_id: Id | None = None
    company_id: Id | None = None
    user_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> ParticipantIn:
        if sum(v is not None for v in (self.person_id, self.company_id, self.user_id)) != 1:
            raise ValueError("give exactly one of person_id, company_id, user_id")
        return self


class ParticipantOut(BaseModel):
    """A participant of an activity."""

    person_id: int | None
    company_id: int | None
    user_id: int | None

    @classmethod
    def of(cls, p: ActivityParticipant) -> ParticipantOut:
        """Serialise a participant."""
        return cls(person_id=p.person_id, company_id=p.company_id, user_id=p.user_id)


class _ActivityFields(In):
    @model_validator(mode="after")
    def _consistent(self) -> _ActivityFields:
        starts = getattr(self, "starts_at", None)
        ends = getattr(self, "ends_at", None)
        if starts is not None and ends is not None and ends < starts:
            raise ValueError("ends_at is before starts_at")
        if (getattr(self, "cost", None) is None) != (getattr(self, "cost_currency", None) is None):
            raise ValueError("give cost and cost_currency together")
        return self


class ActivityIn(_ActivityFields):
    """A new activity; the caller is responsible unless ``responsible_user_id`` says otherwise."""

    type: ActivityTypeName
    subject: Subject
    notes: Notes = ""
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=10_000_000)
    status: ActivityStatusName = "planned"
    priority: PriorityName = "normal"
    responsible_user_id: Id | None = None
    parent_id: Id | None = None
    ticket_id: Id | None = None
    campaign_id: Id | None = None
    call_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="", max_length=200)
    cost: Cost | None = None
    cost_currency: Currency | None = None
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=100)


class ActivityPatchIn(Patch):
    """Changes to an activity; ``participants`` given replaces the list."""

    not_null = frozenset({"subject", "notes", "status", "priority", "outcome", "participants"})

    subject: Subject | None = None
    notes: Notes | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=10_000_000)
    status: ActivityStatusName | None = None
    priority: PriorityName | None = None
    responsible_user_id: Id | None = None
    outcome: str | None = Field(default=None, max_length=200)
    cost: Cost | None = None
    cost_currency: Currency | None = None
    participants: list[ParticipantIn] | None = Field(default=None, max_length=100)


class ActivityOut(BaseModel):
    """An activity."""

    id: int
    type: str
    subject: str
    notes: str
    starts_at: datetime | None
    ends_at: datetime | None
    duration_seconds: int | None
    status: str
    priority: str
    responsible_user_id: int | None
    parent_id: int | None
    ticket_id: int | None
    campaign_id: int | None
    call_id: str | None
    outcome: str
    cost: Decimal | None
    cost_currency: str | None
    participants: list[ParticipantOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: Activity) -> ActivityOut:
        """Serialise an activity."""
        data = {k: getattr(a, k) for k in cls.model_fields if k != "participants"}
        return cls(**data, participants=[ParticipantOut.of(p) for p in a.participants])


class TimelineItem(BaseModel):
    """One event in a company's or person's history."""

    kind: Literal["activity", "ticket", "invoice", "payment"]
    id: int
    at: datetime
    title: str
    status: str | None = None
    amount: Decimal | None = None
    currency: str | None = None


class TimelineOut(BaseModel):
    """A page of history, newest first; invoices and payments only with ``crm.balances``."""

    items: list[TimelineItem]
    total: int
    limit: int
    offset: int
