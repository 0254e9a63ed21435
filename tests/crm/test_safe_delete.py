"""Deleting a contact on the admin page: a confirmation saying what will happen, a redirect, a receipt,
and an undo that works until the next sync interval, during which the sync still holds the contact."""

from __future__ import annotations

import html
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.crm import services
from app.crm.models import CrmContact
from app.extensions import db
from app.google.models import GoogleConnection
from app.sync.loaders import ListSource
from app.sync.models import ContactSync
from tests.conftest import Factory
from tests.crm.conftest import SignIn, csrf


def _synced_contact(factory: Factory, admin: Membership) -> tuple[CrmContact, ContactSync]:
    account_id = admin.account_id
    services.upsert_contact(db.session, account_id, "c1", {"given_name": "Олена"})
    contact_list, _ = services.put_list(db.session, account_id, "l1", {"name": "Customers"})
    services.change_members(db.session, account_id, "l1", {"contact_ids": ["c1"]}, add=True)
    syncs = []
    for membership in (admin, factory.member(admin.account, Role.MEMBER)):
        services.grant_access(db.session, contact_list, membership, "test")
        connection = GoogleConnection(
            account_id=account_id, user_id=membership.user_id, email=f"{membership.id}@gmail.example.com"
        )
        db.session.add(connection)
        db.session.flush()
        sync = ContactSync(
            account_id=account_id,
            membership_id=membership.id,
            list_id=contact_list.id,
            connection_id=connection.id,
        )
        db.session.add(sync)
        syncs.append(sync)
    db.session.commit()
    contact = db.session.scalar(select(CrmContact).where(CrmContact.crm_id == "c1"))
    assert contact is not None
    return contact, syncs[0]


def test_the_confirmation_says_how_many_google_accounts_lose_the_contact(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    contact, _ = _synced_contact(factory, admin)
    client = signed_in(admin)

    listing = client.get("/admin/crm/contacts").text
    assert f'href="/admin/crm/contacts/{contact.id}/delete' in listing
    assert "button danger" in listing
    page = client.get(f"/admin/crm/contacts/{contact.id}/delete")

    assert page.status_code == 200
    assert "Олена is in 1 list: Customers." in page.text
    assert "in 2 members' Google accounts" in html.unescape(page.text)
    assert 'class="danger solid"' in page.text
    assert 'name="confirmed" value="yes"' in page.text
    db.session.expire_all()
    assert not contact.deleted  # showing the question deletes nothing


def test_a_one_click_post_without_the_confirmation_only_asks(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    contact, _ = _synced_contact(factory, admin)
    client = signed_in(admin)

    asked = client.post(
        f"/admin/crm/contacts/{contact.id}/delete", data={"csrf_token": csrf(client, "/admin/crm/contacts")}
    )

    assert asked.status_code == 303
    assert asked.headers["Location"].endswith(f"/admin/crm/contacts/{contact.id}/delete")
    db.session.expire_all()
    assert not contact.deleted


def test_delete_redirects_to_a_receipt_and_undo_brings_it_back(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    contact, sync = _synced_contact(factory, admin)
    client = signed_in(admin)
    token = csrf(client, "/admin/crm/contacts")

    deleted = client.post(
        f"/admin/crm/contacts/{contact.id}/delete", data={"csrf_token": token, "confirmed": "yes"}
    )

    assert deleted.status_code == 303
    assert deleted.headers["Location"].endswith(f"/admin/crm/contacts/{contact.id}/deleted")
    receipt = client.get(f"/admin/crm/contacts/{contact.id}/deleted")
    assert "It leaves 2 Google accounts at the first sync after" in receipt.text
    assert 'data-testid="undo-delete"' in receipt.text
    db.session.expire_all()
    assert contact.deleted
    # The CRM's view is "deleted" at once, but the sync still holds it during the undo window.
    assert "crm-contact-c1" not in client.get("/admin/crm/contacts").text
    assert set(ListSource(db.session, sync).versions()) == {"c1"}

    # Sending the deletion again (reload, Back) changes nothing: it lands on the receipt.
    again = client.post(
        f"/admin/crm/contacts/{contact.id}/delete", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert again.headers["Location"].endswith(f"/admin/crm/contacts/{contact.id}/deleted")
    undone = client.post(f"/admin/crm/contacts/{contact.id}/undo", data={"csrf_token": token})
    assert undone.status_code == 302
    db.session.expire_all()
    assert not contact.deleted
    assert contact.undo_until is None
    assert "crm-contact-c1" in client.get("/admin/crm/contacts").text


def test_after_the_window_the_sync_drops_it_and_undo_is_refused(
    app: Flask, factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    contact, sync = _synced_contact(factory, admin)
    services.delete_with_undo(db.session, contact, f"user:{admin.user_id}", timedelta(minutes=15))
    assert set(ListSource(db.session, sync).versions()) == {"c1"}
    assert contact.undo_until is not None
    contact.undo_until -= timedelta(minutes=16)
    db.session.commit()

    assert ListSource(db.session, sync).versions() == {}
    client = signed_in(admin)
    refused = client.post(
        f"/admin/crm/contacts/{contact.id}/undo",
        data={"csrf_token": csrf(client, "/admin/crm/contacts")},
        follow_redirects=True,
    )
    assert "can no longer be restored here" in refused.text
    db.session.expire_all()
    assert contact.deleted
    # An API deletion has no undo window: the sync drops it at once, as before.
    services.upsert_contact(db.session, admin.account_id, "c1", {"given_name": "Олена"})
    assert set(ListSource(db.session, sync).versions()) == {"c1"}
    services.delete_contact(db.session, admin.account_id, "c1", "api_key:1")
    assert ListSource(db.session, sync).versions() == {}
