"""``python -m bench.domain``: a Workspace domain's initial fill with 1, 2 and 4 Celery workers.

Each configuration is a fresh installation (tests/worker/cluster.py, PostgreSQL, Redis, Celery
prefork, concurrency 1 per worker): a domain of ``--users`` users in the emulator with
domain-wide delegation to a customer service account, an account whose admin connects it (key
upload, statement, test) and gives every user the same list of ``--contacts`` contacts in one
bulk assignment. The first runs are spread, ``--first-runs-per-minute`` to any 60 seconds
(``GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE``), so the fill takes at least
``(users - 1) * 60 / first-runs-per-minute`` seconds. The clock runs from the assignment's start
to every user's first sync having succeeded, so it includes the assignments (one notice e-mail
each) and up to one beat tick (5 s). Each user's token is minted once (JWT-bearer) and each
user's requests are paced on their own. Printed besides: the most first runs that started in
any 60 seconds, and the mean lag of a first run behind its slot (the workers' backlog).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.accounts.models import Account, Membership, Role, User
from app.crm.models import CrmContact
from app.crm.services import add_contacts_to_list, put_list, store_contact_data
from app.db import utcnow
from app.extensions import db
from app.google.domain_models import STATEMENT_VERSION, DomainMode
from app.google.endpoints import CONTACTS_SCOPE
from app.google.vault import TokenVault
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.mail import Mailer
from app.sync.models import ContactSync, SyncRun
from app.sync.schedule import first_run_slots
from app.workspace import members, services
from groupsync_emulator.workspace_views import WorkspaceHooks
from tests.worker.cluster import Cluster, _wait_until, cluster, person

BENCH_REDIS_DB = 14
"""Neither the kill test's (13) nor bench.workers' (12), so they can run side by side."""
DOMAIN = "bench-domain.example"


def _setup(c: Cluster, users: int, contacts: int, workdir: Path) -> Callable[[], dict[int, datetime]]:
    """Everything up to a tested domain connection; returns the admin's assignment of every user."""
    ws = WorkspaceHooks(c.hooks)
    people = [{"email": f"user{n:04d}@{DOMAIN}", "name": f"User {n}"} for n in range(users + 1)]
    created = ws.add_domain(DOMAIN, people)
    account_sa = ws.create_service_account("bench-domain-sync", "contacts-sync")
    key = ws.create_key(account_sa["email"])
    ws.set_delegation(DOMAIN, key["client_id"], [CONTACTS_SCOPE])
    account = Account(name="Bench domain")
    db.session.add(account)
    memberships = []
    for n, google_user in enumerate(created):
        user = User(google_sub=google_user["sub"], email=google_user["email"], name=google_user["name"])
        memberships.append(Membership(account=account, user=user, role=Role.ADMIN if n == 0 else Role.MEMBER))
    db.session.add_all(memberships)
    db.session.commit()
    rows = [person(n, 9, 1) for n in range(contacts)]
    store_contact_data(db.session, account.id, rows)
    db.session.commit()
    contact_list, _ = put_list(db.session, account.id, "everyone", {"name": "Everyone"})
    crm = db.session.scalars(sa.select(CrmContact).where(CrmContact.account_id == account.id))
    add_contacts_to_list(db.session, contact_list, crm)
    db.session.commit()
    settings = c.settings.with_overrides(mail_transport=f"file:{workdir / 'mail'}")
    vault = TokenVault.for_settings(settings)
    admin = memberships[0]
    domain = services.connect(db.session, admin, DOMAIN, DomainMode.CUSTOMER_KEY, settings)
    services.store_key(db.session, vault, domain, admin, json.dumps(key))
    services.accept_statement(db.session, domain, admin, STATEMENT_VERSION)
    assert services.test(db.session, settings, vault, domain, admin).ok
    mailer = Mailer.for_settings(settings)

    def assign_all() -> dict[int, datetime]:
        # What the admin's "every member" box does: one call, one assignment (and notice) per user.
        # No other first run is pending, so the users (in e-mail order) take the grid's points from now on.
        now = utcnow()
        free = first_run_slots(db.session, now, settings.domain_first_runs_per_minute)
        result = members.assign_many(
            db.session,
            settings,
            mailer,
            domain,
            admin=admin,
            members=memberships[1:],
            contact_list=contact_list,
            now=now,
        )
        assert not result.refused, result.refused
        return {sync.id: next(free) for sync in result.assigned}

    return assign_all


