"""Google's 25,000-contact limit per account, checked against the account's real size before writing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.extensions import shown_message
from app.sync.models import RunOutcome, SyncStatus
from app.sync.planner import GOOGLE_CONTACT_LIMIT
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import ADA
from tests.sync.engine import World, person


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def fill_account(world: World, up_to: int) -> None:
    """Seed personal contacts until the account holds ``up_to`` contacts in all."""
    held = world.google.call("GET", f"people/accounts/{ADA}/snapshot")["contacts"]
    filler = [{"person": {"names": [{"givenName": f"Friend {i}"}]}} for i in range(up_to - len(held))]
    world.google.call("POST", f"people/accounts/{ADA}/seed", {"contacts": filler})
    world.personal_before = world.personal_part()


def assert_blocked(world: World, message: str) -> None:
    sync = world.reload()
    assert sync.status is SyncStatus.GOOGLE_CONTACT_LIMIT
    # Shown in English (no request asks for another language), numbers written the English way.
    assert shown_message(sync.status_detail) == message
    assert not any(m.startswith(("people.batch", "contactGroups.members")) for m in world.requests())
    assert world.personal_part() == world.personal_before


def count_requests(world: World) -> list[dict[str, object]]:
    """The size checks of the last run: a read of ``contactGroups/myContacts`` only."""
    return [e for e in world.google.log(world.mark) if e["path"] == "/v1/contactGroups/myContacts"]


def test_creates_an_incremental_run_cannot_fit_are_refused_before_any_write(world: World) -> None:
    fill_account(world, GOOGLE_CONTACT_LIMIT - 3)
    world.upsert(person("c1", "Ann"), person("c2", "Ben"))
    assert world.run().outcome is RunOutcome.OK  # type: ignore[union-attr]
    world.upsert(person("c3", "Cat"), person("c4", "Dan"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.BLOCKED
    # The group, then the account's size from myContacts' member count: no person is read.
    assert world.requests() == ["contactGroups.get", "contactGroups.get"]
    (count,) = count_requests(world)
    assert count["contacts_touched"] == []
    assert_blocked(
        world,
        f"the Google account holds {GOOGLE_CONTACT_LIMIT - 1:,} contacts and this list needs 2 more;"
        f" that would pass Google's limit of {GOOGLE_CONTACT_LIMIT:,} contacts per account by 1",
    )
    world.assert_mirrors({"c1": "Ann", "c2": "Ben"})


def test_a_first_sync_checks_the_size_before_creating(world: World) -> None:
    fill_account(world, GOOGLE_CONTACT_LIMIT)
    world.upsert(person("c1", "Ann"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.BLOCKED
    assert world.requests() == ["contactGroups.create", "contactGroups.get"]
    assert len(count_requests(world)) == 1
    assert_blocked(
        world,
        f"the Google account holds {GOOGLE_CONTACT_LIMIT:,} contacts and this list needs 1 more;"
        f" that would pass Google's limit of {GOOGLE_CONTACT_LIMIT:,} contacts per account by 1",
    )
    assert world.by_crm_id() == {}


def test_the_runs_own_deletes_make_room_for_its_creates(world: World) -> None:
    fill_account(world, GOOGLE_CONTACT_LIMIT - 250)
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(250)))
    assert world.run().outcome is RunOutcome.OK  # type: ignore[union-attr]
    world.leave_list(*(f"c{i}" for i in range(50)))
    world.upsert(*(person(f"n{i}", f"New{i}") for i in range(50)))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.deleted, run.created) == (50, 50)
    assert world.requests() == [
        "contactGroups.get",
        "people.getBatchGet",
        "contactGroups.get",
        "people.batchDeleteContacts",
        "people.batchCreateContacts",
    ]
    expected = {f"c{i}": f"N{i}" for i in range(50, 250)} | {f"n{i}": f"New{i}" for i in range(50)}
    world.assert_mirrors(expected)
    assert len(world.snapshot()["contacts"]) == GOOGLE_CONTACT_LIMIT


def test_one_more_create_than_the_deletes_free_is_refused(world: World) -> None:
    fill_account(world, GOOGLE_CONTACT_LIMIT - 250)
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(250)))
    assert world.run().outcome is RunOutcome.OK  # type: ignore[union-attr]
    world.leave_list(*(f"c{i}" for i in range(50)))
    world.upsert(*(person(f"n{i}", f"New{i}") for i in range(51)))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.BLOCKED
    assert_blocked(
        world,
        f"the Google account holds {GOOGLE_CONTACT_LIMIT:,} contacts and this list needs 51 more"
        " (and frees 50); that would pass Google's limit of"
        f" {GOOGLE_CONTACT_LIMIT:,} contacts per account by 1",
    )


def test_a_run_without_creates_does_not_ask_for_the_size(world: World) -> None:
    world.upsert(person("c1", "Ann"))
    assert world.run().outcome is RunOutcome.OK  # type: ignore[union-attr]
    world.upsert(person("c1", "Anne"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert world.requests() == ["contactGroups.get", "people.getBatchGet", "people.batchUpdateContacts"]
    world.assert_mirrors({"c1": "Anne"})
