"""``python -m bench.pacing``: an initial sync against a per-minute quota, next to what the quota allows.

The emulator enforces the quota the way Google counts it (units per bucket per user in any
60 seconds, :mod:`app.google.limits`), and GroupSync's pacer is given the same budget. The
run's People requests (as the emulator served them) are then replayed on paper with no
processing time at all, each sent as early as the quota allows: that is the quota-bound
time, which no client can beat. The ratio is quota-bound time / measured time, both from
the first request to the last; 429 answers are counted from the emulator's log.
"""

from __future__ import annotations

import argparse
import multiprocessing
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from app.google.limits import Bucket, Cost, request_cost
from bench.world import ADA, PEOPLE_PREFIXES, BenchWorld, emulator_process

WINDOW = 60.0
PACED = (Bucket.CRITICAL_READ, Bucket.CRITICAL_WRITE, Bucket.READ, Bucket.WRITE)


def quota_bound(costs: Sequence[Cost], units: int) -> float:
    """When the last request could leave at the earliest, every request sent the moment it fits."""
    sent: list[tuple[float, Cost]] = []
    now = 0.0
    for cost in costs:
        while True:
            used: dict[Bucket, int] = defaultdict(int)
            live = [(at, spent) for at, spent in sent if at > now - WINDOW]
            for _, spent in live:
                for bucket, n in spent.items():
                    used[bucket] += n
            if all(used[b] + n <= units for b, n in cost.items() if b in PACED):
                break
            now = min(at + WINDOW for at, _ in live)
        sent.append((now, cost))
    return now


def _seconds(entry: Mapping[str, str]) -> float:
    return datetime.fromisoformat(entry["started"]).timestamp()


def _seconds_done(entry: Mapping[str, str]) -> float:
    return datetime.fromisoformat(entry["time"]).timestamp()


def run(size: int, units: int) -> None:
    print(f"\n== Initial sync of {size} contacts, quota {units} units/min per bucket (emulator and pacer)")
    with emulator_process() as host:
        world = BenchWorld(host, size, units_per_minute=units)
        world.hooks.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {b.value: units for b in PACED}})
        mark = len(world.hooks.log())
        try:
            measured = world.run()
            log = [e for e in world.hooks.log(mark) if e["method"].startswith(PEOPLE_PREFIXES)]
        finally:
            world.close()
    refused = [e for e in log if e["status"] == 429]
    served = [e for e in log if e["status"] != 429]
    bound = quota_bound([request_cost(e["method"]) for e in served], units)
    elapsed = _seconds(served[-1]) - _seconds(served[0])
    units_used: dict[str, int] = defaultdict(int)
    for entry in served:
        for bucket, n in request_cost(entry["method"]).items():
            units_used[bucket.value] += n
    print(
        f"people requests: {len(served)} served, {len(refused)} answered 429"
        f" ({len(measured.requests)} in all)"
    )
    print(f"units: {dict(units_used)}")
    print(f"first to last request: {elapsed:.1f} s; quota-bound: {bound:.1f} s")
    start = _seconds(served[0])
    timeline = ", ".join(f"{_seconds(e) - start:.1f}" for e in served)
    print(f"request times (s from the first): {timeline}")
    busy = sum(_seconds_done(e) - _seconds(e) for e in served)
    print(f"emulator busy answering: {busy:.1f} s in all, {busy / len(served):.2f} s per request")
    ratio = bound / elapsed if elapsed else 1.0
    print(f"ratio to the quota-bound rate: {ratio:.1%}; 429 answers: {len(refused)}")


def run_alone(size: int, units: int) -> None:
    """:func:`run` in a fresh process.

    GroupSync's pacer is shared by every client of a process and remembers the units spent
    for Ada's account in the last minute: a run right after another one would start by
    waiting out units that the emulator, fresh for each run, no longer counts.
    """
    process = multiprocessing.get_context("spawn").Process(target=run, args=(size, units))
    process.start()
    process.join()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pacing", description=__doc__)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--units", type=int, default=60)
    args = parser.parse_args()
    run(args.size, args.units)


if __name__ == "__main__":
    main()
