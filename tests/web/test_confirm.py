"""Destructive actions ask on one shared page, in numbers, and act only on its confirmed POST.

A one-click POST without ``confirmed=yes`` (an old page's button, a forged form) is redirected
to the question and changes nothing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.crm import services as crm
from app.crm.models import ApiKey, ContactList, ListAccess
from app.extensions import db
from app.google.models import ConnectionStatus, GoogleConnection
from app.sync.models import ContactSync, SyncedContact
from app.sync.planner import RowState
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client


@dataclass
class Shop:
    admin: Membership
    member: Membership
    contact_list: ContactList
    connection: GoogleConnection
    key: ApiKey

    def client(self, app: Flask, membership: Membership) -> FlaskClient:
        return sign_in_client(app, membership)


@pytest.fixture
def shop(app: Flask, factory: Factory) -> Shop:
    """A list of 3 contacts, available to a member whose Google account holds all 3 through GroupSync."""
    account = factory.account("Shop")
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER, email="olena@shop.example")
    for n in range(3):
        crm.upsert_contact(db.session, account.id, f"c{n}", {"given_name": f"Person {n}"})
    contact_list, _ = crm.put_list(db.session, account.id, "l1", {"name": "Customers"})
    crm.change_members(db.session, account.id, "l1", {"contact_ids": ["c0", "c1", "c2"]}, add=True)
    crm.grant_access(db.session, contact_list, member, "test")
    connection = GoogleConnection(
        account_id=account.id,
        user_id=member.user_id,
        email="olena@gmail.example",
        status=ConnectionStatus.CONNECTED,
    )
    db.session.add(connection)
    db.session.flush()
    sync = ContactSync(
        account_id=account.id, membership_id=member.id, list_id=contact_list.id, connection_id=connection.id
    )
    db.session.add(sync)
    db.session.flush()
    for n in range(3):
        db.session.add(
            SyncedContact(
                sync_id=sync.id, crm_id=f"c{n}", state=RowState.SYNCED, resource_name=f"people/c{n}"
            )
        )
    db.session.commit()
    key, _secret = crm.create_api_key(db.session, account.id, "Zapier", None)
    return Shop(admin, member, contact_list, connection, key)


def _text(client: FlaskClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return html.unescape(page.get_data(as_text=True))


def _unconfirmed(client: FlaskClient, url: str) -> None:
    answer = client.post(url, data={"csrf_token": csrf_token(client, "/dashboard")})
    assert answer.status_code == 303
    assert answer.headers["Location"] == url


def _confirmed(client: FlaskClient, url: str, **extra: str) -> str:
    answer = client.post(
        url, data={"csrf_token": csrf_token(client, "/dashboard"), "confirmed": "yes", **extra}
    )
    assert answer.status_code in {302, 303}, answer.status_code
    return str(answer.headers["Location"])


def test_withdrawing_a_list_says_how_many_contacts_leave_whose_google_account(app: Flask, shop: Shop) -> None:
    client = shop.client(app, shop.admin)
    url = f"/admin/crm/lists/{shop.contact_list.id}/access/{shop.member.id}/withdraw"
    assert f'href="{url}"' in _text(client, "/admin/crm")

    page = _text(client, url)
    assert "The list has 3 contacts." in page
    assert "3 contacts leave GroupSync's group in 1 member's Google account (olena@shop.example)" in page
    assert 'class="danger solid"' in page

    _unconfirmed(client, url)
    assert crm.lists_available_to(db.session, shop.member) == [shop.contact_list]
    assert _confirmed(client, url) == "/admin/crm"
    assert crm.lists_available_to(db.session, shop.member) == []
    assert db.session.scalar(select(ListAccess.revoked_at)) is not None


def test_removing_a_member_says_what_leaves_their_google_account(app: Flask, shop: Shop) -> None:
    client = shop.client(app, shop.admin)
    url = f"/account/members/{shop.member.id}/remove"
    assert f'href="{url}"' in _text(client, "/account/members")

    page = _text(client, url)
    assert "olena@shop.example loses 1 list sync." in page
    assert "removes 3 contacts it put there from its groups in 1 member's Google account" in page

    _unconfirmed(client, url)
    db.session.expire_all()
    assert db.session.get(Membership, shop.member.id) is not None


def test_revoking_an_api_key_asks_first(app: Flask, shop: Shop) -> None:
    client = shop.client(app, shop.admin)
    url = f"/admin/crm/api-keys/{shop.key.id}/revoke"
    assert f'href="{url}"' in _text(client, "/admin/crm/api-keys")
    assert "0 contacts leave 0 members' Google accounts" in _text(client, url)

    _unconfirmed(client, url)
    db.session.expire_all()
    assert db.session.get_one(ApiKey, shop.key.id).revoked_at is None
    assert _confirmed(client, url) == "/admin/crm/api-keys"
    db.session.expire_all()
    assert db.session.get_one(ApiKey, shop.key.id).revoked_at is not None
    # Asking again about a revoked key only says so.
    assert client.get(url).status_code == 303


def test_disconnecting_google_says_how_many_contacts_stay(app: Flask, shop: Shop) -> None:
    client = shop.client(app, shop.member)
    page = _text(client, "/google/disconnect")
    assert "1 sync is turned off." in page
    assert "3 contacts GroupSync put in 1 Google account (yours) stay there" in page

    _unconfirmed(client, "/google/disconnect")
    db.session.expire_all()
    assert db.session.get_one(GoogleConnection, shop.connection.id).status is ConnectionStatus.CONNECTED


def test_deleting_my_data_asks_with_the_numbers_and_the_typed_address(app: Flask, shop: Shop) -> None:
    client = shop.client(app, shop.member)
    assert 'href="/privacy/my-data/delete"' in _text(client, "/privacy/my-data")
    page = _text(client, "/privacy/my-data/delete")
    assert "Your data in 1 account is deleted" in page
    assert "access to 1 Google connection is revoked" in page
    assert "3 contacts GroupSync put in your Google Contacts stay there" in page
    assert 'data-testid="confirm-typed"' in page

    _unconfirmed(client, "/privacy/my-data/delete")
    wrong = client.post(
        "/privacy/my-data/delete",
        data={"csrf_token": csrf_token(client, "/dashboard"), "confirmed": "yes", "confirmation": "nope"},
    )
    assert wrong.status_code == 400
    assert "type olena@shop.example" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Membership, shop.member.id) is not None


def test_the_question_in_ukrainian_uses_its_plural_forms(app: Flask, shop: Shop) -> None:
    shop.admin.user.language = "uk"
    db.session.commit()
    client = shop.client(app, shop.admin)
    page = _text(client, f"/admin/crm/lists/{shop.contact_list.id}/access/{shop.member.id}/withdraw")
    assert "Що станеться" in page
    assert "списку 3 контакти." in page
    assert "Відкликати список" in page
