"""The one-run-per-Google-account lease holds between processes, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.db import utcnow
from app.sync.services import acquire_lease
from tests.conftest import Factory
from tests.worker.test_jobs import sync_row

PROCESSES = 6


def _contend(
    database_url: str, sync_id: int, start_at: float, results: multiprocessing.Queue[str | None]
) -> None:
    engine = sa.create_engine(database_url, connect_args={"timeout": 30} if "sqlite" in database_url else {})
    with Session(engine) as session:
        time.sleep(max(0.0, start_at - time.time()))
        results.put(acquire_lease(session, "google:contended", sync_id, utcnow(), timedelta(minutes=5)))
    engine.dispose()


def test_of_processes_taking_one_accounts_lease_at_once_exactly_one_gets_it(
    app: Flask, database_url: str, factory: Factory
) -> None:
    account = factory.account()
    sync = sync_row(account.id, factory.member(account))
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[str | None] = context.Queue()
    start_at = time.time() + 3.0
    workers = [
        context.Process(target=_contend, args=(database_url, sync.id, start_at, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    holders = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert sum(holder is not None for holder in holders) == 1, holders
