"""``python -m bench``: Google requests per sync against the minimum, engine CPU and memory, wall time.

Every figure comes from real runs of :func:`app.sync.services.run_sync` against the local
emulator over HTTP (see ``docs/benchmarks.md`` for what each minimum counts).
"""

from __future__ import annotations

import argparse

from bench import pacing
from bench.engine import engine, latency


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,25000", help="list sizes for requests, CPU and memory")
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--latency-size", type=int, default=25000)
    parser.add_argument(
        "--pacing",
        default="1000:15,5000:60,10000:60,25000:60",
        help="initial syncs under a quota, as SIZE:UNITS (units per minute per bucket); a list of "
        "1,000 gets 15 units, so that the quota binds for two minutes rather than never",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: engine,memory,latency,pacing"
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="cProfile each engine run (CPU figures then include the profiler's overhead); "
        "stats go to PREFIX-<size>-<scenario>.prof, read them with python -m pstats",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(s) for s in args.sizes.split(",")]
    if "engine" not in skip:
        engine(sizes, memory=False, profile=args.profile)
    if "memory" not in skip:
        engine(sizes, memory=True)
    if "latency" not in skip:
        latency(args.latency_size, args.latency_ms)
    if "pacing" not in skip:
        for size, units in (pair.split(":") for pair in args.pacing.split(",")):
            pacing.run_alone(int(size), int(units))


if __name__ == "__main__":
    main()
