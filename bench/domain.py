"""``python -m bench.domain``: a Workspace domain's initial fill with 1, 2 and 4 Celery workers.

Each configuration is a fresh installation (tests/worker/cluster.py, PostgreSQL, Redis, Celery
prefork, concurrency 1 per worker): a domain of ``--users`` users in the emulator with
domain-wide delegation to a customer service account, an account whose admin connects it (key
upload, statement, test) and gives every user the same list of ``--contacts`` contacts. The
clock runs from the first assignment to every user's first sync having succeeded, so it
includes the assignments (one notice e-mail each) and up to one beat tick (5 s). Each user's
token is minted once (JWT-bearer) and each user's requests are paced on their own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from app.accounts.models import Account, Membership, Role, User
from app.crm.models import CrmContact
from app.crm.services import add_contacts_to_list, put_list, store_contact_data
from app.extensions import db
from app.google.domain_models import STATEMENT_VERSION, DomainMode
from app.google.endpoints import CONTACTS_SCOPE
from app.google.vault import TokenVault
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.mail import Mailer
from app.sync.models import ContactSync
from app.workspace import members, services
from groupsync_emulator.workspace_views import WorkspaceHooks
from tests.worker.cluster import Cluster, _wait_until, cluster, person

BENCH_REDIS_DB = 13
DOMAIN = "bench-domain.example"


def _setup(c: Cluster, users: int, contacts: int, workdir: Path) -> Callable[[], list[int]]:
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

    def assign_all() -> list[int]:
        # What the admin's "every member" box does: one call, one assignment (and notice) per user.
        result = members.assign_many(
            db.session,
            settings,
            mailer,
            domain,
            admin=admin,
            members=memberships[1:],
            contact_list=contact_list,
        )
        assert not result.refused, result.refused
        return [sync.id for sync in result.assigned]

    return assign_all


def measure(workers: int, users: int, contacts: int, latency_ms: int) -> tuple[float, float, int]:
    """Seconds the admin's assignments took, seconds from the first assignment until every user's
    first sync succeeded, and the JWT-bearer token requests made (the admin's test included)."""
    with (
        tempfile.TemporaryDirectory(prefix="groupsync-bench-domain-") as workdir,
        cluster(
            Path(workdir),
            lists_per_tenant=0,
            contacts_per_list=0,
            latency_ms=latency_ms,
            fault_rate=0.0,
            redis_db=BENCH_REDIS_DB,
        ) as c,
    ):
        c.start_workers(workers)
        c.start_beat()
        time.sleep(5)  # the workers connect to the broker before the clock starts
        assign_all = _setup(c, users, contacts, Path(workdir))
        started = time.monotonic()
        sync_ids = assign_all()
        assigned = time.monotonic()

        def done() -> bool:
            db.session.expire_all()
            syncs = db.session.scalars(sa.select(ContactSync).where(ContactSync.id.in_(sync_ids))).all()
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
        return assigned - started, finished - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.domain", description=__doc__)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    print(
        f"domain of {args.users} users x {args.contacts} contacts; emulator latency {args.latency_ms} ms; "
        "PostgreSQL, Redis, Celery prefork"
    )
    print(f"{'workers':>8}{'assign s':>10}{'fill s':>10}{'users/min':>11}{'contacts/s':>12}{'tokens':>8}")
    for count in (int(n) for n in args.workers.split(",")):
        assign_s, fill_s, tokens = measure(count, args.users, args.contacts, args.latency_ms)
        print(
            f"{count:>8}{assign_s:>10.1f}{fill_s:>10.1f}{args.users * 60 / fill_s:>11.1f}"
            f"{args.users * args.contacts / fill_s:>12.1f}{tokens:>8}",
            flush=True,
        )


if __name__ == "__main__":
    main()
