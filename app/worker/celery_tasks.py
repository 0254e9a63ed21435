"""The Celery tasks, importable and routable by name (``groupsync.run_sync``, ...).

Each task is a thin shell over a function of :mod:`app.worker.tasks`. They are shared tasks:
the Celery app built by :func:`app.worker.celery_app.create_celery` binds them, and its task
class runs each one inside the Flask app's context, which is where the settings come from.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Task, shared_task

from app.config import current_settings
from app.db import utcnow
from app.extensions import db
from app.ledger.events import Trigger
from app.worker import tasks


@shared_task(name="groupsync.run_sync", bind=True)  # type: ignore[untyped-decorator]  # Celery has no types
def run_sync(self: Task, sync_id: int, trigger: str) -> None:
    """One delivery of a sync job; redeliveries are counted and bounded by :func:`tasks.run_job`."""
    tasks.run_job(
        db.session(),
        current_settings(),
        self.request.id,
        sync_id,
        Trigger(trigger),
        worker=self.request.hostname or "",
    )


@shared_task(name="groupsync.claim_due")  # type: ignore[untyped-decorator]
def claim_due() -> int:
    """The scheduler's tick: claim the due syncs and queue one job each."""
    settings = current_settings()
    # A claim lasts as long as the broker keeps a job invisible, so a lost job comes back once.
    hold = timedelta(seconds=settings.celery_visibility_timeout_seconds)
    claimed = tasks.claim_due(db.session(), settings, hold=hold)
    for sync_id, trigger in claimed:
        run_sync.delay(sync_id, trigger.value)
    return len(claimed)


@shared_task(name="groupsync.chore")  # type: ignore[untyped-decorator]
def chore(name: str) -> int:
    """Periodic upkeep named in :data:`app.worker.tasks.CHORES`."""
    return tasks.CHORES_BY_NAME[name].run(db.session(), current_settings(), utcnow())
