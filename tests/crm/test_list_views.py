"""Admin pages of the CRM: creating and renaming contact lists, and what a rename does to a sync."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.crm import services
from app.crm.models import ContactList
from app.extensions import db
from app.sync.models import RunOutcome, SyncStatus
from app.sync.services import recreate_group
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.crm.conftest import SignIn, csrf
from tests.sync.engine import World, person

BAD_NAMES = [
    ("", "List name is required"),
    ("   ", "List name is required"),
    ("x" * 201, "List name is 201 characters long; at most 200 are allowed"),
    ("Bad\x07name", "List name contains a control character (U+0007) at position 3"),
]


def _lists() -> list[tuple[int, str, str]]:
    """Every list of every account as (account, CRM id, name), deleted ones included."""
    rows = db.session.scalars(select(ContactList).order_by(ContactList.id))
    return [(row.account_id, row.crm_id, row.name) for row in rows]


def _rename(client: FlaskClient, contact_list: ContactList, name: str) -> str:
    response = client.post(
        f"/admin/crm/lists/{contact_list.id}/rename",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": name},
        follow_redirects=True,
    )
    assert response.status_code == 200
    db.session.expire_all()
    return response.text


def test_an_admin_creates_a_list(factory: Factory, signed_in: SignIn, admin: Membership) -> None:
    other, _ = services.put_list(db.session, factory.account("Other").id, "l1", {"name": "Клієнти"})
    client = signed_in(admin)

    response = client.post(
        "/admin/crm/lists",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": "  Клієнти  "},
        follow_redirects=True,
    )

    assert "List &#39;Клієнти&#39; created" in response.text
    created = db.session.scalar(select(ContactList).where(ContactList.account_id == admin.account_id))
    assert created is not None
    assert created.name == "Клієнти"
    assert created.crm_id.startswith("gs-")
    assert f'data-testid="crm-list-{created.crm_id}"' in response.text
    # The CRM's API sees the new list like any other.
    assert services.get_list(db.session, admin.account_id, created.crm_id).id == created.id
    assert _lists() == [(other.account_id, "l1", "Клієнти"), (admin.account_id, created.crm_id, "Клієнти")]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_a_bad_name_creates_no_list(signed_in: SignIn, admin: Membership, name: str, message: str) -> None:
    client = signed_in(admin)
    response = client.post(
        "/admin/crm/lists",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": name},
        follow_redirects=True,
    )
    assert f"{message}; no list was created." in response.text
    assert _lists() == []


def test_an_admin_renames_a_list_and_its_members_stay(signed_in: SignIn, admin: Membership) -> None:
    services.upsert_contact(db.session, admin.account_id, "c1", {"given_name": "Ann"})
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    services.change_members(db.session, admin.account_id, "l1", {"contact_ids": ["c1"]}, add=True)
    changed_at = contact_list.content_changed_at

    page = _rename(signed_in(admin), contact_list, " Key accounts ")

    assert "&#39;Customers&#39; is now &#39;Key accounts&#39;." in page
    assert "Google groups already made from it keep their name" in page
    assert _lists() == [(admin.account_id, "l1", "Key accounts")]
    assert services.list_sizes(db.session, [contact_list.id]) == {contact_list.id: 1}
    # No member changed, so no sync is made due by the rename.
    assert contact_list.content_changed_at == changed_at


def test_renaming_to_the_same_name_changes_nothing(signed_in: SignIn, admin: Membership) -> None:
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    updated_at = contact_list.updated_at
    page = _rename(signed_in(admin), contact_list, "Customers")
    assert "&#39;Customers&#39; already has that name." in page
    assert contact_list.updated_at == updated_at


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_a_bad_name_renames_nothing(signed_in: SignIn, admin: Membership, name: str, message: str) -> None:
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    updated_at = contact_list.updated_at
    page = _rename(signed_in(admin), contact_list, name)
    assert f"{message}; &#39;Customers&#39; keeps its name." in page
    assert _lists() == [(admin.account_id, "l1", "Customers")]
    assert contact_list.updated_at == updated_at


def test_another_accounts_list_cannot_be_renamed(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    theirs, _ = services.put_list(db.session, factory.account("Other").id, "l1", {"name": "Theirs"})
    client = signed_in(admin)
    response = client.post(
        f"/admin/crm/lists/{theirs.id}/rename",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": "Mine"},
    )
    assert response.status_code == 404
    assert _lists() == [(theirs.account_id, "l1", "Theirs")]


def test_a_deleted_list_is_not_renamed_back_to_life(signed_in: SignIn, admin: Membership) -> None:
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Old"})
    services.delete_list(db.session, admin.account_id, "l1")
    client = signed_in(admin)
    response = client.post(
        f"/admin/crm/lists/{contact_list.id}/rename",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": "New"},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert contact_list.deleted_at is not None
    assert contact_list.name == "Old"


def test_members_and_reviewers_cannot_create_or_rename_lists(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    for role in (Role.MEMBER, Role.REVIEWER):
        client = signed_in(factory.member(admin.account, role))
        data = {"csrf_token": csrf(client, "/dashboard"), "name": "Mine"}
        assert client.post("/admin/crm/lists", data=data).status_code == 403
        assert client.post(f"/admin/crm/lists/{contact_list.id}/rename", data=data).status_code == 403
    assert _lists() == [(admin.account_id, "l1", "Customers")]


def test_list_forms_need_the_csrf_token(signed_in: SignIn, admin: Membership) -> None:
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    client = signed_in(admin)
    assert client.post("/admin/crm/lists", data={"name": "New"}).status_code == 400
    assert client.post(f"/admin/crm/lists/{contact_list.id}/rename", data={"name": "New"}).status_code == 400
    assert _lists() == [(admin.account_id, "l1", "Customers")]


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def test_renaming_a_synced_list_keeps_its_group_and_names_only_new_groups(
    world: World, factory: Factory, signed_in: SignIn
) -> None:
    world.upsert(person("c1", "Ann"))
    first = world.run()
    assert first is not None
    assert first.outcome is RunOutcome.OK, first.message
    group = world.group

    _rename(signed_in(factory.member(world.account, Role.ADMIN)), world.list, "Key accounts")
    world.upsert(person("c2", "Ben"))
    after = world.run()

    assert after is not None
    assert after.outcome is RunOutcome.OK, after.message
    assert world.group == group
    assert world.reload().group_name == "Acme CRM · Customers"
    world.assert_mirrors({"c1": "Ann", "c2": "Ben"})

    # A group made after the rename (here: recreated after the user deleted it) takes the new name.
    world.user(f"groups/{group.removeprefix('contactGroups/')}/delete", {"deleteContacts": False})
    stopped = world.run()
    assert stopped is not None
    assert world.reload().status is SyncStatus.GROUP_DELETED_BY_USER
    recreate_group(db.session, world.sync)
    recreated = world.run()
    assert recreated is not None
    assert recreated.outcome is RunOutcome.OK, recreated.message
    assert world.group != group
    assert world.reload().group_name == "Acme CRM · Key accounts"
