"""``python -m bench``: Google requests per sync against the minimum, engine CPU and memory, wall time.

Every figure comes from real runs of :func:`app.sync.services.run_sync` against the local
emulator over HTTP (see ``docs/benchmarks.md`` for what each minimum counts).
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench import pacing
from bench.world import BenchWorld, Measured, emulator_process

CHANGES = 100


@dataclass
class Row:
    scenario: str
    size: int
    requests: int
    minimum: int
    cpu_ms: float
    peak_mib: float | None
    wall_s: float

    def line(self) -> str:
        peak = f"{self.peak_mib:9.1f}" if self.peak_mib is not None else "        -"
        per_contact = self.cpu_ms * 1000 / self.size
        return (
            f"{self.scenario:<26}{self.size:>7}{self.requests:>9}{self.minimum:>9}"
            f"{self.cpu_ms:>11.0f}{per_contact:>12.1f}{peak}{self.wall_s:>9.2f}"
        )


HEADER = (
    f"{'scenario':<26}{'size':>7}{'requests':>9}{'minimum':>9}{'cpu ms':>11}{'cpu µs/ct':>12}"
    f"{'peak MiB':>9}{'wall s':>9}"
)


def minimum(scenario: str, size: int, personal: int) -> int:
    """The fewest requests that can do the job (derivations in docs/benchmarks.md)."""
    return {
        "initial": 1 + max(1, math.ceil(personal / 1000)) + math.ceil(size / 200),
        "first incremental": 1 + math.ceil(size / 1000),
        "no changes": 2,
        f"{CHANGES} changes": 4,
    }[scenario]


def measure(
    world: BenchWorld, scenario: str, run: Callable[[], Measured], *, memory: bool
) -> tuple[Row, Measured]:
    if memory:
        tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    measured = run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    expected = minimum(scenario, world.size, world.personal)
    row = Row(scenario, world.size, len(measured.requests), expected, cpu * 1000, peak, wall)
    return row, measured


def scenarios(world: BenchWorld, *, memory: bool, show_requests: bool) -> list[Row]:
    rows = []
    for name, prepare in (
        ("initial", None),
        ("first incremental", None),
        ("no changes", None),
        (f"{CHANGES} changes", lambda: world.change(CHANGES, 1)),
    ):
        if prepare is not None:
            prepare()
        row, measured = measure(world, name, world.run, memory=memory)
        rows.append(row)
        print(row.line(), flush=True)
        if show_requests:
            print(f"{'':<26}  {dict(Counter(measured.requests))}", flush=True)
    return rows


def engine(sizes: list[int], *, memory: bool) -> None:
    what = "Requests, engine CPU" + (" and peak memory (tracemalloc)" if memory else "")
    print(f"\n== {what}; emulator without latency")
    print(HEADER)
    for size in sizes:
        with emulator_process() as host:
            world = BenchWorld(host, size)
            try:
                scenarios(world, memory=memory, show_requests=not memory)
            finally:
                world.close()


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
    for name in ("initial", "first incremental", "no changes", f"{CHANGES} changes"):
        if name.endswith("changes") and name != "no changes":
            world.change(CHANGES, 2)
        rows.append(measure(world, name, world.run, memory=False)[0])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,25000", help="list sizes for requests, CPU and memory")
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--latency-size", type=int, default=25000)
    parser.add_argument("--pacing-units", type=int, default=60, help="quota units per minute per bucket")
    parser.add_argument("--pacing-size", type=int, default=5000)
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: engine,memory,latency,pacing"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(s) for s in args.sizes.split(",")]
    if "engine" not in skip:
        engine(sizes, memory=False)
    if "memory" not in skip:
        engine(sizes, memory=True)
    if "latency" not in skip:
        latency(args.latency_size, args.latency_ms)
    if "pacing" not in skip:
        pacing.run(args.pacing_size, args.pacing_units)


if __name__ == "__main__":
    main()
