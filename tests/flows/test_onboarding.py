"""The dashboard's getting-started checklist follows real records, links each finished step to the next,
and disappears once everything is done; a member's errors on the way link to what fixes them."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Invitation, Role
from app.crm import services as crm
from app.db import utcnow
from app.extensions import db
from app.flows import onboarding
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import ConnectionStatus, GoogleConnection
from app.sync.models import ContactSync
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client


def _steps(client: FlaskClient) -> dict[str, str]:
    page = client.get("/dashboard").get_data(as_text=True)
    return dict(re.findall(r'data-testid="step-(\w+)" data-done="(yes|no)"', page))


def test_a_new_admin_is_guided_until_everything_is_set_up(app: Flask, factory: Factory) -> None:
    account = factory.account("New Shop")
    admin = factory.member(account, Role.ADMIN)
    client = sign_in_client(app, admin)
    assert _steps(client) == {"contacts": "no", "list": "no", "share": "no", "invite": "no"}
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/admin/crm/api-keys" data-testid="do-contacts-api"' in page
    assert 'href="/admin/crm/import" data-testid="do-contacts-csv"' in page

    crm.upsert_contact(db.session, account.id, "c1", {"given_name": "Olena"})
    assert _steps(client)["contacts"] == "yes"
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/admin/crm" data-testid="next-contacts"' in page  # the finished step links to the next

    contact_list, _ = crm.put_list(db.session, account.id, "l1", {"name": "Customers"})
    member = factory.member(account, Role.MEMBER)
    assert _steps(client) == {"contacts": "yes", "list": "yes", "share": "no", "invite": "yes"}
    crm.grant_access(db.session, contact_list, member, "test")
    assert 'data-testid="onboarding"' not in client.get("/dashboard").get_data(as_text=True)


def test_an_invitation_counts_as_inviting(app: Flask, factory: Factory) -> None:
    account = factory.account()
    db.session.add(Invitation(account_id=account.id, email="new@example.test", role=Role.MEMBER))
    db.session.commit()
    assert [s.done for s in onboarding.for_admin(db.session, account.id).steps] == [False, False, False, True]


def test_a_member_connects_chooses_and_watches(app: Flask, factory: Factory) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    client = sign_in_client(app, member)
    assert _steps(client) == {"connect": "no", "choose": "no", "watch": "no"}
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/google/" data-testid="do-connect"' in page

    connection = GoogleConnection(
        account_id=account.id,
        user_id=member.user_id,
        email="m@gmail.example",
        status=ConnectionStatus.CONNECTED,
        granted_scopes=CONTACTS_SCOPE,
        refresh_token_ciphertext=b"sealed",  # never read here: only its presence makes the connection usable
    )
    db.session.add(connection)
    db.session.commit()
    assert _steps(client)["connect"] == "yes"
    page = html.unescape(client.get("/dashboard").get_data(as_text=True))
    assert "ask an admin of your account to make one available to you" in page

    contact_list, _ = crm.put_list(db.session, account.id, "l1", {"name": "Customers"})
    crm.grant_access(db.session, contact_list, member, "test")
    sync = ContactSync(
        account_id=account.id, membership_id=member.id, list_id=contact_list.id, connection_id=connection.id
    )
    db.session.add(sync)
    db.session.commit()
    assert _steps(client) == {"connect": "yes", "choose": "yes", "watch": "no"}
    assert f'href="/syncs/{sync.id}" data-testid="do-watch"' in client.get("/dashboard").get_data(
        as_text=True
    )

    sync.last_success_at = utcnow()
    db.session.commit()
    assert _steps(client) == {}


def test_a_reviewer_has_no_checklist(app: Flask, factory: Factory) -> None:
    reviewer = factory.member(factory.account(), Role.REVIEWER)
    assert _steps(sign_in_client(app, reviewer)) == {}


def test_turning_a_list_on_before_connecting_google_links_to_the_connect_page(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    contact_list, _ = crm.put_list(db.session, account.id, "l1", {"name": "Customers"})
    crm.grant_access(db.session, contact_list, member, "test")
    client = sign_in_client(app, member)

    answer = client.post(
        "/syncs",
        data={"csrf_token": csrf_token(client, "/syncs"), "list_id": str(contact_list.id)},
        follow_redirects=True,
    )

    page = html.unescape(answer.get_data(as_text=True))
    assert "connect your Google account first" in page
    assert '<a href="/google/">Connect Google</a>' in page
