"""Disconnect: revoke at Google, delete the tokens, stop every sync, keep a receipt, tell the user."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import google.auth.exceptions
import google.auth.transport.requests
import pytest
from flask import Flask
from flask.testing import FlaskClient
from google.oauth2.credentials import Credentials
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.crm.models import ContactList
from app.db import utcnow
from app.extensions import db
from app.flows.connections import disconnect
from app.flows.members import remove_member
from app.google.endpoints import GoogleEndpoints
from app.google.models import ConnectionStatus, DisconnectReceipt, GoogleConnection, StatusReason
from app.google.services import PeopleCallForbiddenError
from app.ledger.events import EventTag
from app.sync.models import ContactSync
from app.sync.services import ensure_may_call_people
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import ADA, connect, connection_of, csrf_token, ledger, settings_of, vault_of

SignedIn = Callable[[Membership], FlaskClient]


def _sync_for(membership: Membership, connection: GoogleConnection) -> ContactSync:
    contact_list = ContactList(account_id=membership.account_id, crm_id="customers", name="Customers")
    db.session.add(contact_list)
    db.session.flush()
    sync = ContactSync(
        account_id=membership.account_id,
        membership_id=membership.id,
        list_id=contact_list.id,
        connection_id=connection.id,
    )
    db.session.add(sync)
    db.session.commit()
    return sync


def _connected(member: Membership, client: FlaskClient, google: HooksClient) -> GoogleConnection:
    connect(client, google)
    connection = connection_of(member)
    assert connection is not None
    assert connection.is_usable
    return connection


def _refresh_fails_at_google(app: Flask, refresh_token: str) -> bool:
    settings = settings_of(app)
    credentials = Credentials(
        None,
        refresh_token=refresh_token,
        token_uri=GoogleEndpoints.for_settings(settings).token_uri,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
    )
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError:
        return True
    return False


def test_disconnect_revokes_deletes_stops_syncs_and_leaves_a_receipt(
    app: Flask, factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    connection = _connected(member, client, google)
    sync = _sync_for(member, connection)
    refresh_token = vault_of(app).refresh_token(connection)
    assert refresh_token is not None

    page = client.get("/google/")
    answer = client.post("/google/disconnect", data={"csrf_token": csrf_token(page.text), "confirmed": "yes"})
    assert answer.status_code == 303

    connection = connection_of(member)
    assert connection is not None
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert connection.status_reason is StatusReason.DISCONNECTED_BY_USER
    assert connection.refresh_token_ciphertext is None
    assert connection.access_token_ciphertext is None
    db.session.refresh(sync)
    assert sync.enabled is False
    with pytest.raises(PeopleCallForbiddenError):
        ensure_may_call_people(db.session(), connection)
    assert _refresh_fails_at_google(app, refresh_token)

    receipt = db.session.scalars(select(DisconnectReceipt)).one()
    assert (receipt.revoke_outcome, receipt.tokens_deleted, receipt.syncs_stopped) == ("revoked", True, 1)
    assert receipt.actor == f"user:{member.user_id}"
    entries = ledger(member.account_id)
    revoke_requests = [e for e in entries if e.method == "oauth2.revoke"]
    assert [(e.tag, e.outcome, e.destination) for e in revoke_requests] == [
        (EventTag.GOOGLE_REQUEST.value, "200", "google")
    ]
    revoked = [e for e in entries if e.tag == EventTag.CONNECTION_REVOKED.value]
    assert [e.outcome for e in revoked] == ["revoked"]
    assert '"syncs_stopped":1' in revoked[0].detail

    shown = client.get("/google/").text
    assert "Not connected." in shown
    assert "Contacts GroupSync wrote stay in your Google Contacts" in shown
    assert "delete the label" in shown
    assert "Syncs turned off: 1" in shown


def test_access_already_revoked_at_google_is_fine(
    app: Flask, factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    _connected(member, client, google)
    google.revoke_grant(ADA, settings_of(app).google_client_id)
    client.post(
        "/google/disconnect", data={"csrf_token": csrf_token(client.get("/google/").text), "confirmed": "yes"}
    )
    receipt = db.session.scalars(select(DisconnectReceipt)).one()
    assert receipt.revoke_outcome == "already_revoked"
    connection = connection_of(member)
    assert connection is not None
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert connection.refresh_token_ciphertext is None


def test_reconnecting_after_disconnect_works(
    factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    _connected(member, client, google)
    client.post(
        "/google/disconnect", data={"csrf_token": csrf_token(client.get("/google/").text), "confirmed": "yes"}
    )
    # The disclosure was accepted already: the button goes straight to Google.
    page = client.get("/google/").text
    assert 'action="/google/connect"' in page
    connection = _connected(member, client, google)
    assert connection.status is ConnectionStatus.CONNECTED
    assert connection.disconnected_at is None


def test_removing_a_member_disconnects_first(
    app: Flask, factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    account = factory.account()
    factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    connection = _connected(member, signed_in(member), google)
    refresh_token = vault_of(app).refresh_token(connection)
    assert refresh_token is not None
    user_id = member.user_id
    remove_member(db.session(), member, settings=settings_of(app), vault=vault_of(app))
    db.session.expire_all()
    connection = db.session.scalars(select(GoogleConnection).where(GoogleConnection.user_id == user_id)).one()
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert connection.status_reason is StatusReason.DISCONNECTED_BY_ADMIN
    assert connection.refresh_token_ciphertext is None
    receipt = db.session.scalars(select(DisconnectReceipt)).one()
    assert receipt.revoke_outcome == "revoked"
    assert _refresh_fails_at_google(app, refresh_token)


def test_connections_unused_for_the_retention_period_are_purged(
    app: Flask, factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    account = factory.account()
    idle, active = factory.member(account, Role.MEMBER), factory.member(account, Role.MEMBER)
    idle_connection = _connected(idle, signed_in(idle), google)
    _connected(active, signed_in(active), google)
    days = settings_of(app).retention_connection_days
    idle_connection.last_used_at = utcnow() - timedelta(days=days + 1)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["connections", "purge-unused"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 connection(s)")
    idle_after, active_after = connection_of(idle), connection_of(active)
    assert idle_after is not None
    assert active_after is not None
    assert idle_after.status is ConnectionStatus.DISCONNECTED
    assert idle_after.status_reason is StatusReason.UNUSED_TOO_LONG
    assert idle_after.refresh_token_ciphertext is None
    assert active_after.is_usable
    purged = [e for e in ledger(account.id) if e.tag == EventTag.RETENTION_PURGED.value]
    assert [(e.user_id, e.purpose) for e in purged] == [(idle.user_id, "retention")]
    again = app.test_cli_runner().invoke(args=["connections", "purge-unused"])
    assert again.output.startswith("0 connection(s)")
    assert idle_after.email
    assert idle_after.google_sub

    # As long again after the disconnect, the Google e-mail and account id are erased too.
    idle_after.disconnected_at = utcnow() - timedelta(days=days + 1)
    db.session.commit()
    erased = app.test_cli_runner().invoke(args=["connections", "purge-unused"])
    assert erased.output.startswith("1 connection(s)"), erased.output
    forgotten = connection_of(idle)
    assert forgotten is not None
    assert (forgotten.email, forgotten.google_sub) == ("", None)
    entries = [e for e in ledger(account.id) if e.tag == EventTag.RETENTION_PURGED.value]
    assert [json.loads(e.detail).get("erased") for e in entries] == [None, "email,sub"]
    assert entries[-1].google_account == entries[0].google_account is not None
    assert app.test_cli_runner().invoke(args=["connections", "purge-unused"]).output.startswith("0 ")


def test_an_admin_can_disconnect_a_member_through_the_flow(
    app: Flask, factory: Factory, signed_in: SignedIn, google: HooksClient
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    connection = _connected(member, signed_in(member), google)
    receipt = disconnect(
        db.session(),
        connection,
        f"user:{admin.user_id}",
        settings=settings_of(app),
        vault=vault_of(app),
        reason=StatusReason.DISCONNECTED_BY_ADMIN,
    )
    assert (receipt.actor, receipt.revoke_outcome) == (f"user:{admin.user_id}", "revoked")
    revoked = [e for e in ledger(account.id) if e.tag == EventTag.CONNECTION_REVOKED.value]
    assert [(e.trigger, e.actor) for e in revoked] == [("admin", f"user:{admin.user_id}")]
