"""``groupsync accounts`` and ``groupsync crm`` commands an operator scripts an account with."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from app.accounts.models import Invitation, Role
from app.crm import services
from app.crm.models import ApiKey, ListAccess
from app.extensions import db
from tests.conftest import Factory


def run(app: Flask, *args: object) -> list[dict[str, object]]:
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line]


def test_members_invitations_and_roles(app: Flask, factory: Factory) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN, email="ada@example.com")
    member = factory.member(account, Role.MEMBER, email="bob@example.com")

    assert [m["email"] for m in run(app, "accounts", "members", "--account", account.id)] == [
        "ada@example.com",
        "bob@example.com",
    ]
    (invited,) = run(
        app, "accounts", "invite", "--account", account.id, "--email", "C@example.com", "--role", "member"
    )
    assert invited["email"] == "c@example.com"
    assert db.session.scalar(select(Invitation.invited_by_user_id)) is None
    assert [i["email"] for i in run(app, "accounts", "invitations", "--account", account.id)] == [
        "c@example.com"
    ]
    (changed,) = run(
        app, "accounts", "set-role", "--account", account.id, "--member", member.id, "--role", "admin"
    )
    assert changed["role"] == "admin"
    refused = app.test_cli_runner().invoke(
        args=[
            "accounts",
            "set-role",
            "--account",
            str(account.id),
            "--member",
            str(admin.id + 999),
            "--role",
            "admin",
        ]
    )
    assert refused.exit_code == 1
    assert "--member: the account has no member" in refused.output


def test_list_availability_keys_and_syncs(app: Flask, factory: Factory) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    services.put_list(db.session, account.id, "l1", {"name": "Customers"})

    (granted,) = run(app, "crm", "grant", "--account", account.id, "--list", "l1", "--member", member.id)
    assert granted["status"] == "added"
    (withdrawn,) = run(app, "crm", "withdraw", "--account", account.id, "--list", "l1", "--member", member.id)
    assert withdrawn["status"] == "removed"
    assert db.session.scalar(select(ListAccess.revoked_by)) == "system"

    (created,) = run(app, "crm", "api-keys", "create", "--account", account.id, "--name", "CRM")
    secret = str(created["secret"])
    assert services.authenticate_api_key(db.session, secret) is not None
    listed = run(app, "crm", "api-keys", "list", "--account", account.id)
    assert [k["name"] for k in listed] == ["CRM"]
    assert secret not in json.dumps(listed)
    key_id = listed[0]["id"]
    run(app, "crm", "api-keys", "revoke", "--account", account.id, "--key", key_id)
    db.session.expire_all()
    assert db.session.get_one(ApiKey, key_id).revoked_at is not None
    assert run(app, "crm", "syncs", "--account", account.id) == []
