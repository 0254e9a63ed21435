"""Faults and crashes never yield a duplicate or a lost contact; one run per Google account at a time."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.db import utcnow
from app.extensions import db
from app.sync.models import RunOutcome, SyncRun
from app.sync.services import LEASE_TTL, acquire_lease, lease_key
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import connection_of
from tests.sync.engine import World, faults, person

CI_SEEDS = [11, 23, 37]
MAX_RUNS = 25


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> Iterator[World]:
    yield World(app, google, factory, signed_in)
    faults(google)


def run_until_ok(world: World) -> list[SyncRun]:
    runs: list[SyncRun] = []
    for _ in range(MAX_RUNS):
        run = world.run()
        assert run is not None
        runs.append(run)
        if run.outcome is RunOutcome.OK:
            return runs
        assert run.outcome is RunOutcome.FAILED, run.message
    pytest.fail(f"no run succeeded in {MAX_RUNS}: {[r.message for r in runs]}")


# The longer run: GROUPSYNC_SOAK_SEEDS=200 pytest tests/sync/test_faults.py -m slow
SOAK_SEEDS = [
    pytest.param(seed, marks=pytest.mark.slow)
    for seed in range(1000, 1000 + int(os.environ.get("GROUPSYNC_SOAK_SEEDS", "0")))
]


@pytest.mark.parametrize("seed", CI_SEEDS + SOAK_SEEDS)
def test_seeded_faults_leave_no_duplicate_and_lose_nothing(world: World, seed: int) -> None:
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(450)))
    faults(
        world.google,
        seed=seed,
        error_rate=0.1,
        drop_rate=0.1,
        after_apply_rate=0.25,
        after_apply="drop",
    )

    runs = run_until_ok(world)

    faults(world.google)
    world.assert_mirrors({f"c{i}": f"N{i}" for i in range(450)})
    assert len(runs) > 1, "the seed injected no fault that failed a run"

    world.upsert(*(person(f"c{i}", f"M{i}") for i in range(0, 450, 3)))
    world.leave_list(*(f"c{i}" for i in range(1, 60, 3)))
    world.upsert(*(person(f"n{i}", f"New{i}") for i in range(30)))
    faults(
        world.google, seed=seed + 1, error_rate=0.15, drop_rate=0.1, after_apply_rate=0.3, after_apply="503"
    )

    run_until_ok(world)

    faults(world.google)
    expected = {
        f"c{i}": (f"M{i}" if i % 3 == 0 else f"N{i}") for i in range(450) if not (i % 3 == 1 and i < 60)
    }
    expected |= {f"n{i}": f"New{i}" for i in range(30)}
    world.assert_mirrors(expected)


@pytest.mark.parametrize("method", ["people.batchCreateContacts", "contactGroups.create"])
def test_a_create_applied_but_unanswered_is_adopted_not_repeated(world: World, method: str) -> None:
    world.upsert(*(person(f"c{i}") for i in range(5)))
    faults(world.google, after_apply_rate=1.0, after_apply="drop", methods=[method], times=1)

    failed = world.run()

    assert failed is not None
    assert failed.outcome is RunOutcome.FAILED
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    if method == "contactGroups.create":
        # GroupSync lists no groups: Google's 409 for the name the lost answer took moves it on.
        assert world.requests() == [
            "contactGroups.create",
            "contactGroups.create",
            "contactGroups.get",
            "people.batchCreateContacts",
        ]
        assert world.reload().group_name == "Acme CRM · Customers (2)"
        assert run.created == 5
        snapshot = world.snapshot()
        left_over = [
            name
            for name, g in snapshot["groups"].items()
            if name != world.group
            and any(e.get("value") == world.sync.tag for e in g.get("clientData") or [])
        ]
        # The group the lost answer made stays behind, empty, for the user to delete.
        assert [snapshot["groups"][name]["name"] for name in left_over] == ["Acme CRM · Customers"]
        assert not any(left_over[0] in c["memberships"] for c in snapshot["contacts"].values())
    else:
        assert "people.batchCreateContacts" not in world.requests()
        assert run.adopted == 5
    world.assert_mirrors({f"c{i}": f"Contact c{i}" for i in range(5)})


class CrashError(Exception):
    """Stands in for the process dying at a given point of a run."""


def crash_at(point: str, time: int = 1) -> Callable[[str], None]:
    """A run's step hook that dies the ``time``-th time the run reaches ``point``."""
    reached: list[str] = []

    def step(name: str) -> None:
        if name == point:
            reached.append(name)
            if len(reached) == time:
                raise CrashError(point)

    return step


@pytest.mark.parametrize(("point", "adopted"), [("intents_recorded", 0), ("batch_created", 3)])
def test_a_crash_between_intent_and_answer_is_finished_by_the_next_run(
    world: World, point: str, adopted: int
) -> None:
    world.upsert(person("c1"), person("c2"), person("c3"))

    with pytest.raises(CrashError):
        world.run(step=crash_at(point))

    assert {row.state.value for row in world.rows().values()} == {"intended"}
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.adopted == adopted
    assert run.created == 3 - adopted
    world.assert_mirrors({"c1": "Contact c1", "c2": "Contact c2", "c3": "Contact c3"})
    interrupted = db.session.scalars(db.select(SyncRun).where(SyncRun.outcome == RunOutcome.INTERRUPTED))
    assert len(list(interrupted)) == 1


@pytest.mark.parametrize(("point", "adopted"), [("intents_recorded", 0), ("batch_created", 50)])
def test_the_second_batchs_intents_are_durable_before_its_create(
    world: World, point: str, adopted: int
) -> None:
    # A first run's second batch has its intents committed with the first batch's answers.
    world.upsert(*(person(f"c{i:03d}") for i in range(250)))

    with pytest.raises(CrashError):
        world.run(step=crash_at(point, time=2))

    states = [row.state.value for row in world.rows().values()]
    assert (states.count("synced"), states.count("intended")) == (200, 50)
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.adopted, run.created) == (adopted, 50 - adopted)
    world.assert_mirrors({f"c{i:03d}": f"Contact c{i:03d}" for i in range(250)})


def test_one_run_at_a_time_per_google_account(world: World) -> None:
    world.upsert(person("c1"))
    connection = connection_of(world.member)
    assert connection is not None
    now = utcnow()
    other = acquire_lease(db.session, lease_key(connection), world.sync.id, now)
    assert other is not None

    assert acquire_lease(db.session, lease_key(connection), world.sync.id, now) is None
    assert world.run() is None
    assert world.requests() == []

    later = now + LEASE_TTL + timedelta(seconds=1)
    run = world.run(now=lambda: later)

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    world.assert_mirrors({"c1": "Contact c1"})
