"""Every model of the schema, loaded in one place so that migrations see the whole metadata.

Packages to the right of ``crm_core`` (telephony, ...) may not be imported from here statically
(the import rule), so their model modules are named in ``MODEL_MODULES`` and loaded by name: this
list is the one place that must grow when a package adds tables.
"""

from __future__ import annotations

import importlib

from crm_core.db import Base

MODEL_MODULES: tuple[str, ...] = (
    "crm_core.users.models",
    "crm_core.crm.models",
    "crm_core.crm.finance_models",
    "crm_core.crm.work_models",
    "crm_core.crm.people_models",
    "telephony.records",
    "dialer.console_models",
)

for _name in MODEL_MODULES:
    importlib.import_module(_name)

metadata = Base.metadata

__all__ = ["MODEL_MODULES", "metadata"]
