"""A benchmark world: a fresh SQLite database, an emulator in its own process, one member syncing one list.

The emulator runs in a child process so that the CPU time measured here is GroupSync's own
(engine, database, HTTP client), not the emulator's.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from app import create_app
from app.crm.models import CrmContact
from app.crm.services import add_contacts_to_list, grant_access, put_list, store_contact_data
from app.crm.values import Birthday, ContactData, Messenger, PostalAddress, TypedValue
from app.db import utcnow
from app.extensions import db
from app.google.credentials import UserOAuthCredentialsSource
from app.google.vault import TokenVault
from app.sync.models import ContactSync, SyncRun
from app.sync.planner import GOOGLE_CONTACT_LIMIT
from app.sync.services import RunOptions, enable_sync, run_sync
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory, make_settings, register_google_client, sign_in_client
from tests.google.connecting import ADA, connect

PEOPLE_PREFIXES = ("people.", "contactGroups.")
PERSONAL_CONTACTS = 50


def _serve(conn: Connection) -> None:
    from groupsync_emulator.cli import serve_in_thread
    from groupsync_emulator.state import EmulatorMode, EmulatorSettings

    running = serve_in_thread(EmulatorSettings(mode=EmulatorMode.TEST))
    conn.send(running.host_port)
    conn.recv()
    running.stop()


@contextmanager
def emulator_process() -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the emulator process did not start")
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(timeout=10)


def contact(i: int, version: int = 0) -> ContactData:
    """A CRM contact using every field kind GroupSync carries."""
    return ContactData(
        crm_id=f"crm-{i:06d}",
        prefix="Dr." if i % 7 == 0 else "",
        given_name=("Олена" if i % 2 else "Alice") + (f" v{version}" if version else ""),
        family_name=f"Family{i}",
        job_title="Buyer",
        company=f"Company {i % 300}",
        emails=(TypedValue(f"person{i}@example.test", "work"),),
        phones=(TypedValue(f"+38044{i:07d}", "mobile"),),
        birthday=Birthday(month=1 + i % 12, day=1 + i % 28, year=None if i % 3 else 1980 + i % 30),
        notes="Met at the trade fair; prefers e-mail." if i % 5 == 0 else "",
        addresses=(PostalAddress(type="work", street=f"Street {i}", city="Kyiv", country_code="UA"),),
        messengers=(Messenger("telegram", f"user{i}"),),
        urls=(TypedValue(f"https://example.test/p/{i}", "profile"),),
    )


WRITES = frozenset(
    {
        "people.batchCreateContacts",
        "people.batchUpdateContacts",
        "people.batchDeleteContacts",
        "contactGroups.members.modify",
    }
)


@dataclass
class Measured:
    requests: list[str]
    run: SyncRun
    first_write: float | None
    """When the first contact write reached the emulator (epoch seconds; same machine, same clock)."""


class BenchWorld:
    def __init__(self, emulator_host: str, size: int, units_per_minute: int = 1_000_000) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="groupsync-bench-"))
        self.settings = make_settings(
            f"sqlite:///{self.tmp / 'bench.sqlite3'}",
            self.tmp / "instance",
            google_emulator_host=emulator_host,
            google_critical_reads_per_minute=units_per_minute,
            google_critical_writes_per_minute=units_per_minute,
            google_reads_per_minute=units_per_minute,
            google_writes_per_minute=units_per_minute,
            log_level="WARNING",
        )
        self.hooks = HooksClient(f"http://{emulator_host}", timeout=120)
        register_google_client(self.hooks, self.settings)
        self.app: Flask = create_app(self.settings)
        self.ctx = self.app.app_context()
        self.ctx.push()
        db.create_all()
        factory = Factory()
        self.account = factory.account("Bench CRM")
        self.member = factory.member(self.account)
        connect(sign_in_client(self.app, self.member), self.hooks)
        # The user's own contacts, as many as fit next to the list under Google's 25,000 limit.
        self.personal = min(PERSONAL_CONTACTS, GOOGLE_CONTACT_LIMIT - size)
        self.hooks.call(
            "POST",
            f"people/accounts/{ADA}/seed",
            {
                "contacts": [
                    {"person": {"names": [{"givenName": f"Personal {i}"}]}} for i in range(self.personal)
                ]
            },
        )
        self.size = size
        store_contact_data(db.session, self.account.id, [contact(i) for i in range(size)])
        db.session.commit()
        self.list, _ = put_list(db.session, self.account.id, "bench", {"name": "Bench list"})
        add_contacts_to_list(db.session, self.list, db.session.scalars(select(CrmContact)))
        db.session.commit()
        grant_access(db.session, self.list, self.member, "user:0")
        self.sync: ContactSync = enable_sync(db.session, self.member, self.list.id)
        self.synced: Callable[[], None] = lambda: None
        """Called the moment the sync itself returns, before the harness reads the emulator's
        log: what the harness then does is not the run's CPU or memory."""
        self._mark = len(self.hooks.log())

    def close(self) -> None:
        db.session.remove()
        db.engine.dispose()
        self.ctx.pop()

    def change(self, count: int, version: int) -> None:
        """``count`` CRM edits spread over the list."""
        step = max(1, self.size // count)
        store_contact_data(
            db.session, self.account.id, [contact(i, version) for i in range(0, self.size, step)][:count]
        )
        db.session.commit()

    def latency(self, ms: int) -> None:
        self.hooks.call(
            "POST", "people/faults", {"identity": ADA, "plan": {"latency_ms": ms} if ms else None}
        )

    def run(self, **options: Any) -> Measured:
        mark = self._mark
        credentials = UserOAuthCredentialsSource(
            db.session, TokenVault.for_settings(self.settings), self.settings
        )
        run = run_sync(
            db.session,
            self.sync.id,
            settings=self.settings,
            credentials=credentials,
            options=RunOptions(**options),
        )
        self.synced()
        assert run is not None
        assert run.outcome.value == "ok", run.message
        entries = self.hooks.log(mark)
        # The log is read from here on: a run that read all of it would pay for every earlier run's.
        self._mark = mark + len(entries)
        log = [e for e in entries if e["method"].startswith(PEOPLE_PREFIXES)]
        writes = [datetime.fromisoformat(e["started"]).timestamp() for e in log if e["method"] in WRITES]
        return Measured([e["method"] for e in log], run, min(writes, default=None))

    def repair(self) -> Measured:
        """A run past the repair interval: every member of the group is read and compared."""
        later = utcnow() + timedelta(seconds=self.settings.sync_repair_interval_seconds, minutes=1)
        return self.run(now=lambda: later)
