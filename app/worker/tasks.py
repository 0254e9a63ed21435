"""The jobs GroupSync runs in the background, as plain functions over a session.

The embedded worker (:mod:`app.worker.embedded`) and the Celery tasks
(:mod:`app.worker.celery_tasks`) call exactly these; neither holds logic of its own. Each
job owns its transactions (:func:`app.db.unit_of_work`).
Each job re-reads the sync's state when it runs — whatever was true when it was
enqueued may have changed (sync turned off, connection revoked, member removed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.crm.csv_import import purge_stale_uploads
from app.crm.models import ContactList, ListAccess
from app.db import unit_of_work, utcnow
from app.flows import inactivity
from app.flows.connections import purge_unused_connections
from app.google.domain import RoutingCredentialsSource
from app.google.vault import TokenVault
from app.ledger.events import Trigger
from app.ledger.services import make_checkpoints, purge_ledger
from app.ledger.signing import Signer
from app.ledger.tasks import build_requested_packs
from app.logs import redactor
from app.ops import metrics
from app.subject_requests import chores as subject_request_chores
from app.sync import schedule
from app.sync import services as sync_services
from app.sync.models import ContactSync, SyncRun
from app.worker.models import JobState, WorkerJob

logger = logging.getLogger(__name__)


def mark_changed_lists_due(session: Session, settings: Settings, now: datetime) -> set[int]:
    """Bring forward the syncs whose CRM list, or whose member's access to it, changed since their last run.

    Returns their ids. A burst of CRM edits coalesces into one run: the sync is due
    ``sync_change_delay_seconds`` after the latest change it has not seen, and never later
    than it already was. Granting or withdrawing a list concerns one member's sync only, so it
    is read from that member's :class:`ListAccess` row, not from the list's
    ``content_changed_at``: giving a list to a thousand colleagues one after another must not
    re-run every earlier colleague's sync at each step. A sync that never ran keeps the time
    its first run was given: that run reads the whole list whenever it comes, and the time may
    be a spread-out slot (:func:`app.sync.schedule.first_run_slots`).
    """
    delay = timedelta(seconds=settings.sync_change_delay_seconds)
    changed: set[int] = set()
    last_run = ContactSync.last_run_at
    with unit_of_work(session) as work:
        rows = work.execute(
            select(ContactSync, ContactList.content_changed_at, ListAccess.granted_at, ListAccess.revoked_at)
            .join(ContactList, ContactList.id == ContactSync.list_id)
            .outerjoin(
                ListAccess,
                and_(
                    ListAccess.list_id == ContactSync.list_id,
                    ListAccess.membership_id == ContactSync.membership_id,
                ),
            )
            .where(
                ContactSync.enabled.is_(True),
                last_run.is_(None)
                | (ContactList.content_changed_at > last_run)
                | (ListAccess.granted_at > last_run)
                | (ListAccess.revoked_at > last_run),
            )
        ).all()
        for sync, *stamps in rows:
            changed.add(sync.id)
            if sync.last_run_at is None and sync.next_due_at is not None:
                continue
            due = max(s for s in stamps if s is not None) + delay
            if sync.next_due_at is None or sync.next_due_at > due:
                sync.next_due_at = due
    return changed


BUSY_RETRY = timedelta(seconds=30)
"""When another run holds the Google account, try again this soon rather than at the next period."""


def run_one(session: Session, settings: Settings, sync_id: int, trigger: Trigger) -> SyncRun | None:
    """Run one sync if it may run now; ``None`` when it is off, halted or its Google account is busy."""
    credentials = RoutingCredentialsSource(
        session, TokenVault.for_settings(settings), settings, trigger=trigger
    )
    run = sync_services.run_sync(
        session,
        sync_id,
        settings=settings,
        credentials=credentials,
        options=sync_services.RunOptions(trigger=trigger),
    )
    if run is None:
        with unit_of_work(session) as work:
            sync = work.get(ContactSync, sync_id)
            if sync is not None and sync.enabled:
                sync.next_due_at = utcnow() + BUSY_RETRY
        return None
    metrics.SYNC_RUNS.labels(outcome=run.outcome.value).inc()
    for kind in metrics.WRITE_KINDS:
        metrics.CONTACTS_WRITTEN.labels(kind=kind).inc(getattr(run, kind))
    if run.finished_at is not None:
        metrics.RUN_DURATION.observe((run.finished_at - run.started_at).total_seconds())
    return run


def claim_due(
    session: Session, settings: Settings, hold: timedelta, now: datetime | None = None
) -> list[tuple[int, Trigger]]:
    """What the scheduler does each tick: fold in CRM changes, then claim the due syncs and say why.

    Claiming moves ``next_due_at`` ``hold`` ahead, so the next tick does not hand out the
    same sync again while its job waits in a queue; the run sets the real next time when it
    ends, and a job lost with its worker becomes due again once ``hold`` has passed.
    """
    moment = now or utcnow()
    changed = mark_changed_lists_due(session, settings, moment)
    due = list(schedule.due_syncs(session, moment))
    if not due:
        return []
    with unit_of_work(session) as work:
        rows = work.execute(
            select(ContactSync.id, ContactSync.requested_trigger).where(ContactSync.id.in_(due))
        )
        requested: dict[int, str | None] = dict(rows.all())
        work.execute(
            update(ContactSync)
            .where(ContactSync.id.in_(due))
            .values(next_due_at=moment + hold, requested_trigger=None)
        )
    return [(sync_id, _why(requested.get(sync_id), sync_id in changed)) for sync_id in due]


def _why(requested: str | None, crm_changed: bool) -> Trigger:
    """A person's request names the run; otherwise a CRM change does; otherwise the clock."""
    if requested is not None:
        return Trigger(requested)
    return Trigger.CRM_CHANGE if crm_changed else Trigger.SCHEDULE


