"""Google's OAuth endpoints as seen by app.google.oauth, with edge cases of the token endpoint
served by ``responses`` (the full round trip against the emulator lives in tests/auth)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import select

from app.config import Settings
from app.extensions import db
from app.google import oauth
from app.google.endpoints import CONTACTS_SCOPE, SIGN_IN_SCOPES, GoogleEndpoints
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.services import GoogleRequestLedger
from groupsync_emulator.keys import SigningKey

HOST = "127.0.0.1:9"
ISSUER = "https://accounts.google.com"
REDIRECT = "http://127.0.0.1:5000/auth/callback"
NONCE = "nonce-" + "n" * 20
VERIFIER = "v" * 43


EXCHANGE = Flow(
    tag=EventTag.GOOGLE_REQUEST,
    account_id=None,
    kind=FlowKind.TOKEN,
    purpose=Purpose.SIGN_IN,
    trigger=Trigger.USER_ACTION,
    actor="system",
    outcome="started",
    destination=Destination.GOOGLE,
    method="oauth2.token.authorization_code",
    categories=frozenset({DataCategory.IDENTITY}),
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "GROUPSYNC_ENV": "test",
            "GROUPSYNC_INSTANCE_PATH": str(tmp_path),
            "GOOGLE_EMULATOR_HOST": HOST,
            "GROUPSYNC_GOOGLE_CLIENT_ID": "client-123.apps.googleusercontent.com",
            "GROUPSYNC_GOOGLE_CLIENT_SECRET": "canary-client-secret",
            "GROUPSYNC_HTTP_TIMEOUT_SECONDS": "7",
        }
    )


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _claims(settings: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": settings.google_client_id,
        "azp": settings.google_client_id,
        "sub": "110000000000000000001",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "nonce": NONCE,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _serve(
    mock: responses.RequestsMock,
    settings: Settings,
    key: SigningKey,
    *,
    scope: str = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
    id_token: str | None = None,
    **claim_changes: Any,
) -> None:
    endpoints = GoogleEndpoints.for_settings(settings)
    body = {
        "access_token": "ya29.canary-access",
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": scope,
        "id_token": id_token if id_token is not None else key.sign_jwt(_claims(settings, **claim_changes)),
    }
    mock.post(endpoints.token_uri, json=body)
    mock.get(endpoints.certs_uri, json=key.x509_certs())


def _exchange(settings: Settings, **changes: Any) -> oauth.TokenGrant:
    arguments: dict[str, Any] = {
        "ledger": GoogleRequestLedger(db.session),
        "flow": EXCHANGE,
        "code": "4/canary-code",
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "nonce": NONCE,
        "scopes": SIGN_IN_SCOPES,
        "required_scopes": frozenset({"openid", "email"}),
    }
    arguments.update(changes)
    return oauth.exchange_code(settings, **arguments)


def _ledgered() -> list[tuple[str, str | None, str]]:
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.chain, LedgerEntry.seq))
    return [(e.tag, e.method, e.outcome) for e in entries]


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_sign_in_url_asks_for_identity_only_with_pkce_s256(settings: Settings) -> None:
    url = oauth.sign_in_url(settings, redirect_uri=REDIRECT, state="st", nonce=NONCE, code_verifier=VERIFIER)
    assert url.startswith(GoogleEndpoints.for_settings(settings).auth_uri + "?")
    query = _query(url)
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert query["response_type"] == "code"
    assert query["client_id"] == settings.google_client_id
    assert query["redirect_uri"] == REDIRECT
    assert (query["state"], query["nonce"]) == ("st", NONCE)
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(VERIFIER.encode()).digest()
    assert oauth.code_challenge(VERIFIER) == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert query["code_challenge"] == oauth.code_challenge(VERIFIER)
    assert query["access_type"] == "online"
    assert "include_granted_scopes" not in query
    assert VERIFIER not in url


def test_contacts_consent_url_is_incremental_offline_and_reprompts(settings: Settings) -> None:
    url = oauth.contacts_consent_url(
        settings,
        redirect_uri=REDIRECT,
        state="st",
        nonce=NONCE,
        code_verifier=VERIFIER,
        login_hint="ada@example.com",
    )
    query = _query(url)
    assert CONTACTS_SCOPE in query["scope"].split()
    assert "profile" not in query["scope"].split()
    assert query["include_granted_scopes"] == "true"
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["login_hint"] == "ada@example.com"
    assert query["code_challenge"] == oauth.code_challenge(VERIFIER)


def test_exchange_accepts_google_scope_urls_and_keeps_tokens_out_of_repr(
    app: Flask, settings: Settings, key: SigningKey, google: responses.RequestsMock
) -> None:
    _serve(google, settings, key)
    grant = _exchange(settings)
    assert grant.scopes == frozenset({"openid", "email", "profile"})
    assert grant.identity == oauth.Identity("110000000000000000001", "ada@example.com", True, "Ada Lovelace")
    assert grant.access_token == "ya29.canary-access"
    assert grant.refresh_token is None
    assert grant.http_status == 200
    assert "canary" not in repr(grant)
    token_call, certs_call = google.calls
    body = token_call.request.body
    sent = parse_qs(body.decode() if isinstance(body, bytes) else str(body))
    assert sent["code_verifier"] == [VERIFIER]
    assert sent["redirect_uri"] == [REDIRECT]
    assert sent["grant_type"] == ["authorization_code"]
    assert token_call.request.req_kwargs["timeout"] == 7.0
    assert certs_call.request.req_kwargs["timeout"] == 7.0
    # Both requests were recorded before they were sent; the exchange's outcome is the caller's to record.
    assert _ledgered() == [
        ("google.request_started", "oauth2.token.authorization_code", "started"),
        ("google.request_started", "oauth2.certs", "started"),
        ("google.request", "oauth2.certs", "200"),
    ]
    assert grant.request.flow == EXCHANGE


def test_exchange_reports_contacts_grant_and_refresh_token(
    app: Flask, settings: Settings, key: SigningKey, google: responses.RequestsMock
) -> None:
    endpoints = GoogleEndpoints.for_settings(settings)
    google.post(
        endpoints.token_uri,
        json={
            "access_token": "ya29.a",
            "refresh_token": "1//canary-refresh",
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": f"openid https://www.googleapis.com/auth/userinfo.email {CONTACTS_SCOPE}",
            "id_token": key.sign_jwt(_claims(settings)),
        },
    )
    google.get(endpoints.certs_uri, json=key.x509_certs())
    grant = _exchange(
        settings, scopes=oauth.CONTACTS_CONSENT_SCOPES, required_scopes=frozenset({CONTACTS_SCOPE})
    )
    assert grant.refresh_token == "1//canary-refresh"
    assert CONTACTS_SCOPE in grant.scopes
    assert grant.expires_at is not None


def test_unticked_required_scope_is_reported_by_name(
    app: Flask, settings: Settings, key: SigningKey, google: responses.RequestsMock
) -> None:
    _serve(google, settings, key, scope="openid https://www.googleapis.com/auth/userinfo.profile")
    with pytest.raises(oauth.ScopesNotGrantedError) as info:
        _exchange(settings)
    assert info.value.missing == frozenset({"email"})
    assert info.value.http_status == 200


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, {"error": "invalid_grant", "error_description": "Bad Request"}, "invalid_grant"),
        (401, {"error": "invalid_client", "error_description": "Unauthorized"}, "invalid_client"),
        (400, {"error": "redirect_uri_mismatch"}, "redirect_uri_mismatch"),
    ],
)
@pytest.mark.usefixtures("app")
def test_token_endpoint_errors_carry_googles_error_code(
    settings: Settings,
    google: responses.RequestsMock,
    status: int,
    body: dict[str, str],
    outcome: str,
) -> None:
    google.post(GoogleEndpoints.for_settings(settings).token_uri, json=body, status=status)
    with pytest.raises(oauth.TokenEndpointError) as info:
        _exchange(settings)
    assert (info.value.outcome, info.value.http_status) == (outcome, status)
    assert info.value.request is not None, "the caller needs the started request to record the outcome"
    assert _ledgered() == [("google.request_started", "oauth2.token.authorization_code", "started")]


def test_server_error_page_is_a_token_endpoint_error(
    app: Flask, settings: Settings, google: responses.RequestsMock
) -> None:
    google.post(
        GoogleEndpoints.for_settings(settings).token_uri, body="<html>Server Error</html>", status=502
    )
    with pytest.raises(oauth.TokenEndpointError) as info:
        _exchange(settings)
    assert info.value.http_status == 502


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [(requests.ReadTimeout("slow"), "timeout"), (requests.ConnectionError("refused"), "unreachable")],
)
def test_unreachable_token_endpoint(
    app: Flask, settings: Settings, google: responses.RequestsMock, failure: Exception, outcome: str
) -> None:
    google.post(GoogleEndpoints.for_settings(settings).token_uri, body=failure)
    with pytest.raises(oauth.TokenEndpointError) as info:
        _exchange(settings)
    assert (info.value.outcome, info.value.http_status) == (outcome, 0)


@pytest.mark.parametrize(
    ("claim_changes", "outcome"),
    [
        ({"nonce": "another-sign-in"}, "id_token_nonce"),
        ({"nonce": None}, "id_token_nonce"),
        ({"iss": "https://attacker.example"}, "id_token_issuer"),
        # Nor is the emulator's own address: it signs as Google does; the check has no emulator case.
        ({"iss": f"http://{HOST}"}, "id_token_issuer"),
        ({"aud": "someone-else.apps.googleusercontent.com"}, "id_token_invalid"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}, "id_token_invalid"),
        ({"sub": ""}, "id_token_identity"),
    ],
)
@pytest.mark.usefixtures("app")
def test_id_token_claims_are_checked(
    settings: Settings,
    key: SigningKey,
    google: responses.RequestsMock,
    claim_changes: dict[str, Any],
    outcome: str,
) -> None:
    _serve(google, settings, key, **claim_changes)
    with pytest.raises(oauth.IdTokenError) as info:
        _exchange(settings)
    assert info.value.outcome == outcome


@pytest.mark.parametrize("issuer", ["https://accounts.google.com", "accounts.google.com"])
@pytest.mark.parametrize("emulated", [True, False])
@pytest.mark.usefixtures("app")
def test_only_googles_issuers_pass_in_every_mode(
    settings: Settings, key: SigningKey, google: responses.RequestsMock, issuer: str, emulated: bool
) -> None:
    """Both spellings Google documents pass, against Google and against the emulator alike."""
    if not emulated:
        settings = replace(settings, google_emulator_host=None)
    assert GoogleEndpoints.for_settings(settings).certs_uri.startswith("http://" if emulated else "https://")
    _serve(google, settings, key, iss=issuer)
    assert _exchange(settings).identity.sub == "110000000000000000001"


def test_id_token_with_altered_claims_fails_the_signature_check(
    app: Flask, settings: Settings, key: SigningKey, google: responses.RequestsMock
) -> None:
    header, _, signature = key.sign_jwt(_claims(settings)).split(".")
    altered = key.sign_jwt(_claims(settings, sub="110000000000000000666")).split(".")[1]
    _serve(google, settings, key, id_token=f"{header}.{altered}.{signature}")
    with pytest.raises(oauth.IdTokenError) as info:
        _exchange(settings)
    assert info.value.outcome == "id_token_invalid"


def test_missing_id_token_is_rejected(app: Flask, settings: Settings, google: responses.RequestsMock) -> None:
    google.post(
        GoogleEndpoints.for_settings(settings).token_uri,
        body=json.dumps({"access_token": "ya29.x", "token_type": "Bearer", "scope": "openid email"}),
        content_type="application/json",
    )
    with pytest.raises(oauth.IdTokenError) as info:
        _exchange(settings)
    assert info.value.outcome == "id_token_missing"


def test_unreachable_signing_keys_reject_the_token(
    app: Flask, settings: Settings, key: SigningKey, google: responses.RequestsMock
) -> None:
    endpoints = GoogleEndpoints.for_settings(settings)
    google.post(
        endpoints.token_uri,
        json={
            "access_token": "ya29.x",
            "token_type": "Bearer",
            "scope": "openid email",
            "id_token": key.sign_jwt(_claims(settings)),
        },
    )
    google.get(endpoints.certs_uri, status=503, body="unavailable")
    with pytest.raises(oauth.IdTokenError) as info:
        _exchange(settings)
    assert info.value.outcome == "certs_unreachable"
    assert info.value.request is not None
    assert ("google.request", "oauth2.certs", "503") in _ledgered()
