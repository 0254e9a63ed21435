"""The sync engine end to end against the emulator, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.crm.values import Birthday, Messenger, PostalAddress, TypedValue
from app.emulator.hooks import HooksClient
from app.sync.models import RunOutcome, SyncStatus
from tests.conftest import Factory
from tests.sync.engine import World, person


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
    assert world.requests() == [
        "contactGroups.create",
        "people.connections.list",
        "people.batchCreateContacts",
    ]
    world.assert_mirrors({"c1": "Олена", "c2": "Bob", "c3": "Carol"})
    sync = world.reload()
    assert sync.group_name == "Acme CRM · Customers"
    assert sync.status is SyncStatus.OK
    assert sync.sync_token
    (olena,) = world.by_crm_id()["c1"]
    assert olena["imClients"][0]["protocol"] == "telegram"
    assert olena["birthdays"][0]["date"] == {"month": 2, "day": 29}
    assert olena["organizations"][0]["title"] == "Head of Sales"

    again = world.run()

    assert again is not None
    assert again.outcome is RunOutcome.OK, again.message
    assert (again.in_sync, again.created, again.updated) == (3, 0, 0)
    assert world.requests() == ["contactGroups.get", "people.connections.list"]
    world.assert_mirrors({"c1": "Олена", "c2": "Bob", "c3": "Carol"})
