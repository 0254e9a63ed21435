"""Which mapping rows an ordinary run loads, found by the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.extensions import db
from app.sync import candidates
from app.sync.loaders import ListSource
from app.sync.models import RunOutcome
from app.sync.planner import RowState
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.sync.engine import World, person, repair_due


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    world = World(app, google, factory, signed_in)
    world.upsert(*(person(f"c{i}", f"Name {i}") for i in range(1, 6)))
    run = world.run()
    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    return world


def _find(world: World, members: set[str] | None = None) -> candidates.Candidates | None:
    """What the run would narrow to, given the group's members (by default: every synced contact)."""
    if members is None:
        members = {r.resource_name for r in world.rows().values() if r.resource_name}
    found = candidates.changed(db.session, world.sync.id, ListSource(db.session, world.sync).listed())
    if found is not None and not candidates.all_members(db.session, world.sync.id, members):
        found = None
    db.session.rollback()
    return found


def test_a_list_in_sync_loads_no_row_and_counts_them_all(world: World) -> None:
    found = _find(world)

    assert found is not None
    assert (found.rows, found.versions, found.settled) == ({}, {}, 5)


def test_only_edited_added_and_leaving_contacts_are_loaded(world: World) -> None:
    world.upsert(person("c2", "Renamed"), person("c6", "New"))
    world.leave_list("c3")

    found = _find(world)

    assert found is not None
    assert set(found.rows) == {"c2", "c3"}
    assert set(found.versions) == {"c2", "c6"}
    assert found.settled == 3
    # The version is the CRM's, to be compared with the row's in Python as before.
    assert found.rows["c2"].crm_updated_at != found.versions["c2"]


def test_a_row_google_holds_differently_from_the_crm_is_loaded(world: World) -> None:
    row = world.rows()["c4"]
    row.field_hash = "f" * 64
    db.session.commit()

    found = _find(world)

    assert found is not None
    assert set(found.rows) == {"c4"}
    assert set(found.versions) == {"c4"}


def test_a_contact_the_user_told_groupsync_to_leave_alone_is_always_loaded(world: World) -> None:
    row = world.rows()["c5"]
    row.stop_syncing = True
    db.session.commit()

    found = _find(world)

    assert found is not None
    assert set(found.rows) == {"c5"}
    assert found.settled == 4


def test_a_synced_contact_missing_from_the_group_means_every_row(world: World) -> None:
    members = {r.resource_name for r in world.rows().values() if r.resource_name}
    members.pop()

    assert _find(world, members) is None


def test_a_create_awaiting_googles_answer_means_every_row(world: World) -> None:
    row = world.rows()["c1"]
    row.state = RowState.INTENDED
    db.session.commit()

    assert _find(world) is None


def test_a_list_the_member_may_no_longer_sync_loads_every_row_as_leaving(world: World) -> None:
    found = candidates.changed(db.session, world.sync.id, None)

    assert found is not None
    assert set(found.rows) == {f"c{i}" for i in range(1, 6)}
    assert (found.versions, found.settled) == ({}, 0)


def test_a_run_after_an_edit_writes_only_that_contact_and_counts_the_rest_in_sync(world: World) -> None:
    world.upsert(person("c2", "Renamed"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.updated, run.in_sync, run.created, run.deleted) == (1, 4, 0, 0)
    assert world.requests() == ["contactGroups.get", "people.getBatchGet", "people.batchUpdateContacts"]
    world.assert_mirrors({"c1": "Name 1", "c2": "Renamed", "c3": "Name 3", "c4": "Name 4", "c5": "Name 5"})


def test_a_run_with_nothing_changed_reads_the_group_without_its_members(world: World) -> None:
    world.google.keep_bodies()

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.in_sync, run.updated, run.created, run.progress_total) == (5, 0, 0, 0)
    (entry,) = [e for e in world.google.log(world.mark) if e["method"].startswith("contactGroups")]
    assert entry["method"] == "contactGroups.get"
    answer = json.loads(entry["response"])
    assert answer["memberCount"] == 5
    assert "memberResourceNames" not in answer


def test_a_repair_run_finds_a_contact_whose_mapping_changed(
    world: World,
) -> None:
    row = world.rows()["c3"]
    # As if GroupSync's mapping had changed since c3 was written: both hashes are of the old one.
    row.crm_hash = row.field_hash = "0" * 64
    db.session.commit()

    run = world.run(now=repair_due(world))

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.full_resync
    # The group; the other four members' etags in one batch; c3 read in full and written with
    # the current mapping (Google's copy is, as far as GroupSync knows, the old mapping's).
    assert world.requests() == [
        "contactGroups.get",
        "people.getBatchGet",
        "people.getBatchGet",
        "people.batchUpdateContacts",
    ]
    assert (run.in_sync, run.updated) == (4, 1)
    again = world.rows()["c3"]
    assert again.crm_hash == again.field_hash != "0" * 64


def test_a_repair_run_undoes_an_edit_made_in_google(world: World) -> None:
    edited = world.rows()["c4"].resource_name
    assert edited is not None
    world.user(f"contacts/{edited.removeprefix('people/')}/edit", {"names": [{"givenName": "Edited"}]})

    run = world.run(now=repair_due(world))

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.updated, run.in_sync) == (1, 4)
    assert world.requests() == [
        "contactGroups.get",
        "people.getBatchGet",
        "people.getBatchGet",
        "people.batchUpdateContacts",
    ]
    world.assert_mirrors({f"c{i}": f"Name {i}" for i in range(1, 6)})
