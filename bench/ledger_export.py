"""``python -m bench.ledger_export``: memory and time of a ledger export as it grows.

Streams the reviewer page's NDJSON and CSV exports (:mod:`app.ledger.exports`) of a ledger of
N chained entries from a SQLite file, discarding the text, and reports the peak memory that
``tracemalloc`` traced while doing so against the size of what was produced.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.db import Base
from app.ledger import chain
from app.ledger.exports import csv_lines, iter_rows, ndjson_lines
from app.ledger.models import LedgerEntry


def _rows(count: int) -> Iterator[dict[str, object]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = chain.GENESIS
    for seq in range(1, count + 1):
        fields: dict[str, object] = {
            "chain": "account:1",
            "seq": seq,
            "recorded_at": chain.format_time(start + timedelta(seconds=seq)),
            "tag": "google.request",
            "account_id": 1,
            "user_id": 7,
            "google_account": "a" * 64,
            "kind": "read",
            "purpose": "contact_sync",
            "trigger": "schedule",
            "actor": "system",
            "outcome": "200",
            "destination": "google",
            "method": "people.connections.list",
            "records": seq % 50,
            "categories": ["names"],
            "detail": {"request_id": f"{seq:032x}"},
            "prev_hash": previous,
        }
        previous = chain.entry_hash(fields)
        yield {
            **fields,
            "hash": previous,
            "recorded_at": start + timedelta(seconds=seq),
            "categories": '["names"]',
            "detail": f'{{"request_id":"{seq:032x}"}}',
        }


def _fill(engine: sa.Engine, count: int) -> None:
    Base.metadata.create_all(engine, tables=[LedgerEntry.__table__])  # type: ignore[list-item]
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for row in _rows(count):
            batch.append(row)
            if len(batch) == 10_000:
                conn.execute(sa.insert(LedgerEntry), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(LedgerEntry), batch)


Lines = Callable[[Iterator[dict[str, object]]], Iterator[str]]


def _measure(form: Lines, engine: sa.Engine) -> tuple[int, float, float]:
    """Output size, traced peak (one pass under tracemalloc) and wall time (another pass without)."""
    everything = sa.select(LedgerEntry)
    began = time.perf_counter()
    size = sum(len(chunk) for chunk in form(iter_rows(engine, everything)))
    wall = time.perf_counter() - began
    tracemalloc.start()
    sum(len(chunk) for chunk in form(iter_rows(engine, everything)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size, peak / 2**20, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"{'entries':>9}{'format':>8}{'output MiB':>12}{'peak MiB':>10}{'wall s':>8}")
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'ledger.sqlite3'}")
            _fill(engine, count)
            for name, form in (("ndjson", ndjson_lines), ("csv", csv_lines)):
                size, peak, wall = _measure(form, engine)
                print(f"{count:>9}{name:>8}{size / 2**20:>12.1f}{peak:>10.1f}{wall:>8.1f}")
            engine.dispose()


if __name__ == "__main__":
    main()
