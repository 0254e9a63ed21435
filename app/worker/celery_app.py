"""Celery wiring for installs that outgrow one machine: the same task functions, run by many workers.

``celery -A app.worker.celery_main worker`` runs jobs; ``celery -A app.worker.celery_main beat``
runs the one scheduler. Reliability settings follow Celery's own guidance for jobs that
must not be lost: acknowledge late, re-queue when a worker dies mid-job, prefetch one.
The broker's visibility timeout outlasts the longest sync, so Redis does not hand a
running job to a second worker; the database lease would refuse it anyway.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from flask import Flask

from app.config import Settings
from app.extensions import db
from app.ledger.events import Trigger
from app.worker import tasks

SCHEDULER_TICK_SECONDS = 5.0


def create_celery(flask_app: Flask) -> Celery:
    settings: Settings = flask_app.config["GROUPSYNC"]
    if not settings.celery_broker_url:
        raise RuntimeError("GROUPSYNC_CELERY_BROKER_URL must be set to run Celery workers")
    visibility = settings.celery_visibility_timeout_seconds

    class AppContextTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery("groupsync", broker=settings.celery_broker_url, task_cls=AppContextTask)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "claim-due-syncs": {"task": "groupsync.claim_due", "schedule": SCHEDULER_TICK_SECONDS},
        },
    )

    @celery.task(name="groupsync.run_sync")
    def run_sync(sync_id: int, trigger: str) -> None:
        tasks.run_one(db.session(), settings, sync_id, Trigger(trigger))

    @celery.task(name="groupsync.claim_due")
    def claim_due() -> int:
        claimed = tasks.claim_due(db.session(), settings, hold=timedelta(seconds=visibility))
        for sync_id, trigger in claimed:
            run_sync.delay(sync_id, trigger.value)
        return len(claimed)

    return celery
