"""Refreshing through the credentials source: against the emulator, and `responses` for endpoint faults."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import google.auth.transport.requests
import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.extensions import db
from app.google.credentials import ConnectionUnusableError, UserOAuthCredentialsSource
from app.google.endpoints import CONTACTS_SCOPE, GoogleEndpoints
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.google.services import PeopleCallForbiddenError
from app.google.tokens import ATTEMPTS, TokenEndpointUnavailableError
from app.ledger.events import EventTag, Purpose
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google import connecting
from tests.google.connecting import ADA, connect, connection_of, ledger, settings_of, vault_of

SignedIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def member(factory: Factory) -> Membership:
    return factory.member(factory.account(), Role.MEMBER)


@pytest.fixture
def connected(member: Membership, signed_in: SignedIn, google: HooksClient) -> GoogleConnection:
    connect(signed_in(member), google)
    connection = connection_of(member)
    assert connection is not None
    assert connection.is_usable
    return connection


def connected_membership(connection: GoogleConnection) -> Membership:
    return db.session.scalars(
        select(Membership).where(
            Membership.account_id == connection.account_id, Membership.user_id == connection.user_id
        )
    ).one()


def _source(app: Flask, sleeps: list[float] | None = None) -> UserOAuthCredentialsSource:
    waits = sleeps if sleeps is not None else []
    return UserOAuthCredentialsSource(db.session(), vault_of(app), settings_of(app), sleep=waits.append)


def _token_requests(google: HooksClient) -> list[dict[str, object]]:
    return [entry for entry in google.log() if "token" in str(entry.get("method", ""))]


def _transport() -> google.auth.transport.requests.Request:
    return google.auth.transport.requests.Request()


def test_credentials_carry_the_access_token_but_never_the_refresh_token(
    app: Flask, connected: GoogleConnection
) -> None:
    credentials = _source(app).credentials_for(connected)
    access = vault_of(app).access_token(connected)
    assert access is not None
    assert credentials.token == access.token
    assert credentials.valid
    assert credentials.refresh_token is None
    assert credentials.client_secret is None
    assert CONTACTS_SCOPE in credentials.scopes
    assert connected.last_used_at is not None


def test_refresh_goes_through_groupsync_and_is_recorded(
    app: Flask, connected: GoogleConnection, google: HooksClient
) -> None:
    credentials = _source(app).credentials_for(connected)
    before = credentials.token
    issued = len(_token_requests(google))
    credentials.refresh(_transport())
    assert credentials.token != before
    assert len(_token_requests(google)) == issued + 1
    access = vault_of(app).access_token(connected)
    assert access is not None
    assert access.token == credentials.token
    refreshes = [e for e in ledger(connected.account_id) if e.method == "oauth2.token.refresh"]
    assert [(e.tag, e.kind, e.outcome, e.purpose) for e in refreshes] == [
        (EventTag.GOOGLE_REQUEST.value, "token", "200", Purpose.CONTACT_SYNC.value)
    ]
    refreshed = [e for e in ledger(connected.account_id) if e.tag == EventTag.TOKEN_REFRESHED.value]
    assert [e.outcome for e in refreshed] == ["ok"]


@pytest.mark.parametrize("how", ["revoked_by_user", "refresh_token_expired"])
def test_invalid_grant_needs_reconnect_without_a_retry_storm(
    app: Flask, connected: GoogleConnection, google: HooksClient, signed_in: SignedIn, how: str
) -> None:
    settings = settings_of(app)
    member = connected_membership(connected)
    if how == "revoked_by_user":
        google.revoke_grant(ADA, settings.google_client_id)
    else:
        assert google.expire_refresh_tokens(ADA, settings.google_client_id) >= 1
    source = _source(app)
    credentials = source.credentials_for(connected)
    issued = len(_token_requests(google))
    with pytest.raises(ConnectionUnusableError) as failed:
        credentials.refresh(_transport())
    assert failed.value.reason is StatusReason.ACCESS_REVOKED
    assert len(_token_requests(google)) == issued + 1
    connection = connection_of(member)
    assert connection is not None
    assert connection.status is ConnectionStatus.NEEDS_RECONNECT
    assert not connection.is_usable
    assert connection.access_token_ciphertext is None
    failures = [e for e in ledger(member.account_id) if e.tag == EventTag.TOKEN_REFRESH_FAILED.value]
    assert [e.outcome for e in failures] == ["invalid_grant"]
    # From now on nothing reaches Google for this connection.
    with pytest.raises(PeopleCallForbiddenError):
        source.credentials_for(connection)
    assert len(_token_requests(google)) == issued + 1
    page = signed_in(member).get("/google/").text
    assert "Needs reconnecting" in page
    assert "Reconnect Google Contacts" in page


@pytest.fixture
def offline_connection(member: Membership, app: Flask) -> GoogleConnection:
    """A connected row with tokens sealed by the vault, for token-endpoint faults played by `responses`."""
    return connecting.offline_connection(app, member, f"openid email {CONTACTS_SCOPE}")


@pytest.fixture
def token_endpoint(app: Flask) -> Iterator[tuple[responses.RequestsMock, str]]:
    with responses.RequestsMock() as mock:
        yield mock, GoogleEndpoints.for_settings(settings_of(app)).token_uri


def test_transient_failures_are_retried_with_backoff(
    app: Flask, offline_connection: GoogleConnection, token_endpoint: tuple[responses.RequestsMock, str]
) -> None:
    mock, url = token_endpoint
    mock.add(responses.POST, url, status=503, json={"error": "temporarily_unavailable"})
    mock.add(responses.POST, url, body=requests.ReadTimeout("slow"))
    mock.add(
        responses.POST,
        url,
        json={"access_token": "ya29.fresh-token", "expires_in": 3600, "token_type": "Bearer"},
    )
    sleeps: list[float] = []
    credentials = _source(app, sleeps).credentials_for(offline_connection)
    credentials.refresh(_transport())
    assert credentials.token == "ya29.fresh-token"
    assert len(sleeps) == 2
    assert all(wait > 0 for wait in sleeps)
    requests_made = [
        e for e in ledger(offline_connection.account_id) if e.tag == EventTag.GOOGLE_REQUEST.value
    ]
    assert [e.outcome for e in requests_made] == ["503", "timeout", "200"]
    assert offline_connection.status is ConnectionStatus.CONNECTED


def test_a_token_endpoint_that_stays_down_leaves_the_connection_alone(
    app: Flask, offline_connection: GoogleConnection, token_endpoint: tuple[responses.RequestsMock, str]
) -> None:
    mock, url = token_endpoint
    for _ in range(ATTEMPTS):
        mock.add(responses.POST, url, status=500, json={"error": "internal_failure"})
    sleeps: list[float] = []
    credentials = _source(app, sleeps).credentials_for(offline_connection)
    with pytest.raises(TokenEndpointUnavailableError):
        credentials.refresh(_transport())
    assert len(mock.calls) == ATTEMPTS
    assert len(sleeps) == ATTEMPTS - 1
    entries = ledger(offline_connection.account_id)
    assert [e.outcome for e in entries if e.tag == EventTag.GOOGLE_REQUEST.value] == ["500"] * ATTEMPTS
    assert [e.tag for e in entries][-1] == EventTag.TOKEN_REFRESH_FAILED.value
    db.session.expire_all()
    assert offline_connection.status is ConnectionStatus.CONNECTED
    assert offline_connection.is_usable


def test_a_refused_client_is_not_retried(
    app: Flask, offline_connection: GoogleConnection, token_endpoint: tuple[responses.RequestsMock, str]
) -> None:
    mock, url = token_endpoint
    mock.add(responses.POST, url, status=401, json={"error": "invalid_client"})
    credentials = _source(app).credentials_for(offline_connection)
    with pytest.raises(TokenEndpointUnavailableError) as failed:
        credentials.refresh(_transport())
    assert failed.value.outcome == "invalid_client"
    assert len(mock.calls) == 1
    db.session.expire_all()
    assert offline_connection.status is ConnectionStatus.CONNECTED


def test_an_odd_error_answer_is_recorded_without_its_text(
    app: Flask, offline_connection: GoogleConnection, token_endpoint: tuple[responses.RequestsMock, str]
) -> None:
    mock, url = token_endpoint
    mock.add(responses.POST, url, status=400, json={"error": "Odd <b>answer</b> " + "x" * 200})
    credentials = _source(app).credentials_for(offline_connection)
    with pytest.raises(TokenEndpointUnavailableError) as failed:
        credentials.refresh(_transport())
    assert failed.value.outcome == "error"
    entries = ledger(offline_connection.account_id)
    assert [e.outcome for e in entries if e.tag == EventTag.TOKEN_REFRESH_FAILED.value] == ["error"]
