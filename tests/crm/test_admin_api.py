"""The admin API: what the admin pages do, for a key an admin created, and nothing for any other key."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app.accounts.models import Invitation, Membership, Role
from app.crm import services
from app.crm.models import ApiKey, ListAccess
from app.extensions import db
from app.sync.models import ContactSync
from tests.conftest import Factory
from tests.crm.conftest import Api


def admin_api(app: Flask, admin: Membership) -> Api:
    _, secret = services.create_api_key(db.session, admin.account_id, "admin script", admin.user_id)
    return Api(app.test_client(), admin.account, secret)


def test_only_a_key_an_admin_created_reaches_the_admin_operations(
    app: Flask, factory: Factory, api: Api
) -> None:
    member = factory.member(api.account, Role.MEMBER)
    _, members_key = services.create_api_key(db.session, api.account.id, "m", member.user_id)
    for secret in (api.secret, members_key):
        response = Api(app.test_client(), api.account, secret).get("/admin/members")
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
    # The same keys still reach the CRM operations.
    assert api.get("/contacts").status_code == 200
    admin = factory.member(api.account, Role.ADMIN)
    script = admin_api(app, admin)
    assert script.get("/admin/members").status_code == 200
    # Demoted, the admin's key loses the admin operations at once.
    admin.role = Role.MEMBER
    db.session.commit()
    assert script.get("/admin/members").status_code == 403


def test_members_and_invitations(app: Flask, factory: Factory) -> None:
    account = factory.account("Acme")
    admin = factory.member(account, Role.ADMIN, email="ada@example.com")
    member = factory.member(account, Role.MEMBER, email="bob@example.com")
    script = admin_api(app, admin)

    members = script.get("/admin/members").get_json()["members"]
    assert [(m["email"], m["role"]) for m in members] == [
        ("ada@example.com", "admin"),
        ("bob@example.com", "member"),
    ]

    invited = script.post("/admin/invitations", {"email": "Carol@Example.com", "role": "reviewer"})
    assert invited.status_code == 201
    assert invited.get_json()["email"] == "carol@example.com"
    assert (
        script.post("/admin/invitations", {"email": "bob@example.com", "role": "member"}).status_code == 422
    )
    assert script.post("/admin/invitations", {"email": "x@example.com", "role": "boss"}).status_code == 422
    listed = script.get("/admin/invitations").get_json()["invitations"]
    assert [i["email"] for i in listed] == ["carol@example.com"]
    assert script.delete(f"/admin/invitations/{listed[0]['id']}").status_code == 200
    assert db.session.scalar(select(Invitation)) is None

    assert script.put(f"/admin/members/{member.id}/role", {"role": "admin"}).get_json()["role"] == "admin"
    # Another account's member is not found.
    stranger = factory.member(factory.account("Zeta"), Role.MEMBER)
    assert script.put(f"/admin/members/{stranger.id}/role", {"role": "admin"}).status_code == 404


def test_list_availability_api_keys_and_sync_status(app: Flask, factory: Factory) -> None:
    account = factory.account("Acme")
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    reviewer = factory.member(account, Role.REVIEWER)
    script = admin_api(app, admin)
    assert script.put("/lists/l1", {"name": "Customers"}).status_code == 201

    granted = script.put(f"/admin/lists/l1/access/{member.id}", None)
    assert granted.get_json()["status"] == "added"
    assert script.put(f"/admin/lists/l1/access/{member.id}", None).get_json()["status"] == "unchanged"
    assert script.put(f"/admin/lists/l1/access/{reviewer.id}", None).status_code == 422
    access = script.get("/admin/lists/l1/access").get_json()["members"]
    assert [m["id"] for m in access] == [member.id]
    assert script.delete(f"/admin/lists/l1/access/{member.id}").get_json()["status"] == "removed"
    assert db.session.scalar(select(ListAccess.revoked_by)) is not None
    assert script.get("/admin/lists/nope/access").status_code == 404

    created = script.post("/admin/api-keys", {"name": "CRM"})
    assert created.status_code == 201
    secret = created.get_json()["secret"]
    key_id = created.get_json()["api_key"]["id"]
    assert Api(app.test_client(), account, secret).get("/contacts").status_code == 200
    names = [k["name"] for k in script.get("/admin/api-keys").get_json()["api_keys"]]
    assert sorted(names) == ["CRM", "admin script"]
    assert script.delete(f"/admin/api-keys/{key_id}").get_json()["revoked_at"] is not None
    assert Api(app.test_client(), account, secret).get("/contacts").status_code == 401
    assert db.session.get_one(ApiKey, key_id).revoked_at is not None

    assert script.get("/admin/syncs").get_json() == {"syncs": []}
    assert db.session.scalar(select(ContactSync)) is None
