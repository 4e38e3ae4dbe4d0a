"""Building blocks of every CRM request body: ids, sane dates, strict input, partial updates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = ["Day", "Id", "In", "Patch", "Timestamp"]

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _sane_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (e.g. Z or +02:00)")
    if not 1900 <= value.year <= 9000:
        raise ValueError("must be between the years 1900 and 9000")
    return value


def _sane_day(value: date) -> date:
    if not 1900 <= value.year <= 9000:
        raise ValueError("must be between the years 1900 and 9000")
    return value


# A point in time a client sends: aware, and far from the ends of the calendar.
Timestamp = Annotated[datetime, AfterValidator(_sane_time)]
# A business date (invoice, payment): far from the ends of the calendar too.
Day = Annotated[date, AfterValidator(_sane_day)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class In(BaseModel):
    """Base of request bodies: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data


class Patch(In):
    """A partial update: only the fields sent change; ``not_null`` ones cannot be null."""

    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _nulls(self) -> Any:
        for name in self.model_fields_set & self.not_null:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, as plain data (nested models as objects)."""
        return {name: getattr(self, name) for name in self.model_fields_set}
