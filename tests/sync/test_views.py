"""Sync health pages, their JSON, and the controls: scoped to the member's own syncs, POST + CSRF only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership, Role
from app.extensions import db
from app.sync.models import SyncStatus
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.ledger.helpers import give_reason
from tests.sync.engine import World, person

SignedIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, signed_in: SignedIn) -> World:
    return World(app, google, factory, signed_in)


def post(client: FlaskClient, page: str, action: str, **data: object) -> int:
    token = csrf_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}).status_code


def test_member_sees_health_and_live_status_after_a_run(world: World, signed_in: SignedIn) -> None:
    world.upsert(person("c1", "Ann"), person("c2", "Ben"))
    world.run()
    client = signed_in(world.member)

    overview = client.get("/syncs")
    detail = client.get(f"/syncs/{world.sync.id}")
    status = client.get(f"/syncs/{world.sync.id}/status").get_json()

    assert overview.status_code == 200
    assert "Customers" in overview.text
    assert detail.status_code == 200
    assert "Acme CRM · Customers" in detail.text
    assert 'src="/static/sync.js"' in detail.text
    assert status["status"] == "ok"
    assert status["contacts_in_group"] == 2
    assert status["latest_run"]["counts"]["created"] == 2
    assert status["latest_run"]["progress"] == {"done": 1, "total": 1}
    assert status["running"] is False


def test_sync_now_turn_off_and_on_again(world: World, signed_in: SignedIn) -> None:
    client = signed_in(world.member)
    page = f"/syncs/{world.sync.id}"
    world.sync.next_due_at = None
    db.session.commit()

    assert post(client, page, f"/syncs/{world.sync.id}/run") == 302
    assert world.reload().next_due_at is not None

    assert post(client, page, f"/syncs/{world.sync.id}/disable") == 302
    assert world.reload().enabled is False
    assert world.run() is None

    assert post(client, "/syncs", "/syncs", list_id=world.list.id) == 302
    assert world.reload().enabled is True


def test_recreate_group_and_stop_syncing_a_contact(world: World, signed_in: SignedIn) -> None:
    world.upsert(person("c1", "Ann"))
    world.run()
    rn = world.by_crm_id()["c1"][0]["resourceName"]
    world.user(f"contacts/{rn.removeprefix('people/')}/delete")
    world.run()
    client = signed_in(world.member)
    page = f"/syncs/{world.sync.id}"

    assert "Stop syncing this contact" in client.get(page).text
    assert post(client, page, f"/syncs/{world.sync.id}/contacts/c1/stop") == 302
    assert world.rows()["c1"].stop_syncing
    assert post(client, page, f"/syncs/{world.sync.id}/contacts/nope/stop") == 404

    world.sync.status = SyncStatus.GROUP_DELETED_BY_USER
    db.session.commit()
    assert "Recreate the group" in client.get(page).text
    assert post(client, page, f"/syncs/{world.sync.id}/recreate-group") == 302
    assert world.reload().status is SyncStatus.NEW
    assert world.reload().group_resource_name is None


def test_admin_confirms_a_held_mass_delete(world: World, factory: Factory, signed_in: SignedIn) -> None:
    admin = factory.member(world.account, Role.ADMIN)
    world.sync.status = SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION
    db.session.commit()
    client = signed_in(admin)

    give_reason(client, "/admin/syncs")  # the page shows members' sync health: a recorded human view
    page = client.get("/admin/syncs").text
    assert "Confirm the deletions" in page
    # Members and lists in words, not database ids.
    member = world.member.user
    assert f"{member.name}<br><small>{member.email}</small>" in page
    assert f'data-label="List">{world.list.name}</td>' in page
    assert post(client, "/admin/syncs", f"/admin/syncs/{world.sync.id}/confirm-mass-delete") == 302
    assert world.reload().mass_delete_confirmed is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/syncs/{id}"),
        ("GET", "/syncs/{id}/status"),
        ("POST", "/syncs/{id}/run"),
        ("POST", "/syncs/{id}/disable"),
        ("POST", "/syncs/{id}/recreate-group"),
        ("POST", "/syncs/{id}/contacts/c1/stop"),
    ],
)
def test_another_members_or_accounts_sync_is_not_found(
    world: World, factory: Factory, signed_in: SignedIn, method: str, path: str
) -> None:
    colleague = factory.member(world.account)
    stranger = factory.member(factory.account(), Role.ADMIN)
    url = path.format(id=world.sync.id)
    before = (world.reload().enabled, world.sync.next_due_at, world.sync.status)

    for who in (colleague, stranger):
        client = signed_in(who)
        data = {"csrf_token": csrf_token(client.get("/syncs").text)} if method == "POST" else None
        assert client.open(url, method=method, data=data).status_code == 404

    assert (world.reload().enabled, world.sync.next_due_at, world.sync.status) == before


def test_reviewers_cannot_see_or_change_syncs(world: World, factory: Factory, signed_in: SignedIn) -> None:
    client = signed_in(factory.member(world.account, Role.REVIEWER))
    assert client.get("/syncs").status_code == 403
    assert client.get(f"/syncs/{world.sync.id}/status").status_code == 403
    assert client.get("/admin/syncs").status_code == 403
