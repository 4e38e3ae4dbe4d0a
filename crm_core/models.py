"""Every model of the schema, imported in one place so that migrations see the whole metadata."""

from __future__ import annotations

from crm_core.db import Base
from crm_core.users import models as _users  # noqa: F401  (registers the tables)

metadata = Base.metadata

__all__ = ["metadata"]
