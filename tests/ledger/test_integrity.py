from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.db import utcnow
from app.extensions import db
from app.ledger import chain
from app.ledger.events import EventTag
from app.ledger.models import LEDGER_GUARD_DDL, LEDGER_GUARD_DROP_DDL, LedgerEntry
from app.ledger.services import Pseudonymizer, purge_ledger, record
from app.ledger.verify import verify_database
from tests.ledger.helpers import fill, flow, tampering


def _postgres_only(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the insert-only triggers exist on PostgreSQL only")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET outcome = 'changed'",
        "DELETE FROM ledger_entry",
        "TRUNCATE ledger_entry",
    ],
)
def test_postgres_refuses_changing_the_ledger(app: Flask, statement: str) -> None:
    _postgres_only(app)
    fill(1, 2)
    with (
        pytest.raises(sa.exc.ProgrammingError, match="ledger_entry is insert-only"),
        db.engine.begin() as conn,
    ):
        conn.execute(sa.text(statement))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 2


def test_sqlite_refuses_updating_the_ledger(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own guard")
    fill(1, 1)
    with pytest.raises(sa.exc.IntegrityError, match="UPDATE refused"), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET outcome = 'changed'"))


def test_postgres_maintenance_setting_never_allows_update(app: Flask) -> None:
    _postgres_only(app)
    fill(1, 1)
    with db.engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL groupsync.ledger_maintenance = 'on'"))
        with pytest.raises(sa.exc.ProgrammingError, match="UPDATE refused"):
            conn.execute(sa.text("UPDATE ledger_entry SET outcome = 'changed'"))
        conn.rollback()


def test_concurrent_writers_keep_one_gapless_chain(app: Flask) -> None:
    pseudonyms = Pseudonymizer(b"k" * 32)
    engine = db.engine
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer() -> None:
        try:
            start.wait()
            for _ in range(10):
                with Session(engine) as session:
                    record(session, flow(5), pseudonymizer=pseudonyms)
                    session.commit()
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = db.session.scalars(sa.select(LedgerEntry.seq).where(LedgerEntry.chain == "account:5")).all()
    assert sorted(seqs) == list(range(1, 41))
    assert verify_database(db.session).ok


def test_purge_removes_old_prefix_records_anchor_and_still_verifies(app: Flask) -> None:
    now = utcnow()
    anchor = fill(1, 3, now=now - timedelta(days=500))[-1].hash
    fill(1, 2, now=now - timedelta(days=10))
    fill(2, 1, now=now - timedelta(days=10))
    results = purge_ledger(db.session, now, retention_days=400)
    assert [(r.chain, r.purged, r.through_seq) for r in results] == [("account:1", 3, 3)]
    remaining = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.chain == "account:1").order_by(LedgerEntry.seq)
    ).all()
    assert [e.seq for e in remaining] == [4, 5, 6]
    purge = remaining[-1]
    assert purge.tag == EventTag.RETENTION_PURGED.value
    assert purge.records == 3
    assert f'"anchor_hash":"{anchor}"' in purge.detail
    assert remaining[0].prev_hash == anchor
    report = verify_database(db.session)
    assert report.ok, report.lines()


def test_purge_of_a_whole_chain_leaves_a_verifiable_purge_entry(app: Flask) -> None:
    now = utcnow()
    fill(3, 2, now=now - timedelta(days=30))
    purge_ledger(db.session, now, retention_days=7)
    rows = db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.chain == "account:3")).all()
    assert [(r.seq, r.tag) for r in rows] == [(3, EventTag.RETENTION_PURGED.value)]
    assert verify_database(db.session).ok


def test_unexplained_missing_prefix_is_caught_after_purge(app: Flask) -> None:
    now = utcnow()
    fill(1, 2, now=now - timedelta(days=30))
    fill(1, 3, now=now)
    purge_ledger(db.session, now, retention_days=7)
    with tampering() as conn:
        conn.execute(sa.text("DELETE FROM ledger_entry WHERE chain = 'account:1' AND seq = 3"))
    problems = [str(p) for p in verify_database(db.session).problems]
    assert problems[0] == "chain account:1 seq 4: chain starts at seq 4 but no purge entry covers seq 1..3"


def test_entry_time_is_stored_exactly_as_hashed(app: Flask) -> None:
    entry = record(db.session, flow(1))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(LedgerEntry, entry.id)
    assert stored is not None
    assert chain.format_time(stored.recorded_at) == chain.format_time(entry.recorded_at)


def test_guard_ddl_constants_reinstall_cleanly_as_a_migration_would(app: Flask) -> None:
    _postgres_only(app)
    fill(1, 1)
    with db.engine.begin() as conn:
        conn.execute(sa.text(LEDGER_GUARD_DROP_DDL))
        conn.execute(sa.text("UPDATE ledger_entry SET outcome = outcome"))
        conn.execute(sa.text(LEDGER_GUARD_DDL))
    with pytest.raises(sa.exc.ProgrammingError, match="UPDATE refused"), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET outcome = outcome"))
