"""User data rights end to end: a connected member with a real sync downloads and deletes their data."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Invitation, Membership, Role, User
from app.extensions import db
from app.google.models import GoogleConnection
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_database
from groupsync_emulator.hooks import HooksClient
from tests.auth.flows import csrf_token
from tests.conftest import Factory
from tests.google.connecting import ADA, ADA_EMAIL, connection_of, vault_of
from tests.sync.engine import World, person

SignIn = Callable[[Membership], FlaskClient]

NAME = "Zofia Rightsholder"
EMAIL = "zofia.rightsholder@example.test"
SUB = "sign-in-sub-zofia-4711"


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, signed_in: SignIn) -> World:
    """A member with a distinctive identity, connected as Ada, whose sync put two contacts into Google."""
    world = World(app, google, factory, signed_in)
    user = world.member.user
    user.name, user.email, user.google_sub = NAME, EMAIL, SUB
    db.session.commit()
    world.upsert(person("c1", "Olena"), person("c2", "Taras"))
    run = world.run()
    assert run is not None
    assert run.outcome.value == "ok"
    return world


def _submit(client: FlaskClient, page: str, action: str, **data: str) -> Any:
    """Send the confirmation page's form (``confirmed=yes``, as only that page sends)."""
    return client.post(action, data={"csrf_token": csrf_token(client, page), "confirmed": "yes", **data})