@dataclass(frozen=True)
class Result:
    assign_s: float
    """The admin's one bulk assignment (a notice e-mail and a transaction per user)."""
    fill_s: float
    """From the assignment's start until every user's first sync had succeeded."""
    tokens: int
    """JWT-bearer token requests (the admin's test included)."""
    busiest_minute: int
    """The most first runs that started within any 60 seconds (the spreading's bound)."""
    lag_s: float
    """Mean seconds from a first run's slot to its start: the workers' backlog (0: none)."""


def measure(workers: int, users: int, contacts: int, latency_ms: int, per_minute: int) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="groupsync-bench-domain-") as workdir,
        cluster(
            Path(workdir),
            lists_per_tenant=0,
            contacts_per_list=0,
            latency_ms=latency_ms,
            fault_rate=0.0,
            redis_db=BENCH_REDIS_DB,
            extra_env={"GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE": str(per_minute)},
        ) as c,
    ):
        c.start_workers(workers)
        c.start_beat()
        time.sleep(5)  # the workers connect to the broker before the clock starts
        assign_all = _setup(c, users, contacts, Path(workdir))
        started = time.monotonic()
        slots = assign_all()
        assigned = time.monotonic()

        def done() -> bool:
            db.session.expire_all()
            syncs = db.session.scalars(sa.select(ContactSync).where(ContactSync.id.in_(slots))).all()
            return all(s.last_success_at is not None for s in syncs)

        _wait_until("every user's first sync succeeded", done, timeout=3600, interval=1.0)
        finished = time.monotonic()
        tokens = int(
            db.session.scalar(
                sa.select(sa.func.count(LedgerEntry.id)).where(
                    LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value,
                    LedgerEntry.method == "oauth2.token.jwt_bearer",
                )
            )
            or 0
        )
        firsts = dict(
            db.session.execute(
                sa.select(SyncRun.sync_id, sa.func.min(SyncRun.started_at))
                .where(SyncRun.sync_id.in_(slots))
                .group_by(SyncRun.sync_id)
            ).all()
        )
        starts = sorted(firsts.values())
        busiest = max(
            sum(1 for other in starts if start <= other < start + timedelta(minutes=1)) for start in starts
        )
        lags = [max(0.0, (firsts[sync_id] - slot).total_seconds()) for sync_id, slot in slots.items()]
        return Result(assigned - started, finished - started, tokens, busiest, sum(lags) / len(lags))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.domain", description=__doc__)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument(
        "--first-runs-per-minute", type=int, default=20, help="GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE"
    )
    args = parser.parse_args()
    spread = (args.users - 1) * 60 / args.first_runs_per_minute
    print(
        f"domain of {args.users} users x {args.contacts} contacts; emulator latency {args.latency_ms} ms; "
        f"first runs {args.first_runs_per_minute}/min (last slot {spread:.0f} s after the first); "
        "PostgreSQL, Redis, Celery prefork"
    )
    print(
        f"{'workers':>8}{'assign s':>10}{'fill s':>10}{'users/min':>11}{'contacts/s':>12}"
        f"{'tokens':>8}{'max/60s':>9}{'lag s':>8}"
    )
    for count in (int(n) for n in args.workers.split(",")):
        r = measure(count, args.users, args.contacts, args.latency_ms, args.first_runs_per_minute)
        rates = f"{args.users * 60 / r.fill_s:>11.1f}{args.users * args.contacts / r.fill_s:>12.1f}"
        print(
            f"{count:>8}{r.assign_s:>10.1f}{r.fill_s:>10.1f}{rates}"
            f"{r.tokens:>8}{r.busiest_minute:>9}{r.lag_s:>8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
