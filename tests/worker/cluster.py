"""A small GroupSync installation as production runs it, on this machine, for the kill test and the benchmark.

Real PostgreSQL (a database of its own), real Redis (a database number of its own, flushed
first), the Google emulator on a thread of this process (with latency and seeded faults),
Celery workers and beat as subprocesses with the production entry point, and gunicorn.
Tenants, members and CRM lists are written here; every member connects through the
emulator's real OAuth flow. Every subprocess is started in its own session so that it can
be killed whole (a worker's main process and its pool child), as a machine dies.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.accounts.models import Account, Membership, Role, User
from app.config import Settings
from app.crm.models import ContactList, CrmContact, ListMember
from app.crm.services import add_contacts_to_list, grant_access, put_list, store_contact_data
from app.crm.values import ContactData
from app.extensions import db
from app.google.models import GoogleConnection
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.sync.mapping import read_tag
from app.sync.models import ContactSync, RunOutcome, SyncRun
from app.sync.services import enable_sync
from groupsync_emulator.cli import RunningEmulator, serve_in_thread
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.state import EmulatorMode, EmulatorSettings
from tests.conftest import PG_ADMIN_URL, _fresh_request_globals, _pg_admin, google_client, sign_in_client
from tests.google.connecting import connect

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KILL_TEST_REDIS_DB = 13
"""The local Redis database the kill test owns; each installation flushes its database at start."""
IDENTITIES = (
    "110000000000000000001",
    "110000000000000000002",
    "110000000000000000003",
    "110000000000000000004",
)
"""The emulator's four test identities: one Google account per tenant."""
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
FAULTY_METHODS = (
    "contactGroups.get",
    "contactGroups.list",
    "contactGroups.members.modify",
    "people.connections.list",
    "people.getBatchGet",
)
HTTP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until(what: str, check: Any, timeout: float, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")


def _time(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class Tenant:
    account_id: int
    membership_id: int
    user_id: int
    sub: str
    sync_ids: list[int] = field(default_factory=list)


@dataclass
class Cluster:
    """What a running installation is made of; built by :func:`cluster`."""

    app: Flask
    settings: Settings
    env: dict[str, str]
    emulator: RunningEmulator
    hooks: HooksClient
    workdir: Path
    tenants: list[Tenant] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)
    web_url: str = ""
    worker_metrics: dict[str, str] = field(default_factory=dict)
    """Each worker's own ``/metrics`` URL."""

    # --- processes

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        return subprocess.Popen(
            args,
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_workers(self, count: int) -> None:
        for n in range(1, count + 1):
            name = f"w{n}"
            # Each worker as on a machine of its own: its own metrics directory and endpoint.
            counters = self.workdir / f"metrics-{name}"
            counters.mkdir()
            port = _free_port()
            self.worker_metrics[name] = f"http://127.0.0.1:{port}/metrics"
            self.workers[name] = self._spawn(
                name,
                str(BIN / "celery"),
                "-A",
                "app.worker.celery_main",
                "worker",
                "--concurrency=1",
                "--pool=prefork",
                f"--hostname={name}@groupsync",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                env={"GROUPSYNC_WORKER_METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(counters)},
            )

    def start_beat(self) -> None:
        self.others.append(
            self._spawn(
                "beat",
                str(BIN / "celery"),
                "-A",
                "app.worker.celery_main",
                "beat",
                f"--schedule={self.workdir / 'beat-schedule'}",
                "--loglevel=INFO",
            )
        )

    def start_web(self) -> None:
        port = _free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.others.append(
            self._spawn(
                "web",
                str(BIN / "gunicorn"),
                "--workers=2",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                "app:create_app()",
            )
        )

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group: its main process and the child running the job."""
        process = self.workers[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """Warm shutdown (running jobs finish), then SIGKILL whatever is left."""
        processes = [*self.others, *self.workers.values()]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log_of(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    # --- what the database says

    def syncs(self) -> list[ContactSync]:
        db.session.expire_all()
        return list(db.session.scalars(sa.select(ContactSync).order_by(ContactSync.id)))

    def running_run(self) -> SyncRun | None:
        db.session.expire_all()
        return db.session.scalar(sa.select(SyncRun).where(SyncRun.outcome == RunOutcome.RUNNING).limit(1))

    def synced_since(self, moment: datetime) -> bool:
        return all(s.last_success_at is not None and s.last_success_at > moment for s in self.syncs())

    def sub_of_sync(self, sync_id: int) -> str:
        return next(t.sub for t in self.tenants if sync_id in t.sync_ids)

    # --- what Google (the emulator) holds

    def list_ids(self, sync: ContactSync) -> set[str]:
        return set(
            db.session.scalars(
                sa.select(CrmContact.crm_id)
                .join(ListMember, ListMember.contact_id == CrmContact.id)
                .join(ContactList, ContactList.id == ListMember.list_id)
                .where(ContactList.id == sync.list_id, CrmContact.deleted.is_(False))
            )
        )

    def group_members(self, sub: str, sync: ContactSync) -> Counter[str]:
        """CRM id → how many contacts of GroupSync's group carry it (more than one is a duplicate)."""
        assert sync.group_resource_name is not None
        gid = sync.group_resource_name.removeprefix("contactGroups/")
        contacts = self.hooks.call("GET", f"people/accounts/{sub}/groups/{gid}/contacts")["contacts"]
        found: Counter[str] = Counter()
        for contact in contacts:
            tag = read_tag(contact)
            assert tag is not None, f"untagged contact in GroupSync's group: {contact['resourceName']}"
            assert tag[0] == sync.tag, f"a contact of another sync in group {gid}"
            found[tag[1]] += 1
        return found

    def tagged_anywhere(self, sub: str, sync: ContactSync) -> Counter[str]:
        """CRM id → contacts anywhere in the Google account carrying this sync's tag."""
        snapshot = self.hooks.call("GET", f"people/accounts/{sub}/snapshot")
        found: Counter[str] = Counter()
        for contact in snapshot["contacts"].values():
            tag = read_tag(contact["fields"])
            if tag is not None and tag[0] == sync.tag:
                found[tag[1]] += 1
        return found

    def emulator_log(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.hooks.log(since)
        return entries

    def ledger_requests(self, after_id: int, tag: EventTag | None) -> list[LedgerEntry]:
        """Entries with ``tag`` (every entry for ``None``) recorded after entry ``after_id``."""
        db.session.expire_all()
        query = sa.select(LedgerEntry).where(LedgerEntry.id > after_id)
        if tag is not None:
            query = query.where(LedgerEntry.tag == tag.value)
        return list(db.session.scalars(query))

    def last_ledger_id(self) -> int:
        return int(db.session.scalar(sa.select(sa.func.max(LedgerEntry.id))) or 0)

    def sub_of_user(self) -> dict[int, str]:
        return {t.user_id: t.sub for t in self.tenants}


def overlapping_writes(log: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of writes to one Google account whose time in the emulator overlapped."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for entry in log:
        if entry["sub"] and entry["http_method"] in MUTATING and not entry["method"].startswith("oauth2"):
            by_account.setdefault(entry["sub"], []).append(entry)
    overlaps = []
    for entries in by_account.values():
        entries.sort(key=lambda e: _time(e["started"]))
        for before, after in itertools.pairwise(entries):
            if _time(after["started"]) < _time(before["time"]):
                overlaps.append((before, after))
    return overlaps


def request_key(sub: str | None, method: str, status: str | int) -> tuple[str, str, str]:
    """The emulator names the token endpoint ``oauth2.token``; the ledger says which use of it."""
    return (sub or "-", "oauth2.token" if method.startswith("oauth2.token") else method, str(status))


def person(n: int, tenant: int, list_no: int) -> ContactData:
    return ContactData(
        crm_id=f"t{tenant}-l{list_no}-c{n}",
        given_name=f"Given{n}",
        family_name=f"Tenant{tenant} List{list_no}",
        job_title=f"Role {n % 7}",
    )


@contextmanager
def cluster(
    workdir: Path,
    *,
    lists_per_tenant: int,
    contacts_per_list: int,
    latency_ms: int,
    fault_rate: float,
    seed: int = 7,
    lease_seconds: int = 30,
    redis_db: int = KILL_TEST_REDIS_DB,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Build the installation; on exit every subprocess is killed and the database dropped.

    ``extra_env`` adds settings (``GROUPSYNC_*`` variables) for this process and every subprocess."""
    name = f"groupsync_cluster_{os.getpid()}_{redis_db}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    broker = redis.Redis.from_url(redis_url, socket_timeout=HTTP_TIMEOUT)
    broker.flushdb()
    instance = workdir / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = {
        "GROUPSYNC_ENV": "test",
        "DATABASE_URL": database_url,
        "GROUPSYNC_INSTANCE_PATH": str(instance),
        "GROUPSYNC_LOG_JSON": "true",
        "GROUPSYNC_SECRET_KEY": "cluster-test-secret-key-" + "x" * 16,
        "GROUPSYNC_TOKEN_KEYS": "k1:" + "A" * 43 + "=",
        "GROUPSYNC_GOOGLE_CLIENT_SECRET": "groupsync-test-client-secret",
        "GROUPSYNC_CELERY_BROKER_URL": redis_url,
        "GROUPSYNC_CELERY_VISIBILITY_TIMEOUT_SECONDS": "60",
        "GROUPSYNC_SYNC_LEASE_SECONDS": str(lease_seconds),
        "GROUPSYNC_GOOGLE_CRITICAL_READS_PER_MINUTE": "6000",
        "GROUPSYNC_GOOGLE_CRITICAL_WRITES_PER_MINUTE": "6000",
        "GROUPSYNC_GOOGLE_READS_PER_MINUTE": "6000",
        "GROUPSYNC_GOOGLE_WRITES_PER_MINUTE": "6000",
        "GROUPSYNC_HTTP_TIMEOUT_SECONDS": "20",
        "GROUPSYNC_METRICS_TOKEN": "cluster-metrics-token-0123456789",
        **(extra_env or {}),
    }
    settings = Settings.from_env(env)
    emulator = serve_in_thread(EmulatorSettings(mode=EmulatorMode.TEST, clients=(google_client(settings),)))
    env["GOOGLE_EMULATOR_HOST"] = emulator.host_port
    child_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    settings = settings.with_overrides(google_emulator_host=emulator.host_port)
    app = create_app(settings)
    # Requests made inside the open app context would otherwise share one `g` (see tests/conftest.py).
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    hooks = HooksClient(emulator.url, timeout=HTTP_TIMEOUT)
    built = Cluster(app, settings, child_env, emulator, hooks, workdir)
    try:
        with app.app_context():
            db.create_all()
            _populate(built, lists_per_tenant, contacts_per_list)
            hooks.call(
                "POST",
                "people/faults",
                {
                    "identity": None,
                    "plan": {
                        "latency_ms": latency_ms,
                        "error_rate": fault_rate,
                        "error_code": 503,
                        # The plan (latency included) covers only these methods when faults are on:
                        # a 503 on a create is ambiguous and costs the run a retry minutes later,
                        # and the kill test brings its own ambiguity.
                        "methods": list(FAULTY_METHODS) if fault_rate else [],
                        "seed": seed,
                    },
                },
            )
            for tenant in built.tenants:
                # Google serves one write at a time per user; the emulator refuses overlapping ones.
                hooks.call("POST", f"people/accounts/{tenant.sub}/limits", {"strict_sequential": True})
            yield built
    except BaseException:
        for log in sorted(workdir.glob("*.log")):
            print(
                f"--- last lines of {log.name}\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            )
        raise
    finally:
        built.stop_all()
        emulator.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        broker.flushdb()
        broker.close()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _populate(built: Cluster, lists_per_tenant: int, contacts_per_list: int) -> None:
    """One tenant per emulator identity; its member connects and syncs each of the tenant's lists."""
    for number, sub in enumerate(IDENTITIES, start=1):
        account = Account(name=f"Tenant {number}")
        user = User(
            google_sub=f"signin-{number}", email=f"member{number}@tenant.example.com", name=f"M{number}"
        )
        membership = Membership(account=account, user=user, role=Role.ADMIN)
        db.session.add_all([account, user, membership])
        db.session.commit()
        answer = connect(sign_in_client(built.app, membership), built.hooks, identity=sub)
        assert answer.status_code in (302, 303), answer.text
        connection = db.session.scalar(sa.select(GoogleConnection).where(GoogleConnection.user_id == user.id))
        assert connection is not None, "the OAuth connection did not complete"
        assert connection.is_usable
        tenant = Tenant(account.id, membership.id, user.id, sub)
        for list_no in range(1, lists_per_tenant + 1):
            contacts = [person(n, number, list_no) for n in range(contacts_per_list)]
            store_contact_data(db.session, account.id, contacts)
            db.session.commit()
            contact_list, _ = put_list(db.session, account.id, f"list-{list_no}", {"name": f"List {list_no}"})
            rows = db.session.scalars(
                sa.select(CrmContact).where(
                    CrmContact.account_id == account.id, CrmContact.crm_id.in_([c.crm_id for c in contacts])
                )
            )
            add_contacts_to_list(db.session, contact_list, rows)
            grant_access(db.session, contact_list, membership, "user:0")
            db.session.commit()
        built.tenants.append(tenant)


def enable_all(built: Cluster) -> None:
    for tenant in built.tenants:
        membership = db.session.get(Membership, tenant.membership_id)
        assert membership is not None
        for contact_list in db.session.scalars(
            sa.select(ContactList).where(ContactList.account_id == tenant.account_id).order_by(ContactList.id)
        ):
            tenant.sync_ids.append(enable_sync(db.session, membership, contact_list.id).id)


def readyz(url: str) -> dict[str, Any]:
    answer = requests.get(f"{url}/readyz", timeout=HTTP_TIMEOUT)
    data: dict[str, Any] = answer.json()
    data["http_status"] = answer.status_code
    return data


def dump(value: object) -> str:
    return json.dumps(value, indent=1, default=str)[:4000]
