"""Request and response bodies of the console API (dispositions, callbacks, call actions)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_core.crm.people_schemas import CelebrationOut
from crm_core.crm.schema_base import Id, Timestamp
from crm_core.crm.work_schemas import (
    ActivityOut,
    ActivityTypeName,
    Notes,
    PriorityName,
    Subject,
    TicketOut,
    TicketTypeName,
)
from dialer.console_models import Callback, CallWrapup, DispositionCategory, DispositionCode

__all__ = [
    "CallActivityIn",
    "CallContactIn",
    "CallContactOut",
    "CallTicketIn",
    "CallbackIn",
    "CallbackOut",
    "CallbacksOut",
    "DispositionCodeIn",
    "DispositionCodeOut",
    "DispositionCodePatchIn",
    "DispositionCodesOut",
    "DispositionIn",
    "DispositionOut",
    "EmbeddedCallbackIn",
    "TicketOut",
    "TodayOut",
]

Category = Literal["success", "no_contact", "callback", "not_interested", "do_not_call", "other"]
assert set(get_args(Category)) == {c.value for c in DispositionCategory}
CODE_PATTERN = r"^[A-Za-z0-9_.-]+$"
LOCAL_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"


class In(BaseModel):
    """Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class DispositionCodeIn(In):
    """A new disposition code; ``campaign_id`` null makes it global."""

    code: str = Field(min_length=1, max_length=32, pattern=CODE_PATTERN)
    label: str = Field(min_length=1, max_length=100)
    category: Category = "other"
    campaign_id: Id | None = None
    requires_callback: bool = False
    active: bool = True
    position: int = Field(default=0, ge=0, le=100_000)


class DispositionCodePatchIn(In):
    """Changes to a disposition code (the campaign of a code does not change)."""

    code: str | None = Field(default=None, min_length=1, max_length=32, pattern=CODE_PATTERN)
    label: str | None = Field(default=None, min_length=1, max_length=100)
    category: Category | None = None
    requires_callback: bool | None = None
    active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)


class DispositionCodeOut(BaseModel):
    """A disposition code."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    label: str
    category: str
    campaign_id: int | None
    requires_callback: bool
    active: bool
    position: int


class DispositionCodesOut(BaseModel):
    """The effective codes: global ones plus the campaign's (which win on the same code)."""

    items: list[DispositionCodeOut]


class CallbackIn(In):
    """A callback: local date and time in ``time_zone`` (default: the contact's, else the
    business time zone). ``assigned_user_id`` omitted = me; null = anyone in my team."""

    call_id: str | None = Field(default=None, min_length=1, max_length=64)
    person_id: Id | None = None
    company_id: Id | None = None
    phone: str | None = Field(default=None, min_length=1, max_length=64)
    due_local: str = Field(pattern=LOCAL_PATTERN, description="YYYY-MM-DDTHH:MM, local time")
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    assigned_user_id: Id | None = None
    campaign_id: Id | None = None
    notes: str = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _one_contact(self) -> CallbackIn:
        if self.person_id is not None and self.company_id is not None:
            raise ValueError("give person_id or company_id, not both")
        try:
            datetime.strptime(self.due_local, "%Y-%m-%dT%H:%M")
        except ValueError:
            raise ValueError("due_local is not a valid date and time") from None
        return self


class EmbeddedCallbackIn(In):
    """A callback scheduled with the disposition (the call and its contact are implied)."""

    due_local: str = Field(pattern=LOCAL_PATTERN)
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=1, max_length=64)
    assigned_user_id: Id | None = None
    notes: str = Field(default="", max_length=10_000)


class CallbackOut(BaseModel):
    """A callback."""

    id: int
    status: str
    due_at: datetime = Field(description="UTC")
    due_local: str
    time_zone: str
    person_id: int | None
    company_id: int | None
    phone: str
    call_id: str | None
    campaign_id: int | None
    assigned_user_id: int | None
    team_id: int | None
    created_by_id: int | None
    notes: str
    notified_at: datetime | None
    closed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Callback) -> CallbackOut:
        """From the model."""
        return cls(
            id=row.id,
            status=row.status,
            due_at=row.due_at,
            due_local=row.due_local,
            time_zone=row.time_zone,
            person_id=row.person_id,
            company_id=row.company_id,
            phone=row.phone,
            call_id=row.call_id,
            campaign_id=row.campaign_id,
            assigned_user_id=row.assigned_user_id,
            team_id=row.team_id,
            created_by_id=row.created_by_id,
            notes=row.notes,
            notified_at=row.notified_at,
            closed_at=row.closed_at,
            created_at=row.created_at,
        )


class CallbacksOut(BaseModel):
    """A page of callbacks."""

    items: list[CallbackOut]
    total: int
    limit: int
    offset: int


class DispositionIn(In):
    """The disposition of a call; a later one replaces it. ``callback`` schedules one too."""

    code: str = Field(min_length=1, max_length=32)
    notes: str = Field(default="", max_length=10_000)
    campaign_id: Id | None = None
    callback: EmbeddedCallbackIn | None = None


class DispositionOut(BaseModel):
    """A saved disposition."""

    call_id: str
    code: str
    label: str
    category: str
    notes: str
    campaign_id: int | None
    user_id: int | None
    at: datetime | None
    replaced: str | None = Field(description="the code this disposition replaced")
    on_record: bool = Field(
        description="already on the stored call record (else copied there once the call is)"
    )
    requires_callback: bool
    callback: CallbackOut | None

    @classmethod
    def of(
        cls,
        row: CallWrapup,
        code: DispositionCode,
        *,
        replaced: str | None,
        on_record: bool,
        callback: Callback | None,
    ) -> DispositionOut:
        """From the wrap-up."""
        return cls(
            call_id=row.call_id,
            code=code.code,
            label=code.label,
            category=code.category,
            notes=row.notes,
            campaign_id=row.campaign_id,
            user_id=row.disposition_user_id,
            at=row.disposition_at,
            replaced=replaced,
            on_record=on_record,
            requires_callback=code.requires_callback and callback is None,
            callback=CallbackOut.of(callback) if callback is not None else None,
        )


class CallContactIn(In):
    """The contact the call is about (one of the pop's candidates)."""

    person_id: Id | None = None
    company_id: Id | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CallContactIn:
        if (self.person_id is None) == (self.company_id is None):
            raise ValueError("give exactly one of person_id and company_id")
        return self


class CallContactOut(BaseModel):
    """The call's contact now."""

    call_id: str
    kind: Literal["person", "company"]
    id: int
    name: str
    on_record: bool
    consoles_told: int


class CallTicketIn(In):
    """A ticket opened from the call, for the call's contact."""

    subject: Subject
    description: Notes = ""
    type: TicketTypeName = "request"
    priority: PriorityName = "normal"
    assigned_user_id: Id | None = None
    assigned_team_id: Id | None = None


class CallActivityIn(In):
    """A follow-up activity of the call, for the call's contact."""

    type: ActivityTypeName = "task"
    subject: Subject
    notes: Notes = ""
    due_at: Timestamp | None = Field(default=None, description="when it is due (its start)")
    ends_at: Timestamp | None = None
    priority: PriorityName = "normal"
    responsible_user_id: Id | None = None


class TodayOut(BaseModel):
    """My day: callbacks and tasks due today, today's celebrations in my scope."""

    day: str
    time_zone: str
    callbacks: list[CallbackOut]
    tasks: list[ActivityOut]
    celebrations: list[CelebrationOut]
