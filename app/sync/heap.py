"""The garbage collector during a sync run: what was alive before the run is not scanned again.

A run allocates many small container objects (mapped contacts, rows, request and answer
bodies), each allocation counting towards CPython's next collection; every collection of the
oldest generation then walks every object of the process (the app, its modules, SQLAlchemy's
metadata...), none of which the run makes garbage. Profiled runs of 10,000 contacts spent
about a fifth of their CPU there.

:func:`quiet_gc` freezes what is alive when the run starts (``gc.freeze``: moved to a
permanent generation the collector ignores) and makes young collections rarer while the run
goes; reference counting still frees nearly everything the run drops, and cycles are still
collected. On leaving, the frozen objects are handed back to the collector and the thresholds
restored. Collector settings are per process: runs in threads of one process share one
freeze, taken by the first and given back by the last.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD = 50_000
"""Allocations between young collections during a run (CPython's default is 700 or 2,000)."""


class _Freeze:
    """The process's one freeze: taken by the first run in, given back by the last out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: tuple[int, int, int] = gc.get_threshold()

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                self.saved = gc.get_threshold()
                gc.freeze()
                gc.set_threshold(max(RUN_THRESHOLD, self.saved[0]), self.saved[1], self.saved[2])
            self.depth += 1

    def leave(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                gc.set_threshold(*self.saved)
                gc.unfreeze()


_FREEZE = _Freeze()


@contextmanager
def quiet_gc() -> Iterator[None]:
    _FREEZE.enter()
    try:
        yield
    finally:
        _FREEZE.leave()