def _receipt_page(client: FlaskClient, answer: Any) -> Any:
    """A deletion answers with a redirect to its receipt page (reload and Back are harmless)."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == "/privacy/receipt"
    page = client.get("/privacy/receipt")
    assert page.status_code == 200
    return page


def _tags(account_id: int | None, tag: EventTag) -> list[LedgerEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id, LedgerEntry.tag == tag.value)
        )
    )


def _receipt(page: str) -> dict[str, Any]:
    found = re.search(r'<pre data-testid="deletion-receipt">(.*?)</pre>', page, re.S)
    assert found is not None, "no receipt on the page"
    receipt: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    # The page reads as a receipt, not only as the JSON it offers for download.
    rows = re.search(r'<table data-testid="deletion-rows">(.*?)</table>', page, re.S)
    assert rows is not None, "no human-readable list of what was deleted"
    shown = re.findall(r'<tr><td>([^<]*)</td><td class="num">([^<]*)</td></tr>', rows.group(1))
    assert [n for _, n in shown] == [str(n) for n in receipt["rows_deleted"].values()]
    # Each kind in words, never the table's name.
    assert not [kind for kind, _ in shown if "_" in kind or kind in receipt["rows_deleted"]]
    return receipt


def test_export_holds_everything_about_the_user_and_no_token(
    app: Flask, world: World, signed_in: SignIn
) -> None:
    client = signed_in(world.member)
    assert client.get("/privacy/my-data/export").status_code == 405
    answer = _submit(client, "/privacy/my-data", "/privacy/my-data/export")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert "attachment" in answer.headers["Content-Disposition"]
    body = answer.get_data()
    document = json.loads(body)

    assert (document["profile"]["email"], document["profile"]["name"]) == (EMAIL, NAME)
    tables = document["tables"]
    assert [(m["account_id"], m["role"]) for m in tables["membership"]] == [(world.account.id, "member")]
    (connection,) = tables["google_connection"]
    assert (connection["status"], connection["email"], connection["google_sub"]) == (
        "connected",
        ADA_EMAIL,
        ADA,
    )
    assert "https://www.googleapis.com/auth/contacts" in connection["granted_scopes"]
    assert connection["connected_at"]
    assert not [key for key in connection if "token" in key or "ciphertext" in key]
    assert tables["disclosure_acceptance"][0]["version"]
    (sync,) = tables["contact_sync"]
    assert sync["group_resource_name"] == world.group
    assert "sync_token" not in sync
    mapping = {row["crm_id"]: row for row in tables["synced_contact"]}
    assert set(mapping) == {"c1", "c2"}
    assert all(
        r["resource_name"].startswith("people/") and r["etag"] and r["field_hash"] for r in mapping.values()
    )
    assert [run["created"] for run in tables["sync_run"]] == [2]
    tags = {entry["tag"] for entry in document["ledger"]}
    assert {EventTag.CONSENT_GRANTED.value, EventTag.SYNC_ENABLED.value} <= tags
    assert all(entry["user_id"] == world.member.user_id for entry in document["ledger"])

    stored = connection_of(world.member)
    assert stored is not None
    assert stored.refresh_token_ciphertext is not None
    secrets = [vault_of(app).refresh_token(stored), stored.refresh_token_ciphertext]
    for secret in secrets:
        raw = secret.encode() if isinstance(secret, str) else secret
        assert raw is not None
        for form in (raw, base64.b64encode(raw), raw.hex().encode()):
            assert form not in body

    (exported,) = _tags(world.account.id, EventTag.DATA_EXPORTED)
    assert (exported.user_id, exported.actor, exported.trigger) == (
        world.member.user_id,
        f"user:{world.member.user_id}",
        "user_action",
    )


def _personal_references(identifiers: list[str], ids: dict[str, set[int]]) -> list[str]:
    """Every place in every table that still names the person: identifier text or a reference to their rows.

    ``ids`` maps a table to the ids of the person's rows in it; a foreign key to one of them (or
    the row itself) counts. The ledger's numeric ``user_id`` is its pseudonym and is allowed.
    """
    found = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                text = json.dumps([str(v) for v in row.values()]).lower()
                found += [f"{table.name}: {i}" for i in identifiers if i.lower() in text]
                if table.name in ids and row.get("id") in ids[table.name]:
                    found.append(f"{table.name}: row {row['id']}")
                for column in table.columns:
                    for fk in column.foreign_keys:
                        if row[column.name] in ids.get(fk.column.table.name, set()):
                            found.append(f"{table.name}.{column.name} = {row[column.name]}")
    return found


def test_deleting_my_data_revokes_erases_every_trace_and_keeps_a_pseudonymous_ledger(
    app: Flask, world: World, factory: Factory, signed_in: SignIn
) -> None:
    user_id = world.member.user_id
    second, stranger = factory.account("Second Shop"), factory.account("Third Shop")
    elsewhere = Membership(account_id=second.id, user_id=user_id, role=Role.MEMBER)
    db.session.add_all(
        [
            elsewhere,
            Invitation(account_id=stranger.id, email=EMAIL, role=Role.MEMBER),
            Invitation(
                account_id=world.account.id,
                email="friend@example.test",
                role=Role.MEMBER,
                invited_by_user_id=user_id,
            ),
        ]
    )
    db.session.commit()
    client = signed_in(world.member)
    group = world.group
    mine = {
        "user": {user_id},
        "membership": {world.member.id, elsewhere.id},
        "google_connection": set(db.session.scalars(select(GoogleConnection.id))),
        "contact_sync": {world.sync.id},
    }
    identifiers = [EMAIL, NAME, SUB, ADA, ADA_EMAIL, group]
    assert _personal_references(identifiers, mine)

    refused = _submit(client, "/privacy/my-data", "/privacy/my-data/delete", confirmation="yes")
    assert refused.status_code == 400
    assert f"type {EMAIL}" in refused.text
    assert db.session.get(User, user_id) is not None

    answer = _receipt_page(
        client, _submit(client, "/privacy/my-data", "/privacy/my-data/delete", confirmation=EMAIL.upper())
    )
    assert "stay there" in answer.text
    receipt = _receipt(answer.text)
    assert receipt["person_deleted"] is True
    assert receipt["google_access_revoked"] == {str(world.account.id): "revoked"}
    rows = receipt["rows_deleted"]
    assert (rows["user"], rows["membership"], rows["synced_contact"], rows["google_connection"]) == (
        1,
        2,
        2,
        1,
    )
    assert rows["invitation"] == 1
    assert client.get("/dashboard").status_code == 302

    assert _personal_references(identifiers, mine) == []
    assert (
        db.session.scalar(
            select(Invitation.invited_by_user_id).where(Invitation.email == "friend@example.test")
        )
        is None
    )

    deleted = list(
        db.session.scalars(select(LedgerEntry).where(LedgerEntry.tag == EventTag.DATA_DELETED.value))
    )
    # One entry in each account's chain, and one installation-wide for the person themself.
    assert sorted((e.account_id or 0, e.user_id) for e in deleted) == [
        (0, user_id),
        (world.account.id, user_id),
        (second.id, user_id),
    ]
    assert {(e.chain, e.seq, e.hash) for e in deleted} == {
        (r["chain"], r["seq"], r["hash"]) for r in receipt["ledger_entries"]
    }
    assert sum(e.records for e in deleted) == sum(rows.values())
    assert [e.outcome for e in _tags(world.account.id, EventTag.CONNECTION_REVOKED)] == ["revoked"]
    assert verify_database(db.session()).ok

    # Contacts already in Google stay, and the user's own contacts are untouched.
    assert sorted(c["names"][0]["givenName"] for c in world.group_contacts(group)) == ["Olena", "Taras"]
    assert world.personal_part() == world.personal_before


def test_the_last_admin_of_an_account_cannot_delete_their_data(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account("Solo Studio")
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    answer = _submit(client, "/privacy/my-data", "/privacy/my-data/delete", confirmation=admin.user.email)
    assert answer.status_code == 409
    assert "last admin of Solo Studio" in answer.text
    assert db.session.get(User, admin.user_id) is not None
    assert _tags(account.id, EventTag.DATA_DELETED) == []


def test_an_admin_exports_and_deletes_a_members_data_in_their_account_only(
    factory: Factory, signed_in: SignIn
) -> None:
    shop, other = factory.account("Shop"), factory.account("Other")
    admin = factory.member(shop, Role.ADMIN)
    member = factory.member(shop, Role.MEMBER)
    there = Membership(account_id=other.id, user_id=member.user_id, role=Role.ADMIN)
    db.session.add(there)
    db.session.commit()
    client = signed_in(admin)
    page = f"/privacy/members/{member.id}"
    assert member.user.email in client.get(page).text

    unexplained = _submit(client, page, f"{page}/export")
    assert unexplained.status_code == 400
    assert "Choose the reason" in unexplained.text
    answer = _submit(client, page, f"{page}/export", reason="user_consent")
    assert answer.status_code == 200
    document = answer.get_json()
    assert [m["account_id"] for m in document["tables"]["membership"]] == [shop.id]
    assert [a["name"] for a in document["accounts"]] == ["Shop"]
    (view,) = _tags(shop.id, EventTag.HUMAN_VIEW)
    assert (view.actor, view.user_id, json.loads(view.detail)["reason"]) == (
        f"user:{admin.user_id}",
        member.user_id,
        "user_consent",
    )
    assert [e.actor for e in _tags(shop.id, EventTag.DATA_EXPORTED)] == [f"user:{admin.user_id}"]

    member_id, user_id, there_id = member.id, member.user_id, there.id
    answer = _receipt_page(client, _submit(client, page, f"{page}/delete", confirmation=member.user.email))
    receipt = _receipt(answer.text)
    assert receipt["person_deleted"] is False
    assert receipt["rows_deleted"] == {"membership": 1}
    db.session.expire_all()
    assert db.session.get(Membership, member_id) is None
    assert db.session.get(Membership, there_id) is not None
    assert db.session.get(User, user_id) is not None
    assert _tags(other.id, EventTag.DATA_DELETED) == []
    assert client.get("/dashboard").status_code == 200


def test_an_admin_cannot_reach_another_accounts_member(factory: Factory, signed_in: SignIn) -> None:
    admin = factory.member(factory.account(), Role.ADMIN)
    foreign = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(admin)
    assert client.get(f"/privacy/members/{foreign.id}").status_code == 404
    answer = _submit(
        client, "/dashboard", f"/privacy/members/{foreign.id}/delete", confirmation=foreign.user.email
    )
    assert answer.status_code == 404
    assert db.session.get(Membership, foreign.id) is not None


def test_an_admin_leaving_the_last_admin_seat_is_refused(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account("Lonely Admins")
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    page = f"/privacy/members/{admin.id}"
    answer = _submit(client, page, f"{page}/delete", confirmation=admin.user.email)
    assert answer.status_code == 409
    assert "make someone else admin first" in answer.text
    db.session.expire_all()
    assert db.session.get(Membership, admin.id) is not None
    assert _tags(account.id, EventTag.DATA_DELETED) == []
