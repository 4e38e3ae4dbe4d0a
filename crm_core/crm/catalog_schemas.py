"""Bodies of the administrator-managed lists: activity statuses, lead sources, custom attribute
definitions and the product catalogue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from crm_core.crm.codes import check_currency
from crm_core.crm.ext_models import (
    ActivityStatusDef,
    AttributeDefinition,
    LeadSource,
    Product,
)
from crm_core.crm.schema_base import In, Patch

__all__ = [
    "ActivityStatusIn",
    "ActivityStatusOut",
    "ActivityStatusPatchIn",
    "AttributeDefinitionIn",
    "AttributeDefinitionOut",
    "AttributeDefinitionPatchIn",
    "Currency",
    "LeadSourceIn",
    "LeadSourceOut",
    "LeadSourcePatchIn",
    "ProductIn",
    "ProductOut",
    "ProductPatchIn",
]

Label = Annotated[str, Field(min_length=1, max_length=100)]
Position = Annotated[int, Field(ge=0, le=100_000)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(check_currency)]
Price = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Choice = Annotated[str, Field(min_length=1, max_length=100)]
Choices = Annotated[list[Choice], Field(max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
AttributeTypeName = Literal["text", "number", "date", "choice", "boolean"]


def _unique(choices: list[str] | None) -> None:
    if choices is not None and len(set(choices)) != len(choices):
        raise ValueError("choices must not repeat")


# -- activity statuses -------------------------------------------------------------------------


class ActivityStatusIn(In):
    """A new activity status; its name is what activities store and cannot change later."""

    name: str = Field(min_length=1, max_length=16, pattern=r"^[a-z][a-z0-9_]*$")
    label: Label
    is_closed: bool = False
    position: Position = 0
    active: bool = True


class ActivityStatusPatchIn(Patch):
    """Changes to an activity status (not its name)."""

    not_null = frozenset({"label", "is_closed", "position", "active"})

    label: Label | None = None
    is_closed: bool | None = None
    position: Position | None = None
    active: bool | None = None


class ActivityStatusOut(BaseModel):
    """An activity status."""

    id: int
    name: str
    label: str
    is_closed: bool
    position: int
    active: bool

    @classmethod
    def of(cls, s: ActivityStatusDef) -> ActivityStatusOut:
        """Serialise a status."""
        return cls(
            id=s.id,
            name=s.name,
            label=s.label,
            is_closed=s.is_closed,
            position=s.position,
            active=s.active,
        )


# -- lead sources ------------------------------------------------------------------------------


class LeadSourceIn(In):
    """A new lead source."""

    name: Label
    description: str = Field(default="", max_length=2000)
    active: bool = True


class LeadSourcePatchIn(Patch):
    """Changes to a lead source; an inactive one stays on records but cannot be chosen anew."""

    not_null = frozenset({"name", "description", "active"})

    name: Label | None = None
    description: str | None = Field(default=None, max_length=2000)
    active: bool | None = None


class LeadSourceOut(BaseModel):
    """A lead source."""

    id: int
    name: str
    description: str
    active: bool

    @classmethod
    def of(cls, s: LeadSource) -> LeadSourceOut:
        """Serialise a lead source."""
        return cls(id=s.id, name=s.name, description=s.description, active=s.active)


# -- custom attributes -------------------------------------------------------------------------


class AttributeDefinitionIn(In):
    """A new custom attribute of companies or persons; its name and type are fixed."""

    entity_type: Literal["company", "person"]
    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    label: Label
    type: AttributeTypeName
    choices: Choices = Field(default_factory=list)
    required: bool = False
    position: Position = 0

    @model_validator(mode="after")
    def _choices(self) -> AttributeDefinitionIn:
        _unique(self.choices)
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice attribute needs choices")
        if self.type != "choice" and self.choices:
            raise ValueError("only a choice attribute has choices")
        return self


class AttributeDefinitionPatchIn(Patch):
    """Changes to an attribute definition: label, choices, required flag, position."""

    not_null = frozenset({"label", "choices", "required", "position"})

    label: Label | None = None
    choices: Choices | None = None
    required: bool | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _choices(self) -> AttributeDefinitionPatchIn:
        _unique(self.choices)
        return self


class AttributeDefinitionOut(BaseModel):
    """A custom attribute definition."""

    id: int
    entity_type: str
    name: str
    label: str
    type: str
    choices: list[str]
    required: bool
    position: int

    @classmethod
    def of(cls, d: AttributeDefinition) -> AttributeDefinitionOut:
        """Serialise a definition."""
        return cls(
            id=d.id,
            entity_type=d.entity_type,
            name=d.name,
            label=d.label,
            type=d.type,
            choices=[str(c) for c in d.choices],
            required=d.required,
            position=d.position,
        )


# -- products ----------------------------------------------------------------------------------


def _price(data: Any) -> Any:
    if (getattr(data, "price", None) is None) != (getattr(data, "currency", None) is None):
        raise ValueError("give price and currency together")
    return data


class ProductIn(In):
    """A new catalogue product."""

    code: Code
    name: str = Field(min_length=1, max_length=200)
    price: Price | None = None
    currency: Currency | None = None
    active: bool = True

    @model_validator(mode="after")
    def _together(self) -> ProductIn:
        return _price(self)  # type: ignore[no-any-return]


class ProductPatchIn(Patch):
    """Changes to a catalogue product (price and currency are checked together)."""

    not_null = frozenset({"code", "name", "active"})

    code: Code | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    price: Price | None = None
    currency: Currency | None = None
    active: bool | None = None


class ProductOut(BaseModel):
    """A catalogue product."""

    id: int
    code: str
    name: str
    price: Decimal | None
    currency: str | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        """Serialise a product."""
        return cls(
            id=p.id,
            code=p.code,
            name=p.name,
            price=p.price,
            currency=p.currency,
            active=p.active,
            created_at=p.created_at,
        )
