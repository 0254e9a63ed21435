"""Celery wiring for installs that outgrow one machine: the same task functions, run by many workers.

``celery -A app.worker.celery_main worker`` runs jobs; ``celery -A app.worker.celery_main beat``
runs the one scheduler. Reliability settings follow Celery's own guidance for jobs that
must not be lost: acknowledge late, re-queue when a worker dies mid-job, prefetch one.
The broker's visibility timeout outlasts the longest sync, so Redis does not hand a
running job to a second worker; the database lease would refuse it anyway. How often a
job was delivered is counted in the database (:func:`app.worker.tasks.run_job`), which
bounds the redeliveries of a job that kills its worker.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task, current_task
from celery.signals import worker_init
from flask import Flask

from app.config import Settings
from app.extensions import db
from app.ops import metrics
from app.worker import celery_tasks, tasks

SCHEDULER_TICK_SECONDS = 5.0


class TaskIdFilter(logging.Filter):
    """Puts the running Celery task's id on each record (and in place of the absent request id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # current_task is a proxy: it is falsy, not None, outside a task.
        task_id = current_task.request.id if current_task else None
        record.task_id = task_id or "-"
        if task_id and getattr(record, "request_id", "-") == "-":
            record.request_id = f"task:{task_id}"
        return True


def _install_task_id_filter() -> None:
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_groupsync", False):
            # Last: a task id is a random UUID, not a secret, and the phone-number pattern of the
            # redaction filter would mangle its digits.
            handler.addFilter(TaskIdFilter())


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

    _install_task_id_filter()
    # The tasks are module-level shared tasks (app.worker.celery_tasks); this app binds them.
    celery = Celery(
        "groupsync",
        broker=settings.celery_broker_url,
        task_cls=AppContextTask,
        include=[celery_tasks.__name__],
    )
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        # Celery would replace the root handler, and with it the redaction filter.
        worker_hijack_root_logger=False,
        beat_schedule={
            "claim-due-syncs": {"task": "groupsync.claim_due", "schedule": SCHEDULER_TICK_SECONDS},
            **{
                f"chore-{chore.name}": {
                    "task": "groupsync.chore",
                    "schedule": chore.every,
                    "args": (chore.name,),
                }
                for chore in tasks.CHORES
            },
        },
    )

    if settings.worker_metrics_port is not None:
        # In the worker's main process, so one endpoint per worker adds up its pool processes.
        worker_init.connect(lambda **_: metrics.serve_in_thread(settings), weak=False)

    return celery
