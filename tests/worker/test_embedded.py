"""The embedded worker's tick: periodic upkeep on its schedule, alongside due syncs."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from app.db import utcnow
from app.extensions import db
from app.ledger.models import LedgerCheckpoint, LedgerEntry
from app.worker.embedded import EmbeddedWorker
from tests.conftest import Factory
from tests.ledger.helpers import fill


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
