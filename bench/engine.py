"""The engine benchmark: Google requests per sync against the minimum, CPU, memory, first write, wall time.

Every figure comes from real runs of :func:`app.sync.services.run_sync` against the local
emulator over HTTP (see ``docs/benchmarks.md`` for what each minimum counts).
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import math
import multiprocessing
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench.world import BenchWorld, Measured, emulator_process

CHANGES = 100
SCENARIOS = ("initial", "no changes", f"{CHANGES} changes", "repair run")


@dataclass
class Row:
    scenario: str
    size: int
    requests: int
    minimum: int
    cpu_ms: float
    peak_mib: float | None
    wall_s: float
    first_write_s: float | None = None
    rss_mib: float | None = None

    def line(self) -> str:
        peak = f"{self.peak_mib:9.1f}" if self.peak_mib is not None else "        -"
        rss = f"{self.rss_mib:9.1f}" if self.rss_mib is not None else "        -"
        first = f"{self.first_write_s:9.2f}" if self.first_write_s is not None else "        -"
        per_contact = self.cpu_ms * 1000 / self.size
        return (
            f"{self.scenario:<26}{self.size:>7}{self.requests:>9}{self.minimum:>9}"
            f"{self.cpu_ms:>11.0f}{per_contact:>12.1f}{peak}{rss}{first}{self.wall_s:>9.2f}"
        )


HEADER = (
    f"{'scenario':<26}{'size':>7}{'requests':>9}{'minimum':>9}{'cpu ms':>11}{'cpu µs/ct':>12}"
    f"{'peak MiB':>9}{'+rss MiB':>9}{'1st wr s':>9}{'wall s':>9}"
)


def minimum(scenario: str, size: int) -> int:
    """The fewest requests that can do the job (derivations in docs/benchmarks.md)."""
    return {
        "initial": 2 + math.ceil(size / 200),
        "no changes": 1,
        f"{CHANGES} changes": 3,
        "repair run": 1 + math.ceil(size / 200),
    }[scenario]


def _reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets the process's peak resident set size (VmHWM).
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in MiB; ``None`` off Linux."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return None


def measure(
    world: BenchWorld,
    scenario: str,
    run: Callable[[], Measured],
    *,
    memory: bool,
    profile: str | None = None,
) -> tuple[Row, Measured]:
    """One scenario's run; with ``profile``, its cProfile stats go to ``<profile>-<size>-<scenario>.prof``."""
    gc.collect()
    base_rss = None
    if memory:
        _reset_peak_rss()
        base_rss = _status_mib("VmRSS")
        tracemalloc.start()
    # CPU time, as the figures are: waiting for the emulator is not the run's cost.
    profiler = cProfile.Profile(time.process_time) if profile else None
    taken: dict[str, float | None] = {}
    cpu0, wall0, started = time.process_time(), time.perf_counter(), time.time()

    def synced() -> None:
        # Everything is read off the moment the sync returns, before the harness reads the log.
        if profiler is not None:
            profiler.disable()
        taken["cpu"], taken["wall"] = time.process_time() - cpu0, time.perf_counter() - wall0
        if memory:
            taken["peak"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            taken["hwm"] = _status_mib("VmHWM")

    world.synced = synced
    try:
        measured = profiler.runcall(run) if profiler is not None else run()
    finally:
        world.synced = lambda: None
    cpu, wall = taken["cpu"] or 0.0, taken["wall"] or 0.0
    if profiler is not None:
        profiler.dump_stats(f"{profile}-{world.size}-{scenario.replace(' ', '-')}.prof")
    peak = rss = None
    if memory:
        peak, peak_rss = taken["peak"], taken["hwm"]
        # What the run added to the process's resident set (the world it runs in is already there).
        rss = peak_rss - base_rss if peak_rss is not None and base_rss is not None else None
    first = measured.first_write - started if measured.first_write is not None else None
    expected = minimum(scenario, world.size)
    row = Row(scenario, world.size, len(measured.requests), expected, cpu * 1000, peak, wall, first, rss)
    return row, measured


def scenarios(
    world: BenchWorld, *, memory: bool, show_requests: bool, profile: str | None = None
) -> list[Row]:
    rows = []
    for name in SCENARIOS:
        if name == f"{CHANGES} changes":
            world.change(CHANGES, 1)
        run = world.repair if name == "repair run" else world.run
        row, measured = measure(world, name, run, memory=memory, profile=profile)
        rows.append(row)
        print(row.line(), flush=True)
        if show_requests:
            print(f"{'':<26}  {dict(Counter(measured.requests))}", flush=True)
    return rows


WARM_UP = 200
"""Contacts of the list each size's process syncs first, in a world of its own (see :func:`_warm_up`)."""


def _warm_up(host: str) -> None:
    """Sync a small list once (initial, changes, repair), then wipe the emulator.

    A worker process syncs list after list: what it does once (building the client library's
    resources, configuring the ORM, the first use of every code path) is no run's cost per
    contact. The first run's figures are printed, so that cost stays in view.
    """
    world = BenchWorld(host, WARM_UP)
    try:
        cpu0 = time.process_time()
        world.run()
        initial = time.process_time() - cpu0
        world.change(CHANGES, 1)
        world.run()
        world.repair()
    finally:
        world.close()
    world.hooks.reset()
    print(
        f"{'(process warm-up: initial)':<26}{WARM_UP:>7}{'':>18}{initial * 1000:>11.0f}"
        f"{initial * 1e6 / WARM_UP:>12.1f}",
        flush=True,
    )


def _one_size(size: int, memory: bool, profile: str | None) -> None:
    with emulator_process() as host:
        _warm_up(host)
        world = BenchWorld(host, size)
        try:
            scenarios(world, memory=memory, show_requests=not memory, profile=profile)
        finally:
            world.close()


def engine(sizes: list[int], *, memory: bool, profile: str | None = None) -> None:
    what = "Requests, engine CPU, first write" + (" and peak memory (tracemalloc, RSS)" if memory else "")
    print(f"\n== {what}; emulator without latency")
    print(HEADER, flush=True)
    for size in sizes:
        # Each size in a fresh process, so one size's memory does not raise the next one's peak.
        process = multiprocessing.get_context("spawn").Process(target=_one_size, args=(size, memory, profile))
        process.start()
        process.join()


def latency(size: int, ms: int) -> None:
    print(f"\n== Wall time with {ms} ms per request (bound: requests x latency)")
    print(HEADER + f"{'bound s':>9}")
    with emulator_process() as host:
        world = BenchWorld(host, size)
        world.latency(ms)
        try:
            for row in scenarios_quiet(world):
                print(row.line() + f"{row.requests * ms / 1000:>9.2f}", flush=True)
        finally:
            world.close()


def scenarios_quiet(world: BenchWorld) -> list[Row]:
    rows = []
    for name in SCENARIOS:
        if name == f"{CHANGES} changes":
            world.change(CHANGES, 2)
        run = world.repair if name == "repair run" else world.run
        rows.append(measure(world, name, run, memory=False)[0])
    return rows