def run_job(
    session: Session, settings: Settings, task_id: str, sync_id: int, trigger: Trigger, *, worker: str = ""
) -> SyncRun | None:
    """One delivery of a queued sync job: counted, bounded, and its end recorded for the admin page.

    The broker delivers a job again when the worker running it dies. Past
    ``worker_max_attempts`` deliveries the job is marked failed instead of run, so a job
    that kills its worker every time cannot occupy the workers for ever; the sync itself
    becomes due again when its claim expires and gets a fresh job.
    """
    job = _count_delivery(session, task_id, sync_id, trigger, worker)
    if job is None or job.state is not JobState.RUNNING:
        return None
    if job.attempts > 1:
        metrics.JOB_REDELIVERIES.inc()
    if job.attempts > settings.worker_max_attempts:
        metrics.JOBS_GIVEN_UP.inc()
        with unit_of_work(session):
            job.state = JobState.FAILED
            job.last_error = (
                f"given up after {settings.worker_max_attempts} attempts: "
                "the worker running it stopped each time"
            )
        logger.error("sync %s job %s given up after %s attempts", sync_id, task_id, job.attempts - 1)
        return None
    try:
        run = run_one(session, settings, sync_id, trigger)
    except Exception as exc:
        session.rollback()
        _finish(session, task_id, JobState.FAILED, redactor.redact(f"{type(exc).__name__}: {exc}"))
        raise
    _finish(session, task_id, JobState.DONE, "")
    return run


def _count_delivery(
    session: Session, task_id: str, sync_id: int, trigger: Trigger, worker: str
) -> WorkerJob | None:
    sync = session.get(ContactSync, sync_id)
    if sync is None:
        return None
    try:
        with unit_of_work(session) as work:
            work.add(
                WorkerJob(
                    task_id=task_id,
                    account_id=sync.account_id,
                    sync_id=sync_id,
                    trigger=trigger.value,
                    worker=worker,
                )
            )
    except IntegrityError:
        # A redelivery: the increment happens in the database, so two deliveries cannot both read 1.
        with unit_of_work(session) as work:
            work.execute(
                update(WorkerJob)
                .where(WorkerJob.task_id == task_id)
                .values(attempts=WorkerJob.attempts + 1, worker=worker, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    return session.scalar(
        select(WorkerJob).where(WorkerJob.task_id == task_id).execution_options(populate_existing=True)
    )


def _finish(session: Session, task_id: str, state: JobState, error: str) -> None:
    with unit_of_work(session) as work:
        work.execute(
            update(WorkerJob)
            .where(WorkerJob.task_id == task_id)
            .values(state=state, last_error=error, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def checkpoint_ledger(session: Session, settings: Settings, now: datetime) -> int:
    """Sign the head of every ledger chain that moved since the last checkpoint."""
    return len(make_checkpoints(session, Signer.for_settings(settings), now))


def purge_finished_jobs(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the records of jobs that ended long enough ago; a running job is never touched.

    Failed jobs are kept longer than finished ones: they are what the admin's failed-jobs page
    shows. Age counts from the job's last update, which is when it ended.
    """
    ended_before = {
        JobState.DONE: now - timedelta(days=settings.retention_done_job_days),
        JobState.FAILED: now - timedelta(days=settings.retention_failed_job_days),
    }
    with unit_of_work(session) as work:
        result = work.execute(
            delete(WorkerJob).where(
                or_(
                    *(
                        and_(WorkerJob.state == state, WorkerJob.updated_at < cutoff)
                        for state, cutoff in ended_before.items()
                    )
                )
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


def enforce_retention(session: Session, settings: Settings, now: datetime) -> int:
    """Purge what is kept only for a while: ledger entries, unused connections, job records, staged CSVs.

    Ledger and connection purges are recorded in the ledger; returns how many were purged in all.
    """
    purged = purge_ledger(session, now)
    disconnected = purge_unused_connections(
        session, settings=settings, vault=TokenVault.for_settings(settings)
    )
    jobs = purge_finished_jobs(session, settings, now)
    uploads = purge_stale_uploads(session, now)
    logger.info(
        "retention: %d ledger chain(s) purged, %d connection(s) disconnected, "
        "%d job record(s) and %d staged CSV upload(s) deleted",
        len(purged),
        disconnected,
        jobs,
        uploads,
    )
    return len(purged) + disconnected + jobs + uploads


@dataclass(frozen=True)
class Chore:
    """Periodic upkeep that both the embedded worker and Celery beat run on the same schedule."""

    name: str
    every: timedelta
    run: Callable[[Session, Settings, datetime], int]


CHORES = (
    Chore("ledger-checkpoint", timedelta(hours=1), checkpoint_ledger),
    Chore("retention", timedelta(days=1), enforce_retention),
    Chore("evidence-packs", timedelta(seconds=10), build_requested_packs),
    # Hourly though its deadlines count in days: each reminder and flag goes once, so a worker
    # restarted at any hour misses none and runs twice send nothing twice.
    Chore("data-requests", timedelta(hours=1), subject_request_chores.run),
    # Hourly: each step (warn, freeze, delete, destroy the copy) is taken once, when its day comes.
    Chore("inactive-accounts", timedelta(hours=1), inactivity.run),
)
CHORES_BY_NAME = {chore.name: chore for chore in CHORES}
