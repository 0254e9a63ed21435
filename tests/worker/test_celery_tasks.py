"""The Celery tasks are module-level, found by name, and carry the reliability settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from flask import Flask

from app import create_app
from app.config import Settings
from app.worker import celery_tasks
from app.worker.celery_app import create_celery

NAMES = ("groupsync.run_sync", "groupsync.claim_due", "groupsync.chore")


@pytest.fixture
def celery(app: Flask) -> Iterator[Celery]:
    settings: Settings = app.config["GROUPSYNC"]
    worker_app = create_app(settings.with_overrides(celery_broker_url="redis://127.0.0.1:6379/15"))
    built = create_celery(worker_app)
    built.conf.task_always_eager = True
    yield built
    built.close()


def test_the_tasks_are_importable_and_bound_by_name(celery: Celery) -> None:
    for name in NAMES:
        assert name in celery.tasks
    assert celery_tasks.run_sync.name == "groupsync.run_sync"
    assert celery.tasks["groupsync.run_sync"] is celery_tasks.run_sync._get_current_object()
    schedule = {entry["task"] for entry in celery.conf.beat_schedule.values()}
    assert schedule == {"groupsync.claim_due", "groupsync.chore"}


def test_jobs_survive_a_dying_worker_and_are_delivered_one_at_a_time(celery: Celery, app: Flask) -> None:
    conf = celery.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (
        True,
        True,
        1,
    )
    settings: Settings = app.config["GROUPSYNC"]
    assert conf.broker_transport_options == {"visibility_timeout": settings.celery_visibility_timeout_seconds}


def test_the_tasks_run_inside_the_flask_app(celery: Celery) -> None:
    assert celery.tasks["groupsync.claim_due"].apply().get() == 0
    assert celery.tasks["groupsync.chore"].apply(args=("ledger-checkpoint",)).get() == 0
