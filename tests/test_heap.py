"""The serve process freezes what its start left alive, so full collections skip it."""

from __future__ import annotations

import gc

from crm_core.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


def test_objects_alive_at_the_freeze_are_left_out_of_collections() -> None:
    kept = [_Node() for _ in range(100)]
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() >= len(kept)
        tracked = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(node) in tracked for node in kept)
        # Objects made after the freeze are collected as before.
        later = _Node()
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()  # this test process goes on making and dropping objects
    assert gc.get_freeze_count() == 0
