"""``python -m bench.workers``: sync throughput with 1, 2 and 4 Celery workers on PostgreSQL and Redis.

Each configuration is a fresh installation (tests/worker/cluster.py): four tenants, each with
one Google account in the emulator and ``--lists`` synced lists of ``--contacts`` contacts;
Celery beat and N workers (concurrency 1 each) as subprocesses. The clock runs from turning
every sync on to the last first sync finishing, so it includes up to one beat tick (5 s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from app.extensions import db
from app.ledger.events import EventTag, FlowKind
from app.ledger.models import LedgerEntry
from tests.worker.cluster import IDENTITIES, _wait_until, cluster, enable_all

BENCH_REDIS_DB = 12
"""Not the kill test's Redis database, so the two can run side by side."""


def measure(workers: int, lists: int, contacts: int, latency_ms: int) -> tuple[float, int]:
    """Seconds until every sync has succeeded once, and the Google requests that took."""
    with (
        tempfile.TemporaryDirectory(prefix="groupsync-bench-workers-") as workdir,
        cluster(
            Path(workdir),
            lists_per_tenant=lists,
            contacts_per_list=contacts,
            latency_ms=latency_ms,
            fault_rate=0.0,
            redis_db=BENCH_REDIS_DB,
        ) as c,
    ):
        c.start_workers(workers)
        c.start_beat()
        time.sleep(5)  # the workers connect to the broker before the clock starts
        started = time.monotonic()
        enable_all(c)
        _wait_until(
            "every sync succeeded once",
            lambda: all(s.last_success_at is not None for s in c.syncs()),
            timeout=1800,
            interval=0.5,
        )
        elapsed = time.monotonic() - started
        requests = int(
            db.session.scalar(
                sa.select(sa.func.count(LedgerEntry.id)).where(
                    LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value, LedgerEntry.kind != FlowKind.TOKEN.value
                )
            )
            or 0
        )
        return elapsed, requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare")
    parser.add_argument("--lists", type=int, default=2, help="synced lists per Google account")
    parser.add_argument("--contacts", type=int, default=250, help="contacts per list")
    parser.add_argument("--latency-ms", type=int, default=150, help="emulator latency per request")
    args = parser.parse_args()
    syncs = len(IDENTITIES) * args.lists
    total = syncs * args.contacts
    print(
        f"{len(IDENTITIES)} Google accounts x {args.lists} lists x {args.contacts} contacts = "
        f"{total} contacts in {syncs} syncs; emulator latency {args.latency_ms} ms; "
        "PostgreSQL, Redis, Celery prefork"
    )
    print(f"{'workers':>8}{'seconds':>10}{'contacts/s':>12}{'syncs/min':>11}{'People requests':>17}")
    for count in (int(n) for n in args.workers.split(",")):
        seconds, requests = measure(count, args.lists, args.contacts, args.latency_ms)
        rate, per_minute = total / seconds, syncs * 60 / seconds
        print(f"{count:>8}{seconds:>10.1f}{rate:>12.1f}{per_minute:>11.1f}{requests:>17}", flush=True)


if __name__ == "__main__":
    main()
