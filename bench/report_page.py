"""``python -m bench.report_page``: time of one page of a sync's "contacts in this sync" list.

The list is in natural order (:mod:`app.natural_order`), which neither SQLite nor PostgreSQL
offers, so :func:`app.sync.report.contacts_of` reads the names of every matching entry, sorts
them in Python and then reads one page's rows. This measures that on a list synced through the
emulator (the bench world's contacts: "Alice"/"Олена" with numbered family names), for the
first, a middle and the last page and for a search, best of several calls each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

from app.extensions import db
from app.sync import report
from bench.world import BenchWorld, emulator_process


def _best(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 25_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'contacts':>9}  {'page':<18}{'rows':>6}{'ms':>8}")
    for size in args.sizes:
        with emulator_process() as host:
            world = BenchWorld(host, size)
            try:
                world.run()
                sync = world.sync
                last = -(-size // report.PAGE_SIZE)
                pages: tuple[tuple[str, dict[str, object]], ...] = (
                    ("first", {"page": 1}),
                    ("middle", {"page": last // 2}),
                    ("last", {"page": last}),
                    ("search 'family1'", {"query": "family1"}),
                )
                for label, kwargs in pages:
                    listing = partial(report.contacts_of, db.session, sync, **kwargs)
                    page = listing()
                    assert page is not None
                    best = _best(listing, args.repeat)
                    print(f"{size:>9}  {label:<18}{len(page.rows):>6}{best * 1000:>8.0f}")
            finally:
                world.close()


if __name__ == "__main__":
    main()
