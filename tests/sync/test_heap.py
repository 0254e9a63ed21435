"""The collector during a run: what lived before is frozen, settings come back afterwards."""

from __future__ import annotations

import gc

from app.sync.heap import RUN_THRESHOLD, quiet_gc


def test_a_run_freezes_what_was_alive_and_gives_it_back() -> None:
    before = gc.get_threshold()
    with quiet_gc():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= RUN_THRESHOLD
        with quiet_gc():  # a second run in another thread of the same process
            pass
        assert gc.get_freeze_count() > 0, "the inner run left, the outer one still runs"
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_cycles_made_during_a_run_are_still_collected() -> None:
    class Node:
        other: object = None

    with quiet_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
