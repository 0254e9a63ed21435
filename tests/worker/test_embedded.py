"""The embedded worker's tick: periodic upkeep on its schedule, alongside due syncs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.crm.csv_import import UPLOAD_LIFETIME
from app.crm.models import CsvUpload
from app.db import utcnow
from app.extensions import db
from app.ledger.models import LedgerCheckpoint, LedgerEntry
from app.worker.embedded import EmbeddedWorker
from app.worker.models import JobState, WorkerJob
from tests.conftest import Factory
from tests.ledger.helpers import fill
from tests.worker.test_jobs import sync_row


def _count(model: type[LedgerCheckpoint] | type[LedgerEntry]) -> int:
    db.session.expire_all()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_a_tick_checkpoints_the_ledger_once_per_period(app: Flask, factory: Factory) -> None:
    account = factory.account()
    fill(account.id, 3)
    worker = EmbeddedWorker(app)

    assert worker.run_once() == 0
    assert _count(LedgerCheckpoint) == 1

    fill(account.id, 2)
    worker.run_once()
    # Within the hour the head moved, but the chore waits for its period.
    assert _count(LedgerCheckpoint) == 1


def test_a_tick_enforces_ledger_retention(app: Flask, factory: Factory) -> None:
    account = factory.account()
    settings = app.config["GROUPSYNC"]
    fill(account.id, 2, now=utcnow() - timedelta(days=settings.retention_ledger_days + 5))
    fill(account.id, 1)
    before = _count(LedgerEntry)

    EmbeddedWorker(app).run_once()

    # Two old entries purged, one purge entry recorded in their place.
    assert _count(LedgerEntry) == before - 2 + 1


def test_a_tick_deletes_old_job_records_and_abandoned_uploads_and_logs_the_counts(
    app: Flask, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    account = factory.account()
    sync = sync_row(account.id, factory.member(account))
    settings = app.config["GROUPSYNC"]
    now = utcnow()
    ended = now - timedelta(days=settings.retention_done_job_days + 1)
    for task_id, when in (("old", ended), ("new", now)):
        db.session.add(
            WorkerJob(
                task_id=task_id,
                account_id=account.id,
                sync_id=sync.id,
                trigger="schedule",
                state=JobState.DONE,
                updated_at=when,
            )
        )
    for name, when in (("abandoned.csv", now - UPLOAD_LIFETIME - timedelta(hours=1)), ("fresh.csv", now)):
        db.session.add(
            CsvUpload(
                account_id=account.id, filename=name, list_name="L", content=b"id\n1\n", created_at=when
            )
        )
    db.session.commit()

    with caplog.at_level(logging.INFO, logger="app.worker.tasks"):
        EmbeddedWorker(app).run_once()

    db.session.expire_all()
    assert list(db.session.scalars(sa.select(WorkerJob.task_id))) == ["new"]
    assert list(db.session.scalars(sa.select(CsvUpload.filename))) == ["fresh.csv"]
    assert "1 job record(s) and 1 staged CSV upload(s) deleted" in caplog.text
