"""Sync jobs as the Celery task runs them: counted deliveries, a bound, state re-checked at run time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership, Role
from app.db import utcnow
from app.extensions import db
from app.google.models import StatusReason
from app.ledger.events import Trigger
from app.sync.models import ContactSync, SyncRun, SyncStatus
from app.sync.services import disable_sync, request_run_now
from app.worker import tasks
from app.worker.models import JobState, WorkerJob
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import connection_of
from tests.sync.engine import World, person


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    built = World(app, google, factory, signed_in)
    built.upsert(person("c1"), person("c2"))
    return built


def _job(task_id: str) -> WorkerJob:
    db.session.expire_all()
    job = db.session.scalar(sa.select(WorkerJob).where(WorkerJob.task_id == task_id))
    assert job is not None
    return job


def _runs(sync_id: int) -> int:
    return int(db.session.scalar(sa.select(sa.func.count(SyncRun.id)).where(SyncRun.sync_id == sync_id)) or 0)


def test_a_job_runs_its_sync_and_is_recorded_done(world: World) -> None:
    run = tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE, worker="w1@h")
    assert run is not None
    job = _job("task-1")
    assert (job.state, job.attempts, job.worker, job.account_id) == (
        JobState.DONE,
        1,
        "w1@h",
        world.account.id,
    )
    assert set(world.by_crm_id()) == {"c1", "c2"}


def test_a_job_delivered_again_after_it_finished_does_nothing(world: World) -> None:
    tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE)
    mark = len(world.google.log())
    assert tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE) is None
    assert len(world.google.log()) == mark
    assert _job("task-1").attempts == 2
    assert _runs(world.sync.id) == 1


def test_a_job_whose_worker_died_is_run_by_the_next_delivery(world: World) -> None:
    # What a worker killed mid-job leaves behind: the job counted once and still running.
    db.session.add(
        WorkerJob(task_id="task-1", account_id=world.account.id, sync_id=world.sync.id, trigger="schedule")
    )
    db.session.commit()
    assert tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE) is not None
    job = _job("task-1")
    assert (job.state, job.attempts) == (JobState.DONE, 2)


def test_a_job_past_the_bound_is_marked_failed_and_not_run(world: World) -> None:
    bound = world.settings.worker_max_attempts
    db.session.add(
        WorkerJob(
            task_id="task-1",
            account_id=world.account.id,
            sync_id=world.sync.id,
            trigger="schedule",
            attempts=bound,
        )
    )
    db.session.commit()
    mark = len(world.google.log())
    assert tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE) is None
    job = _job("task-1")
    assert job.state is JobState.FAILED
    assert job.last_error == (f"given up after {bound} attempts: the worker running it stopped each time")
    assert len(world.google.log()) == mark
    assert _runs(world.sync.id) == 0


def test_a_sync_turned_off_after_it_was_queued_sends_nothing(world: World) -> None:
    claimed = tasks.claim_due(db.session, world.settings, hold=timedelta(minutes=1))
    assert [sync_id for sync_id, _ in claimed] == [world.sync.id]
    disable_sync(db.session, world.sync, "user:1")
    mark = len(world.google.log())
    assert tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE) is None
    assert len(world.google.log()) == mark
    assert _job("task-1").state is JobState.DONE


def test_a_connection_that_lost_its_access_after_queueing_sends_nothing(world: World) -> None:
    tasks.claim_due(db.session, world.settings, hold=timedelta(minutes=1))
    connection = connection_of(world.member)
    assert connection is not None
    connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
    db.session.commit()
    mark = len(world.google.log())
    assert tasks.run_job(db.session, world.settings, "task-1", world.sync.id, Trigger.SCHEDULE) is None
    assert len(world.google.log()) == mark
    sync = db.session.get(ContactSync, world.sync.id)
    assert sync is not None
    assert sync.status is SyncStatus.NEEDS_RECONNECT


def test_failed_jobs_page_shows_the_admins_own_account_only(
    app: Flask, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    ours, theirs = factory.account("Ours"), factory.account("Theirs")
    admin = factory.member(ours, Role.ADMIN)
    member = factory.member(ours, Role.MEMBER)
    for account, error in ((ours, "our-error-7781"), (theirs, "their-error-9923")):
        owner = factory.member(account)
        sync = sync_row(account.id, owner)
        db.session.add(
            WorkerJob(
                task_id=f"t-{account.id}",
                account_id=account.id,
                sync_id=sync.id,
                trigger="schedule",
                attempts=4,
                state=JobState.FAILED,
                last_error=error,
                updated_at=utcnow(),
            )
        )
    db.session.commit()
    page = signed_in(admin).get("/admin/jobs")
    assert page.status_code == 200
    assert "our-error-7781" in page.text
    assert "their-error-9923" not in page.text
    assert signed_in(member).get("/admin/jobs").status_code == 403


def sync_row(account_id: int, membership: Membership) -> ContactSync:
    from app.crm.models import ContactList
    from app.google.models import GoogleConnection

    connection = GoogleConnection(account_id=account_id, user_id=membership.user_id, email="x@example.com")
    contact_list = ContactList(account_id=account_id, crm_id=f"l-{membership.id}", name="L")
    db.session.add_all([connection, contact_list])
    db.session.commit()
    sync = ContactSync(
        account_id=account_id,
        membership_id=membership.id,
        list_id=contact_list.id,
        connection_id=connection.id,
    )
    db.session.add(sync)
    db.session.commit()
    return sync


def test_claims_say_why_a_sync_is_due(world: World) -> None:
    claimed = tasks.claim_due(db.session, world.settings, hold=timedelta(minutes=1))
    # Turning the sync on is the member's own action.
    assert claimed == [(world.sync.id, Trigger.USER_ACTION)]
    assert tasks.run_job(db.session, world.settings, "t1", world.sync.id, claimed[0][1]) is not None

    sync = db.session.get(ContactSync, world.sync.id)
    assert sync is not None
    assert request_run_now(db.session, sync)
    assert tasks.claim_due(db.session, world.settings, hold=timedelta(minutes=1)) == [
        (world.sync.id, Trigger.USER_SYNC_NOW)
    ]
    # The request is used up by the claim: the next time the sync is due, the clock is why.
    sync.next_due_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert tasks.claim_due(db.session, world.settings, hold=timedelta(minutes=1)) == [
        (world.sync.id, Trigger.SCHEDULE)
    ]


def _job_ages(account_id: int, sync_id: int, rows: dict[str, tuple[JobState, timedelta]]) -> None:
    """A job per task id in the given state, last updated that long ago."""
    now = utcnow()
    for task_id, (state, age) in rows.items():
        db.session.add(
            WorkerJob(
                task_id=task_id,
                account_id=account_id,
                sync_id=sync_id,
                trigger="schedule",
                state=state,
                created_at=now - age,
                updated_at=now - age,
            )
        )
    db.session.commit()


def _task_ids() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(WorkerJob.task_id)))


def test_ended_jobs_are_deleted_after_their_retention_and_running_ones_never(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    sync = sync_row(account.id, factory.member(account))
    settings = app.config["GROUPSYNC"].with_overrides(retention_done_job_days=7, retention_failed_job_days=30)
    _job_ages(
        account.id,
        sync.id,
        {
            "done-old": (JobState.DONE, timedelta(days=8)),
            "done-recent": (JobState.DONE, timedelta(days=6)),
            # Failed jobs outlive finished ones: the admin's page shows them.
            "failed-month-old": (JobState.FAILED, timedelta(days=31)),
            "failed-week-old": (JobState.FAILED, timedelta(days=8)),
            "running-forever": (JobState.RUNNING, timedelta(days=365)),
        },
    )

    assert tasks.purge_finished_jobs(db.session, settings, utcnow()) == 2

    assert _task_ids() == {"done-recent", "failed-week-old", "running-forever"}


def test_a_failed_job_stays_on_the_admin_page_until_its_retention_ends(
    app: Flask, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    sync = sync_row(account.id, admin)
    settings = app.config["GROUPSYNC"]
    _job_ages(account.id, sync.id, {"t-1": (JobState.FAILED, timedelta(days=20))})
    browser = signed_in(admin)

    def shown() -> int:
        return browser.get("/admin/jobs").text.count('data-testid="failed-job"')

    tasks.purge_finished_jobs(db.session, settings, utcnow())
    assert shown() == 1

    later = utcnow() + timedelta(days=settings.retention_failed_job_days)
    tasks.purge_finished_jobs(db.session, settings, later)
    assert shown() == 0
