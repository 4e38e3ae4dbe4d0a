"""Garbage-collector settings of a long-running process.

CPython's full (generation 2) collection walks every tracked object. A `callboard serve` process
holds hundreds of thousands of objects from the moment it has started (modules, SQLAlchemy's and
pydantic's models, the API description, phone metadata), none of which will ever be garbage, so
each full collection walking them stopped the event loop for 50-130 ms on a 2-core machine:
every screen pop, AMI event and WebSocket message in flight waited that long.
:func:`freeze_startup_heap`, called once the application has started, moves those objects into
the collector's permanent generation (``gc.freeze``), which no collection walks again. Objects
made later are collected as before.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_heap"]

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect what the start left behind, then freeze every object alive now; how many."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("garbage collector: %d objects of the start frozen", frozen)
    return frozen
