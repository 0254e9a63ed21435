"""What a sync did per contact, from what the executor recorded while runs went against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership
from app.crm.values import Birthday, TypedValue
from app.extensions import db
from app.sync import report
from app.sync.models import ContactAction, RemovalKind, RunOutcome, SyncedContact, SyncRemoval, SyncRun
from app.sync.report import ContactState, SkipReason
from app.sync.services import stop_syncing_contact
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.sync.engine import World, faults, person
from tests.sync.test_faults import CrashError, crash_at


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def _states(world: World, **kwargs: object) -> dict[str, ContactState]:
    page = report.contacts_of(db.session, world.reload(), **kwargs)  # type: ignore[arg-type]
    assert page is not None
    return {row.crm_id: row.state for row in page.rows}


def test_first_run_lists_every_contact_created_with_contact_progress(world: World) -> None:
    world.upsert(
        person("c1", "Ann", emails=(TypedValue("ann@example.test", "work"),)),
        person("c2", "Ben", birthday=Birthday(month=2, day=30)),
        person("c3", "Cid"),
    )

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.contacts_done, run.contacts_total) == (3, 3)
    page = report.contacts_of(db.session, world.reload())
    assert page is not None
    assert page.run is not None
    assert page.run.id == run.id
    assert [(r.crm_id, r.name, r.email, r.state) for r in page.rows] == [
        ("c1", "Ann Test", "ann@example.test", ContactState.CREATED),
        ("c2", "Ben Test", "", ContactState.CREATED),
        ("c3", "Cid Test", "", ContactState.CREATED),
    ]
    (ben,) = [r for r in page.rows if r.crm_id == "c2"]
    assert [(nc.field, nc.reason) for nc in ben.not_carried] == [("birthday", "not a valid calendar date")]
    assert report.progress(run).seconds_left is None  # finished: nothing left to estimate


def test_a_later_run_shows_its_updates_and_removals_and_older_runs_keep_theirs(world: World) -> None:
    world.upsert(person("c1", "Ann"), person("c2", "Ben"), person("c3", "Cid"))
    first = world.run()
    world.upsert(person("c1", "Anna"))
    world.leave_list("c2")

    second = world.run()

    assert first is not None
    assert second is not None
    assert second.outcome is RunOutcome.OK, second.message
    assert (second.contacts_done, second.contacts_total) == (2, 2)
    assert _states(world) == {
        "c1": ContactState.UPDATED,
        "c2": ContactState.DELETED,
        "c3": ContactState.IN_SYNC,
    }
    # The first run's page: its own creates are now overwritten by later actions, its removals none.
    assert _states(world, run_id=first.id) == {"c1": ContactState.IN_SYNC, "c3": ContactState.CREATED}
    removals = db.session.scalars(select(SyncRemoval).where(SyncRemoval.sync_id == world.sync.id)).all()
    assert [(r.crm_id, r.kind, r.run_id) for r in removals] == [("c2", RemovalKind.DELETED, second.id)]
    # Nothing to do: the third run writes nobody, so every contact reads "in sync".
    third = world.run()
    assert third is not None
    assert (third.contacts_done, third.contacts_total) == (0, 0)
    assert set(_states(world).values()) == {ContactState.IN_SYNC}


def test_search_by_name_or_email_and_pages(world: World) -> None:
    world.upsert(
        *(person(f"c{i:02}", f"Name{i:02}") for i in range(12)),
        person("x1", "Olena", emails=(TypedValue("olena@example.test", "work"),)),
    )
    world.run()
    sync = world.reload()

    by_mail = report.contacts_of(db.session, sync, query="OLENA@example")
    by_name = report.contacts_of(db.session, sync, query="name0")
    first = report.contacts_of(db.session, sync, page_size=5)
    last = report.contacts_of(db.session, sync, page=99, page_size=5)

    assert by_mail is not None
    assert [r.crm_id for r in by_mail.rows] == ["x1"]
    assert by_name is not None
    assert by_name.total == 10
    assert first is not None
    assert (first.total, first.pages, len(first.rows)) == (13, 3, 5)
    assert last is not None
    assert last.page == 3
    assert len(last.rows) == 3
    assert report.contacts_of(db.session, sync, run_id=10_000_000) is None


def test_skipped_contacts_say_why(world: World) -> None:
    world.upsert(*(person(f"c{i}") for i in range(3)))
    faults(
        world.google,
        after_apply_rate=1.0,
        after_apply="drop",
        methods=["people.batchCreateContacts"],
        times=1,
    )

    failed = world.run()

    assert failed is not None
    assert failed.outcome is RunOutcome.FAILED
    page = report.contacts_of(db.session, world.reload())
    assert page is not None
    assert {(r.state, r.reason) for r in page.rows} == {(ContactState.SKIPPED, SkipReason.NOT_CONFIRMED)}

    adopted = world.run()
    assert adopted is not None
    assert adopted.outcome is RunOutcome.OK, adopted.message
    assert adopted.adopted == 3
    # Adopted, and updated too when the copy Google kept differs from what the CRM holds now.
    assert set(_states(world).values()) <= {ContactState.ADOPTED, ContactState.UPDATED}

    stop_syncing_contact(db.session, world.sync, "c0")
    # Google's refusal of one item is recorded by the executor as it applies the batch; the
    # emulator refuses whole requests only, so the recorded outcome is written here as it would be.
    row = db.session.scalar(select(SyncedContact).where(SyncedContact.crm_id == "c1"))
    assert row is not None
    row.last_action, row.last_reason = ContactAction.FAILED, "Invalid phone number."
    db.session.commit()
    page = report.contacts_of(db.session, world.reload())
    assert page is not None
    reasons = {r.crm_id: (r.state, r.reason, r.detail) for r in page.rows}
    assert {k: v for k, v in reasons.items() if k != "c2"} == {
        "c0": (ContactState.SKIPPED, SkipReason.STOPPED_BY_USER, ""),
        "c1": (ContactState.SKIPPED, SkipReason.GOOGLE_REFUSED, "Invalid phone number."),
    }
    assert reasons["c2"][0] in {ContactState.ADOPTED, ContactState.UPDATED}


def test_time_left_follows_the_pace_so_far(world: World) -> None:
    started = world.sync.created_at
    running = SyncRun(
        sync_id=world.sync.id,
        trigger="schedule",
        started_at=started,
        outcome=RunOutcome.RUNNING,
        contacts_done=100,
        contacts_total=400,
    )

    estimate = report.progress(running, now=started + timedelta(seconds=60))

    assert (estimate.done, estimate.total, estimate.seconds_left) == (100, 400, 181)
    assert report.progress(running, now=started).seconds_left == 1
    running.contacts_done = 0
    assert report.progress(running, now=started + timedelta(seconds=60)).seconds_left is None


def test_a_run_killed_after_google_applied_a_batch_records_nothing_of_it(world: World) -> None:
    world.upsert(person("c1"), person("c2"))

    with pytest.raises(CrashError):
        world.run(step=crash_at("batch_created"))

    killed = db.session.scalars(select(SyncRun)).one()
    # Google made the contacts but their batch was never recorded: no action, no progress.
    assert (killed.contacts_done, killed.contacts_total) == (0, 2)
    assert {(r.last_action, r.last_run_id) for r in world.rows().values()} == {(None, None)}
    assert {r.reason for r in report.contacts_of(db.session, world.reload()).rows} == {  # type: ignore[union-attr]
        SkipReason.NOT_CONFIRMED
    }

    finished = world.run()

    assert finished is not None
    assert finished.outcome is RunOutcome.OK, finished.message
    assert set(_states(world).values()) <= {ContactState.ADOPTED, ContactState.UPDATED}
    assert {r.last_run_id for r in world.rows().values()} == {finished.id}


def test_contacts_are_listed_in_natural_order_across_pages_and_searches(world: World) -> None:
    # Given names "customer 1" … "Customer 12" in mixed case: text order would put 10, 11, 12 before 2.
    world.upsert(
        *(person(f"id{i}", f"{'customer' if i % 2 else 'Customer'} {i}") for i in (12, 3, 1, 10, 2, 11, 9)),
        person("id-a", "Ірина"),
        person("id-b", "Галина"),
        person("id-c", "Ґудзь"),
    )
    world.run()
    sync = world.reload()

    def names(**kwargs: object) -> list[str]:
        page = report.contacts_of(db.session, sync, **kwargs)  # type: ignore[arg-type]
        assert page is not None
        return [row.name for row in page.rows]

    everyone = [
        "customer 1 Test",
        "Customer 2 Test",
        "customer 3 Test",
        "customer 9 Test",
        "Customer 10 Test",
        "customer 11 Test",
        "Customer 12 Test",
        "Галина Test",
        "Ґудзь Test",
        "Ірина Test",
    ]
    assert names() == everyone
    assert names(page_size=4) + names(page_size=4, page=2) + names(page_size=4, page=3) == everyone
    assert names(query="CUSTOMER 1", page_size=2, page=2) == ["customer 11 Test", "Customer 12 Test"]
    assert names(query="customer 1") == [
        "customer 1 Test",
        "Customer 10 Test",
        "customer 11 Test",
        "Customer 12 Test",
    ]
