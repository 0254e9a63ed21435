"""The emulator's OAuth/OIDC success paths, driven by the real google-auth and google-auth-oauthlib."""

from __future__ import annotations

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build

from groupsync_emulator.cli import RunningEmulator
from tests.emulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONTACTS,
    EMAIL,
    OLENA,
    PROFILE,
    REDIRECT_URI,
    TIMEOUT,
    OAuthDriver,
)


@pytest.fixture(autouse=True)
def _oauthlib_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator is plain HTTP on loopback, and returns email/profile as full URLs as Google does.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def _flow(emulator: RunningEmulator, scopes: list[str]) -> Flow:
    config = {
        "web": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_uri": f"{emulator.url}/o/oauth2/v2/auth",
            "token_uri": f"{emulator.url}/token",
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT_URI)


def _credentials(emulator: RunningEmulator, oauth: OAuthDriver, scopes: list[str]) -> Credentials:
    flow = _flow(emulator, scopes)
    url, _ = flow.authorization_url(access_type="offline", prompt="consent", nonce="nonce-1")
    oauth.hooks.preset_consent(OLENA)
    location = requests.get(url, allow_redirects=False, timeout=TIMEOUT).headers["Location"]
    flow.fetch_token(authorization_response=location)
    credentials: Credentials = flow.credentials
    return credentials


def test_flow_with_pkce_yields_verifiable_id_token_and_refreshable_credentials(
    emulator: RunningEmulator, oauth: OAuthDriver
) -> None:
    flow = _flow(emulator, ["openid", "email", "profile", CONTACTS])
    url, state = flow.authorization_url(
        access_type="offline",
        prompt="consent",
        include_granted_scopes="true",
        nonce="nonce-1",
        login_hint=OLENA,
    )
    assert "code_challenge_method=S256" in url
    oauth.hooks.preset_consent(OLENA)
    location = requests.get(url, allow_redirects=False, timeout=TIMEOUT).headers["Location"]
    assert f"state={state}" in location

    flow.fetch_token(authorization_response=location)
    credentials = flow.credentials
    assert credentials.refresh_token
    assert set(flow.oauth2session.token["scope"]) == {"openid", EMAIL, PROFILE, CONTACTS}
    assert flow.oauth2session.token["expires_in"] == 3600

    for certs in ("/oauth2/v1/certs", "/oauth2/v3/certs"):
        claims = id_token.verify_token(
            credentials.id_token, Request(), audience=CLIENT_ID, certs_url=emulator.url + certs
        )
        assert claims["iss"] == "https://accounts.google.com"
        assert claims["aud"] == claims["azp"] == CLIENT_ID
        assert claims["sub"] == "110000000000000000002"
        assert claims["email"] == OLENA
        assert claims["email_verified"] is True
        assert claims["name"] == "Олена Коваленко"
        assert claims["nonce"] == "nonce-1"
        assert claims["exp"] - claims["iat"] == 3600

    first_token = credentials.token
    credentials.refresh(Request())
    assert credentials.token != first_token
    assert credentials.valid
    refreshed = id_token.verify_token(
        credentials.id_token, Request(), audience=CLIENT_ID, certs_url=emulator.url + "/oauth2/v1/certs"
    )
    assert refreshed["sub"] == "110000000000000000002"
    assert "nonce" not in refreshed


def test_id_token_for_another_audience_is_refused_by_google_auth(
    emulator: RunningEmulator, oauth: OAuthDriver
) -> None:
    credentials = _credentials(emulator, oauth, ["openid", "email"])
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(
            credentials.id_token,
            Request(),
            audience="someone-else",
            certs_url=emulator.url + "/oauth2/v1/certs",
        )


@pytest.mark.parametrize("how", ["revoke endpoint", "user removed the app", "testing-status expiry"])
def test_refresh_of_a_dead_refresh_token_raises_refresh_error_invalid_grant(
    emulator: RunningEmulator, oauth: OAuthDriver, how: str
) -> None:
    credentials = _credentials(emulator, oauth, ["openid", CONTACTS])
    if how == "revoke endpoint":
        response = requests.post(
            f"{emulator.url}/revoke", data={"token": credentials.refresh_token}, timeout=TIMEOUT
        )
        assert response.status_code == 200
    elif how == "user removed the app":
        oauth.hooks.revoke_grant(OLENA, CLIENT_ID)
    else:
        assert oauth.hooks.expire_refresh_tokens(OLENA) == 1

    with pytest.raises(RefreshError) as info:
        credentials.refresh(Request())
    assert info.value.args[0] == "invalid_grant: Token has been expired or revoked."


def test_credentials_built_from_stored_refresh_token_refresh_with_form_client_authentication(
    emulator: RunningEmulator, oauth: OAuthDriver
) -> None:
    refresh_token = oauth.tokens("openid " + CONTACTS)["refresh_token"]
    credentials = Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=f"{emulator.url}/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=["openid", CONTACTS],
    )
    credentials.refresh(Request())
    assert credentials.valid
    assert set(credentials.granted_scopes) == {"openid", CONTACTS}
    response = requests.get(
        f"{emulator.url}/v1/userinfo",
        headers={"Authorization": f"Bearer {credentials.token}"},
        timeout=TIMEOUT,
    )
    assert response.json() == {"sub": "110000000000000000001"}


def test_people_client_refreshes_an_expired_access_token_after_a_401(
    emulator: RunningEmulator, oauth: OAuthDriver
) -> None:
    tokens = oauth.tokens(CONTACTS)
    credentials = Credentials(
        token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_uri=f"{emulator.url}/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    service = build(
        "people",
        "v1",
        credentials=credentials,
        client_options={"api_endpoint": emulator.url},
        static_discovery=True,
    )
    # google-auth refreshes proactively minutes before a known expiry; this token has none, so
    # only the emulator's 401 can tell the client it expired.
    oauth.hooks.advance_clock(3600)
    start = len(oauth.hooks.log())

    assert service.contactGroups().list().execute()["contactGroups"]

    assert credentials.token != tokens["access_token"]
    log = [(entry["method"], entry["status"]) for entry in oauth.hooks.log(since=start)]
    assert log == [("contactGroups.list", 401), ("oauth2.token", 200), ("contactGroups.list", 200)]
