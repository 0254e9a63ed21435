"""The "contacts in this sync" pages: the member's own, the admin's (a recorded human view), search, pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership, Role
from app.crm.values import TypedValue
from app.extensions import db
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.ledger.helpers import give_reason
from tests.sync.engine import World, person

SignedIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, signed_in: SignedIn) -> World:
    return World(app, google, factory, signed_in)


def test_member_sees_each_contact_with_its_state_and_searches(world: World, signed_in: SignedIn) -> None:
    world.upsert(
        person("c1", "Ann", emails=(TypedValue("ann@example.test", "work"),)),
        person("c2", "Ben"),
    )
    world.run()
    world.upsert(person("c1", "Anna", emails=(TypedValue("ann@example.test", "work"),)))
    world.leave_list("c2")
    world.run()
    client = signed_in(world.member)
    page = f"/syncs/{world.sync.id}/contacts"

    shown = client.get(page)
    found = client.get(page, query_string={"q": "ANN@example"})
    none = client.get(page, query_string={"q": "nobody-here"})

    assert shown.status_code == 200
    assert "Anna Test" in shown.text
    assert "updated in this run" in shown.text
    assert "Ben Test" in shown.text
    assert "deleted from Google in this run" in shown.text
    assert "1 of 2 contacts written" not in shown.text
    assert "2 of 2 contacts written" in shown.text
    assert "Anna Test" in found.text
    assert "Ben Test" not in found.text
    assert "No contacts match" in none.text
    # Raw stored values never reach the page.
    for raw in ("user_sync_now", "user_action", "in_sync", ">updated<", "readded"):
        assert raw not in shown.text


def test_contacts_page_in_ukrainian(world: World, signed_in: SignedIn) -> None:
    world.upsert(person("c1", "Ann"))
    world.run()
    client = signed_in(world.member)
    client.post("/language", data={"language": "uk", "csrf_token": csrf_token(client.get("/syncs").text)})

    shown = client.get(f"/syncs/{world.sync.id}/contacts")

    assert shown.status_code == 200
    assert 'lang="uk"' in shown.text
    assert "створено під час цього запуску" in shown.text
    assert "created in this run" not in shown.text


def test_pages_and_an_earlier_run(world: World, signed_in: SignedIn) -> None:
    world.upsert(*(person(f"c{i:02}", f"Name{i:02}") for i in range(55)))
    first = world.run()
    assert first is not None
    world.upsert(person("c00", "Renamed"))
    world.run()
    client = signed_in(world.member)
    page = f"/syncs/{world.sync.id}/contacts"

    one = client.get(page)
    two = client.get(page, query_string={"page": 2})
    earlier = client.get(page, query_string={"run": first.id, "q": "name01"})

    assert "Page 1 of 2" in one.text
    assert 'rel="next"' in one.text
    assert "Page 2 of 2" in two.text
    assert two.text.count('data-testid="sync-contact-c') == 5
    assert "created in this run" in earlier.text
    assert client.get(page, query_string={"run": 10_000_000}).status_code == 404


def test_history_stays_after_turning_off(world: World, signed_in: SignedIn) -> None:
    world.upsert(person("c1", "Ann"))
    world.run()
    client = signed_in(world.member)
    detail = f"/syncs/{world.sync.id}"
    client.post(f"{detail}/disable", data={"csrf_token": csrf_token(client.get(detail).text)})

    overview = client.get("/syncs")
    shown = client.get(detail)
    contacts = client.get(f"{detail}/contacts")

    assert world.reload().enabled is False
    assert f'href="{detail}"' in overview.text
    assert "This sync is off" in shown.text
    assert shown.text.count('data-testid="sync-run-row"') == 1
    assert "Ann Test" in contacts.text


def test_other_members_and_accounts_get_not_found_and_reviewers_403(
    world: World, factory: Factory, signed_in: SignedIn
) -> None:
    world.upsert(person("c1", "Ann"))
    world.run()
    page = f"/syncs/{world.sync.id}/contacts"

    assert signed_in(factory.member(world.account)).get(page).status_code == 404
    assert signed_in(factory.member(factory.account(), Role.ADMIN)).get(page).status_code == 404
    reviewer = signed_in(factory.member(world.account, Role.REVIEWER))
    assert reviewer.get(page).status_code == 403
    assert reviewer.get(f"/admin/syncs/{world.sync.id}/contacts").status_code == 403


def test_admin_sees_a_members_sync_contacts_after_giving_a_reason(
    world: World, factory: Factory, signed_in: SignedIn
) -> None:
    world.upsert(person("c1", "Ann"))
    world.run()
    admin = signed_in(factory.member(world.account, Role.ADMIN))
    page = f"/admin/syncs/{world.sync.id}/contacts"

    asked = admin.get(page)
    assert "Ann Test" not in asked.text
    give_reason(admin, page)
    shown = admin.get(page, query_string={"q": "ann"})

    assert shown.status_code == 200
    assert "Ann Test" in shown.text
    assert "created in this run" in shown.text
    # Another account's admin: not found, and no reason form first.
    stranger = signed_in(factory.member(factory.account(), Role.ADMIN))
    assert stranger.get(page).status_code == 404
    # The admin's own sync page (member route) still shows only the admin's own syncs.
    assert admin.get(f"/syncs/{world.sync.id}/contacts").status_code == 404


def test_status_json_counts_contacts(world: World, signed_in: SignedIn) -> None:
    world.upsert(*(person(f"c{i}") for i in range(3)))
    world.run()

    status = signed_in(world.member).get(f"/syncs/{world.sync.id}/status").get_json()

    assert status["latest_run"]["contacts"] == {"done": 3, "total": 3, "seconds_left": None}
    assert status["latest_run"]["progress"] == {"done": 1, "total": 1}
    db.session.expire_all()
