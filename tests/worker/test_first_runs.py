"""An admin gives a list to many domain users at once: the scheduler, driven by a clock of the
test's own, starts their first runs at most ``domain_first_runs_per_minute`` in any 60 seconds,
from slots kept in the syncs' own rows (so a restart changes nothing)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from app.accounts.models import Membership
from app.crm import services as crm_services
from app.crm.models import ContactList
from app.db import utcnow
from app.extensions import db
from app.mail import Mailer
from app.sync.models import ContactSync
from app.worker import tasks
from app.workspace import members, services
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.workspace.world import DOMAIN, DomainWorld

PER_MINUTE = 20
START = datetime(2027, 3, 1, 9, 0, 7, tzinfo=UTC)
"""Later than the list's last change (now), which must not pull any first run forward."""
TICK = timedelta(seconds=5)
"""Celery beat's tick (app/worker/celery_app.py)."""


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, tmp_path: Path) -> DomainWorld:
    built = DomainWorld(app, google, factory, tmp_path / "mail")
    built.settings = built.settings.with_overrides(domain_first_runs_per_minute=PER_MINUTE)
    built.ready()
    return built


def _colleagues(world: DomainWorld, factory: Factory, count: int, start: int = 0) -> list[Membership]:
    return [factory.member(world.account, email=f"user{n:03d}@{DOMAIN}") for n in range(start, start + count)]


def _assign(world: DomainWorld, chosen: list[Membership], now: datetime) -> list[int]:
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    result = members.assign_many(
        db.session,
        world.settings,
        Mailer.for_settings(world.settings),
        domain,
        admin=world.admin,
        members=chosen,
        contact_list=world.list,
        now=now,
    )
    assert result.refused == []
    return [sync.id for sync in result.assigned]


def _due_times(sync_ids: list[int]) -> list[datetime]:
    db.session.expire_all()
    rows = db.session.scalars(select(ContactSync.next_due_at).where(ContactSync.id.in_(sync_ids))).all()
    return sorted(due for due in rows if due is not None)


def _most_in_a_minute(moments: list[datetime]) -> int:
    return max(sum(1 for m in moments if start <= m < start + timedelta(minutes=1)) for start in moments)


def _drive(world: DomainWorld, until: datetime) -> dict[int, datetime]:
    """Beat ticks from START to ``until``: what each tick claims, as the Celery scheduler would."""
    claimed: dict[int, datetime] = {}
    moment = START
    while moment <= until:
        for sync_id, _ in tasks.claim_due(db.session, world.settings, hold=timedelta(hours=1), now=moment):
            assert sync_id not in claimed, "a claimed sync was handed out again"
            claimed[sync_id] = moment
        moment += TICK
    return claimed


def test_fifty_first_runs_start_at_most_twenty_a_minute(world: DomainWorld, factory: Factory) -> None:
    sync_ids = _assign(world, _colleagues(world, factory, 50), START)

    slot_of = {sync_id: _due_times([sync_id])[0] for sync_id in sync_ids}
    slots = sorted(slot_of.values())
    assert len(set(slots)) == 50
    assert slots[0] >= START
    assert slots[0] - START < timedelta(seconds=3)
    assert {b - a for a, b in itertools.pairwise(slots)} == {timedelta(seconds=60 / PER_MINUTE)}
    assert _most_in_a_minute(slots) == PER_MINUTE

    claimed = _drive(world, START + timedelta(minutes=3))
    assert sorted(claimed) == sorted(sync_ids), "every first run was claimed within 3 minutes"
    starts = sorted(claimed.values())
    assert _most_in_a_minute(starts) <= PER_MINUTE
    assert all(claimed[sync_id] >= slot_of[sync_id] for sync_id in sync_ids), "a run started before its slot"
    assert all(claimed[sync_id] - slot_of[sync_id] < TICK for sync_id in sync_ids), "claimed at the next tick"


def test_the_schedule_survives_a_restart_and_a_second_assignment(
    world: DomainWorld, factory: Factory
) -> None:
    first = _assign(world, _colleagues(world, factory, 30), START)
    # A restart: nothing is held in memory; the next assignment reads the slots from the rows.
    admin_id, list_id = world.admin.id, world.list.id
    db.session.remove()
    world.admin = db.session.get_one(Membership, admin_id)
    world.list = db.session.get_one(ContactList, list_id)
    second = _assign(world, _colleagues(world, factory, 15, start=100), START + timedelta(seconds=10))

    slots = _due_times(first + second)
    assert len(set(slots)) == 45, "no two first runs share a slot"
    assert _most_in_a_minute(slots) == PER_MINUTE
    assert min(_due_times(second)) > max(_due_times(first))


def test_a_user_given_a_second_list_or_the_same_one_again_keeps_one_slot_each(
    world: DomainWorld, factory: Factory
) -> None:
    colleagues = _colleagues(world, factory, 3)
    first = _assign(world, colleagues, START)
    before = _due_times(first)
    again = _assign(world, colleagues, START + timedelta(seconds=1))
    assert sorted(again) == sorted(first)
    assert _due_times(first) == before, "giving the same list again keeps the waiting first runs' slots"


def test_a_user_whose_sync_ran_is_due_at_once_when_given_the_list_again(
    world: DomainWorld, factory: Factory
) -> None:
    (sync_id,) = _assign(world, [world.taras], START)
    sync = db.session.get(ContactSync, sync_id)
    assert sync is not None
    assert world.run(sync) is not None
    _assign(world, _colleagues(world, factory, 25), START)
    _assign(world, [world.taras], START)
    db.session.expire_all()
    sync = db.session.get(ContactSync, sync_id)
    assert sync is not None
    assert sync.last_run_at is not None
    assert sync.next_due_at is not None
    assert sync.next_due_at < START, "not a first run, so not behind the 25 waiting ones: due now"


def test_giving_the_list_to_more_colleagues_does_not_re_run_those_who_have_it(
    world: DomainWorld, factory: Factory
) -> None:
    """A grant or a withdrawal concerns one member's sync; the list's other syncs stay as they were."""
    first = _assign(world, _colleagues(world, factory, 5), utcnow())
    ran_at = utcnow()
    later = ran_at + timedelta(hours=1)
    db.session.execute(
        update(ContactSync).where(ContactSync.id.in_(first)).values(last_run_at=ran_at, next_due_at=later)
    )
    db.session.commit()

    second = _assign(world, _colleagues(world, factory, 5, start=5), utcnow())
    changed = tasks.mark_changed_lists_due(db.session, world.settings, utcnow())
    assert changed == set(second), "only the syncs that never ran are due; the earlier five are not re-run"
    assert _due_times(first) == [later] * 5

    leaving = db.session.get(ContactSync, first[0])
    assert leaving is not None
    assert crm_services.withdraw_access(db.session, world.list, leaving.membership_id, "user:admin")
    changed = tasks.mark_changed_lists_due(db.session, world.settings, utcnow())
    assert changed == {first[0], *second}
    due = _due_times([first[0]])[0]
    assert due < later, "the withdrawal brings that one sync forward, to empty its group"
    assert _due_times(first[1:]) == [later] * 4
