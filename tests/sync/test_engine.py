"""The sync engine end to end against the emulator, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.crm.values import Birthday, Messenger, PostalAddress, TypedValue
from app.extensions import shown_message
from app.sync.models import RunOutcome, SyncStatus
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.sync.engine import World, person, repair_due


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def test_initial_sync_fills_a_new_group_with_the_minimum_of_requests(world: World) -> None:
    full = person(
        "c1",
        "Олена",
        job_title="Head of Sales",
        company="Acme",
        emails=(TypedValue("olena@example.test", "work"),),
        phones=(TypedValue("+380441234567", "mobile"),),
        birthday=Birthday(month=2, day=29),
        notes="Met at the fair.",
        addresses=(PostalAddress(type="work", city="Kyiv", country_code="UA"),),
        messengers=(Messenger("telegram", "olena_k"),),
        urls=(TypedValue("https://example.test/olena", "profile"),),
    )
    world.upsert(full, person("c2", "Bob"), person("c3", "Carol"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.created, run.updated, run.deleted, run.failed) == (3, 0, 0, 0)
    # The group, the account's size (Google's contact limit), one batch of creates.
    assert world.requests() == [
        "contactGroups.create",
        "contactGroups.get",
        "people.batchCreateContacts",
    ]
    world.assert_mirrors({"c1": "Олена", "c2": "Bob", "c3": "Carol"})
    sync = world.reload()
    assert sync.group_name == "Acme CRM · Customers"
    assert sync.status is SyncStatus.OK
    (olena,) = world.by_crm_id()["c1"]
    assert olena["imClients"][0]["protocol"] == "telegram"
    assert olena["birthdays"][0]["date"] == {"month": 2, "day": 29}
    assert olena["organizations"][0]["title"] == "Head of Sales"

    again = world.run()

    assert again is not None
    assert again.outcome is RunOutcome.OK, again.message
    assert (again.in_sync, again.created, again.updated) == (3, 0, 0)
    assert world.requests() == ["contactGroups.get"]
    world.assert_mirrors({"c1": "Олена", "c2": "Bob", "c3": "Carol"})


def _synced(world: World, *contacts: object) -> None:
    world.upsert(*contacts)  # type: ignore[arg-type]
    run = world.run()
    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message


def test_incremental_sync_writes_only_what_changed_in_the_crm(world: World) -> None:
    _synced(world, *(person(f"c{i}", f"N{i}") for i in range(6)))
    world.upsert(person("c1", "Renamed"), person("c9", "New"))
    world.leave_list("c2")
    world.delete_in_crm("c3")

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.created, run.updated, run.deleted, run.in_sync) == (1, 1, 2, 3)
    assert world.requests() == [
        "contactGroups.get",
        # Only the contacts changed in the CRM or leaving the list are read.
        "people.getBatchGet",
        # The account's size, for Google's contact limit: creates follow.
        "contactGroups.get",
        # Deletes first: they make room for the creates.
        "people.batchDeleteContacts",
        "people.batchCreateContacts",
        "people.batchUpdateContacts",
    ]
    (batch_get,) = [e for e in world.google.log(world.mark) if e["method"] == "people.getBatchGet"]
    assert len(batch_get["contacts_touched"]) == 3
    world.assert_mirrors({"c0": "N0", "c1": "Renamed", "c4": "N4", "c5": "N5", "c9": "New"})
    assert set(world.rows()) == {"c0", "c1", "c4", "c5", "c9"}


def test_contact_the_user_also_keeps_in_an_own_group_only_leaves_groupsyncs_group(world: World) -> None:
    _synced(world, person("c1", "Kept"), person("c2", "Gone"))
    kept = world.by_crm_id()["c1"][0]["resourceName"]
    book_club = world.personal["groups"]["Book club"].removeprefix("contactGroups/")
    world.user(f"groups/{book_club}/members", {"add": [kept]})
    world.personal_before = world.personal_part()
    world.leave_list("c1", "c2")

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert (run.released, run.deleted) == (1, 1)
    world.assert_mirrors({}, released=frozenset({"c1"}))
    contact = world.snapshot()["contacts"][kept]
    assert contact["memberships"] == [f"contactGroups/{book_club}"]
    assert contact["fields"]["names"][0]["givenName"] == "Kept"


def test_a_group_renamed_by_the_user_keeps_being_synced(world: World) -> None:
    _synced(world, person("c1", "Ann"))
    gid = world.group.removeprefix("contactGroups/")
    world.user(f"groups/{gid}/rename", {"name": "My customers"})
    world.upsert(person("c2", "Ben"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert world.reload().group_name == "My customers"
    assert world.group == f"contactGroups/{gid}"
    world.assert_mirrors({"c1": "Ann", "c2": "Ben"})


@pytest.mark.parametrize("delete_contacts", [False, True])
def test_a_group_deleted_by_the_user_stops_the_sync_until_recreated(
    world: World, delete_contacts: bool
) -> None:
    _synced(world, person("c1", "Ann"), person("c2", "Ben"))
    old = world.group
    world.user(f"groups/{old.removeprefix('contactGroups/')}/delete", {"deleteContacts": delete_contacts})
    world.personal_before = world.personal_part()

    stopped = world.run()

    assert stopped is not None
    assert stopped.outcome is RunOutcome.FAILED
    sync = world.reload()
    assert sync.status is SyncStatus.GROUP_DELETED_BY_USER
    assert "Recreate" in shown_message(sync.status_detail)
    assert world.requests() == ["contactGroups.get"]
    assert world.run() is None
    assert world.requests() == []

    from app.extensions import db
    from app.sync.services import recreate_group

    recreate_group(db.session, sync)
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert world.group != old
    world.assert_mirrors({"c1": "Ann", "c2": "Ben"})
    if delete_contacts:
        assert run.recreated == 2
    else:
        assert run.readded == 2


def test_user_edits_are_repaired_and_deleted_contacts_recreated_and_flagged(world: World) -> None:
    _synced(world, person("c1", "Ann"), person("c2", "Ben"), person("c3", "Cy"))
    found = world.by_crm_id()
    edited = found["c1"][0]["resourceName"].removeprefix("people/")
    world.user(f"contacts/{edited}/edit", {"names": [{"givenName": "Annie"}], "photos": []})
    world.user(f"contacts/{found['c2'][0]['resourceName'].removeprefix('people/')}/delete")

    cheap = world.run()

    assert cheap is not None
    assert cheap.outcome is RunOutcome.OK, cheap.message
    # Nothing changed in the CRM, but the group's count fell: its members are read. Gone from
    # the group: put back without reading it; Google names it deleted, so it is re-created.
    assert world.requests() == [
        "contactGroups.get",
        "contactGroups.get",
        "contactGroups.members.modify",
        "contactGroups.get",
        "people.batchCreateContacts",
    ]
    assert (cheap.updated, cheap.recreated, cheap.created) == (0, 1, 0)

    run = world.run(now=repair_due(world))

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.full_resync
    # The repair run compares every member's etag; only those Google changed are read in full.
    assert world.requests() == [
        "contactGroups.get",
        "people.getBatchGet",
        "people.getBatchGet",
        "people.batchUpdateContacts",
    ]
    glance, full = [e for e in world.google.log(world.mark) if e["method"] == "people.getBatchGet"]
    # All three compared; only the edited one read in full.
    assert (len(glance["contacts_touched"]), len(full["contacts_touched"])) == (3, 1)
    assert (run.updated, run.recreated, run.created) == (1, 0, 0)
    world.assert_mirrors({"c1": "Ann", "c2": "Ben", "c3": "Cy"})
    assert world.rows()["c2"].deleted_in_google_at is not None
    assert world.rows()["c1"].deleted_in_google_at is None

    from app.extensions import db
    from app.sync.services import stop_syncing_contact

    assert stop_syncing_contact(db.session, world.sync, "c2")
    world.user(f"contacts/{world.by_crm_id()['c2'][0]['resourceName'].removeprefix('people/')}/delete")
    after = world.run()

    assert after is not None
    assert after.outcome is RunOutcome.OK, after.message
    assert after.recreated == 0
    world.assert_mirrors({"c1": "Ann", "c3": "Cy"})


def test_edits_outside_owned_fields_survive_and_cost_no_write(world: World) -> None:
    _synced(world, person("c1", "Ann"))
    rn = world.by_crm_id()["c1"][0]["resourceName"]
    world.user(
        f"contacts/{rn.removeprefix('people/')}/edit", {"userDefined": [{"key": "shoe", "value": "42"}]}
    )
    world.upsert(person("c1", "Anna"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    (contact,) = world.by_crm_id()["c1"]
    assert contact["names"][0]["givenName"] == "Anna"
    assert world.snapshot()["contacts"][rn]["fields"]["userDefined"] == [{"key": "shoe", "value": "42"}]


def test_a_contact_taken_out_of_the_group_is_put_back(world: World) -> None:
    _synced(world, person("c1", "Ann"))
    rn = world.by_crm_id()["c1"][0]["resourceName"]
    # Google keeps a contact in at least one group: the user files it under "My Contacts" first.
    world.user("groups/myContacts/members", {"add": [rn]})
    world.user(f"groups/{world.group.removeprefix('contactGroups/')}/members", {"remove": [rn]})
    world.personal_before = world.personal_part()

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.readded == 1
    world.assert_mirrors({"c1": "Ann"})


def test_mass_delete_guard_waits_for_an_admin(world: World) -> None:
    _synced(world, *(person(f"c{i}") for i in range(60)))
    world.leave_list(*(f"c{i}" for i in range(55)))

    blocked = world.run()

    assert blocked is not None
    assert blocked.outcome is RunOutcome.BLOCKED
    sync = world.reload()
    assert sync.status is SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION
    assert "55 of the 60" in shown_message(sync.status_detail)
    assert len(world.by_crm_id()) == 60
    assert not any(m.startswith("people.batch") for m in world.requests())
    assert world.run() is None

    from app.extensions import db
    from app.sync.services import confirm_mass_delete

    confirm_mass_delete(db.session, sync)
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.deleted == 55
    world.assert_mirrors({f"c{i}": f"Contact c{i}" for i in range(55, 60)})
    assert world.reload().mass_delete_confirmed is False


def test_turned_off_sync_sends_nothing_and_resumes_without_duplicates(world: World) -> None:
    _synced(world, person("c1", "Ann"))
    from app.extensions import db
    from app.sync.services import disable_sync, enable_sync

    disable_sync(db.session, world.sync, "user:1")
    world.upsert(person("c2", "Ben"))
    world.leave_list("c1")

    assert world.run() is None
    assert world.requests() == []
    world.assert_mirrors({"c1": "Ann"})

    enable_sync(db.session, world.member, world.list.id)
    world.upsert(person("c1", "Ann"))
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    world.assert_mirrors({"c1": "Ann", "c2": "Ben"})


def test_a_repair_run_without_changes_only_reads_the_group(world: World) -> None:
    _synced(world, *(person(f"c{i}", f"N{i}") for i in range(250)))

    run = world.run(now=repair_due(world))

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.full_resync
    assert world.requests() == ["contactGroups.get", "people.getBatchGet", "people.getBatchGet"]
    world.assert_mirrors({f"c{i}": f"N{i}" for i in range(250)})


def test_values_google_cannot_take_are_reported_on_the_mapping_and_the_run(world: World) -> None:
    world.upsert(person("c1", "Ann", birthday=Birthday(month=2, day=30)), person("c2", "Ben"))

    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.not_carried == 1
    assert world.rows()["c1"].not_carried == [{"field": "birthday", "reason": "not a valid calendar date"}]
    assert world.rows()["c2"].not_carried == []
    assert "birthdays" not in world.by_crm_id()["c1"][0]


def test_a_repair_run_once_per_repair_interval(world: World) -> None:
    _synced(world, person("c1", "Ann"))
    assert world.run().full_resync is False  # type: ignore[union-attr]

    due = repair_due(world)
    run = world.run(now=due)

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.full_resync
    assert world.reload().last_full_sync_at == due()
    world.assert_mirrors({"c1": "Ann"})
