"""Workspace domains, service accounts and the JWT-bearer grant, driven by google-auth's own
service-account credentials (and by hand for the assertions google-auth never produces)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from groupsync_emulator.cli import RunningEmulator, serve_in_thread
from groupsync_emulator.hooks import HookError, HooksClient
from groupsync_emulator.state import EmulatorMode, EmulatorSettings
from groupsync_emulator.workspace import (
    ACCOUNT_NOT_FOUND,
    BAD_AUDIENCE,
    BAD_SCOPE,
    BAD_SIGNATURE,
    BAD_SUBJECT,
    BAD_TIMEFRAME,
    CLOUD_PLATFORM,
    DELETED_SUBJECT,
    GOOGLE_TOKEN_URI,
    JWT_BEARER,
    UNAUTHORIZED_CLIENT,
)
from groupsync_emulator.workspace_views import WorkspaceHooks
from tests.emulator.conftest import ADA, CONTACTS, CONTACTS_READONLY, TIMEOUT

DOMAIN = "acme.example"
MARIA = "maria@acme.example"
TARAS = "taras@acme.example"
PROJECT = "groupsync-install"


@pytest.fixture
def workspace(hooks: HooksClient) -> WorkspaceHooks:
    ws = WorkspaceHooks(hooks)
    ws.add_domain(
        DOMAIN, [{"email": MARIA, "name": "Maria Shevchenko"}, {"email": TARAS, "name": "Taras Bondar"}]
    )
    return ws


@pytest.fixture
def key_file(workspace: WorkspaceHooks) -> dict[str, str]:
    account = workspace.create_service_account(PROJECT, "domain-sync")
    return workspace.create_key(account["email"])


def _credentials(
    key_file: dict[str, str], subject: str | None, scopes: list[str]
) -> service_account.Credentials:
    credentials = service_account.Credentials.from_service_account_info(key_file, scopes=scopes)
    return credentials.with_subject(subject) if subject else credentials


def _refresh_error(
    key_file: dict[str, str], subject: str | None = MARIA, scopes: list[str] | None = None
) -> Any:
    with pytest.raises(RefreshError) as caught:
        _credentials(key_file, subject, scopes or [CONTACTS]).refresh(Request())
    return caught.value.args[1]


def _list_groups(url: str, token: str) -> requests.Response:
    return requests.get(
        f"{url}/v1/contactGroups",
        headers={"Authorization": f"Bearer {token}"},
        params={"groupFields": "name"},
        timeout=TIMEOUT,
    )


def test_a_delegated_token_speaks_for_the_user_with_the_contacts_scope(
    emulator: RunningEmulator, workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    credentials = _credentials(key_file, MARIA, [CONTACTS])
    credentials.refresh(Request())
    assert credentials.token.startswith("ya29.")
    assert _list_groups(emulator.url, credentials.token).status_code == 200
    maria = next(u for u in workspace.domain(DOMAIN)["users"] if u["email"] == MARIA)
    entry = workspace.hooks.log()[-2]
    assert (entry["method"], entry["status"], entry["sub"], entry["client_id"]) == (
        "oauth2.token",
        200,
        maria["sub"],
        key_file["client_id"],
    )
    assert workspace.hooks.log()[-1]["sub"] == maria["sub"]


def test_no_delegation_is_unauthorized_client(workspace: WorkspaceHooks, key_file: dict[str, str]) -> None:
    body = _refresh_error(key_file)
    assert body == {"error": "unauthorized_client", "error_description": UNAUTHORIZED_CLIENT}


def test_a_delegation_without_the_requested_scope_is_unauthorized_client(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS_READONLY])
    assert _refresh_error(key_file)["error"] == "unauthorized_client"
    _credentials(key_file, MARIA, [CONTACTS_READONLY]).refresh(Request())


def test_removing_the_delegation_stops_new_tokens(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    _credentials(key_file, MARIA, [CONTACTS]).refresh(Request())
    workspace.set_delegation(DOMAIN, key_file["client_id"], [])
    assert _refresh_error(key_file)["error"] == "unauthorized_client"
    assert workspace.domain(DOMAIN)["delegations"] == {}


def test_a_marketplace_install_authorizes_the_apps_project_until_uninstalled(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_marketplace(DOMAIN, PROJECT, [CONTACTS])
    _credentials(key_file, TARAS, [CONTACTS]).refresh(Request())
    workspace.set_marketplace(DOMAIN, PROJECT, [])
    assert _refresh_error(key_file, TARAS)["error_description"] == UNAUTHORIZED_CLIENT


@pytest.mark.parametrize("subject", [ADA, "nobody@acme.example"])
def test_an_address_outside_the_domains_users_is_invalid_grant(
    workspace: WorkspaceHooks, key_file: dict[str, str], subject: str
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    assert _refresh_error(key_file, subject) == {"error": "invalid_grant", "error_description": BAD_SUBJECT}


def test_a_suspended_user_gets_no_token_and_loses_the_one_they_had(
    emulator: RunningEmulator, workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    credentials = _credentials(key_file, MARIA, [CONTACTS])
    credentials.refresh(Request())
    workspace.suspend(MARIA)
    assert _list_groups(emulator.url, credentials.token).status_code == 401
    assert _refresh_error(key_file) == {"error": "invalid_grant", "error_description": BAD_SUBJECT}
    workspace.suspend(MARIA, suspended=False)
    _credentials(key_file, MARIA, [CONTACTS]).refresh(Request())


def test_a_deleted_user_is_invalid_grant(workspace: WorkspaceHooks, key_file: dict[str, str]) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    workspace.delete_user(TARAS)
    assert _refresh_error(key_file, TARAS) == {"error": "invalid_grant", "error_description": DELETED_SUBJECT}


def test_a_disabled_or_deleted_key_no_longer_signs_but_another_key_does(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    email, key_id = key_file["client_email"], key_file["private_key_id"]
    workspace.disable_key(email, key_id)
    assert _refresh_error(key_file) == {"error": "invalid_grant", "error_description": BAD_SIGNATURE}
    workspace.disable_key(email, key_id, disabled=False)
    _credentials(key_file, MARIA, [CONTACTS]).refresh(Request())
    rotated = workspace.create_key(email)
    workspace.delete_key(email, key_id)
    assert _refresh_error(key_file)["error_description"] == BAD_SIGNATURE
    _credentials(rotated, MARIA, [CONTACTS]).refresh(Request())


def test_a_disabled_or_deleted_service_account_is_not_found(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    workspace.disable_service_account(key_file["client_email"])
    assert _refresh_error(key_file) == {"error": "invalid_grant", "error_description": ACCOUNT_NOT_FOUND}
    workspace.disable_service_account(key_file["client_email"], disabled=False)
    _credentials(key_file, MARIA, [CONTACTS]).refresh(Request())
    workspace.delete_service_account(key_file["client_email"])
    assert _refresh_error(key_file)["error_description"] == ACCOUNT_NOT_FOUND


# --- assertions google-auth would never send ----------------------------------------------------


def _assert_by_hand(url: str, key_file: dict[str, str], private_pem: str | None = None, **claims: Any) -> Any:
    now = int(time.time())
    payload = {
        "iss": key_file["client_email"],
        "sub": MARIA,
        "scope": CONTACTS,
        "aud": GOOGLE_TOKEN_URI,
        "iat": now,
        "exp": now + 3600,
    }
    # iat and exp are given as seconds from now.
    payload.update({k: now + v if k in {"iat", "exp"} else v for k, v in claims.items()})
    payload = {k: v for k, v in payload.items() if v is not None}
    assertion = jwt.encode(
        payload,
        private_pem or key_file["private_key"],
        algorithm="RS256",
        headers={"kid": key_file["private_key_id"]},
    )
    response = requests.post(
        f"{url}/token", data={"grant_type": JWT_BEARER, "assertion": assertion}, timeout=TIMEOUT
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "http://127.0.0.1/token"}, "invalid_grant", BAD_AUDIENCE),
        ({"exp": 3601}, "invalid_grant", BAD_TIMEFRAME),
        ({"iat": -7200, "exp": -3600}, "invalid_grant", BAD_TIMEFRAME),
        ({"iat": 3000, "exp": 3300}, "invalid_grant", BAD_TIMEFRAME),
        ({"scope": None}, "invalid_scope", BAD_SCOPE),
        ({"scope": "https://www.googleapis.com/auth/drive"}, "invalid_scope", BAD_SCOPE),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "invalid_grant", ACCOUNT_NOT_FOUND),
    ],
)
def test_google_checks_each_claim_of_the_assertion(
    *,
    emulator: RunningEmulator,
    workspace: WorkspaceHooks,
    key_file: dict[str, str],
    claims: dict[str, Any],
    error: str,
    description: str,
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    assert _assert_by_hand(emulator.url, key_file)[0] == 200
    status, body = _assert_by_hand(emulator.url, key_file, **claims)
    assert (status, body) == (400, {"error": error, "error_description": description})


def test_a_signature_by_an_unregistered_key_is_refused(
    emulator: RunningEmulator, workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    workspace.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    status, body = _assert_by_hand(emulator.url, key_file, private_pem=stranger.decode())
    assert (status, body["error_description"]) == (400, BAD_SIGNATURE)


def test_a_malformed_assertion_or_none_is_refused(
    emulator: RunningEmulator, workspace: WorkspaceHooks
) -> None:
    url = f"{emulator.url}/token"
    missing = requests.post(url, data={"grant_type": JWT_BEARER}, timeout=TIMEOUT)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    garbage = requests.post(url, data={"grant_type": JWT_BEARER, "assertion": "a.b"}, timeout=TIMEOUT)
    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_grant")


# --- keyless: the runtime's identity signs through the IAM Credentials API ----------------------


def test_sign_jwt_lets_a_runtime_identity_sign_for_the_installation_account(
    emulator: RunningEmulator, workspace: WorkspaceHooks
) -> None:
    installation = workspace.create_service_account(PROJECT, "installation")
    runtime = workspace.create_service_account("groupsync-runtime", "web-runtime")
    runtime_key = workspace.create_key(runtime["email"])
    workspace.set_delegation(DOMAIN, installation["unique_id"], [CONTACTS])
    own = _credentials(runtime_key, None, [CLOUD_PLATFORM])
    own.refresh(Request())
    now = int(time.time())
    claims = {
        "iss": installation["email"],
        "sub": MARIA,
        "scope": CONTACTS,
        "aud": GOOGLE_TOKEN_URI,
        "iat": now,
        "exp": now + 3600,
    }
    url = f"{emulator.url}/v1/projects/-/serviceAccounts/{installation['email']}:signJwt"

    def sign() -> requests.Response:
        return requests.post(
            url,
            json={"payload": json.dumps(claims)},
            headers={"Authorization": f"Bearer {own.token}"},
            timeout=TIMEOUT,
        )

    refused = sign()
    assert (refused.status_code, refused.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    workspace.add_token_creator(installation["email"], runtime["email"])
    signed = sign()
    assert signed.status_code == 200, signed.text
    token = requests.post(
        f"{emulator.url}/token",
        data={"grant_type": JWT_BEARER, "assertion": signed.json()["signedJwt"]},
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text
    assert _list_groups(emulator.url, token.json()["access_token"]).status_code == 200


def test_a_service_account_token_without_a_subject_only_carries_cloud_scopes(
    workspace: WorkspaceHooks, key_file: dict[str, str]
) -> None:
    assert _refresh_error(key_file, subject=None, scopes=[CONTACTS])["error"] == "invalid_scope"


# --- hooks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("workspace/domains", {"domain": "not a domain"}, "domain"),
        (
            "workspace/domains",
            {"domain": DOMAIN, "users": [{"email": "x@elsewhere.example", "name": "X"}]},
            "email",
        ),
        (f"workspace/domains/{DOMAIN}/delegation", {"client_id": "123", "scopes": ["nope"]}, "scopes"),
        ("workspace/domains/unknown.example/delegation", {"client_id": "123", "scopes": []}, "domain"),
        ("workspace/service-accounts", {"project_id": "p", "account_id": "domain-sync"}, "project_id"),
        (f"workspace/users/{ADA}/suspend", {"suspended": True}, "user"),
    ],
)
def test_bad_hook_input_is_a_400_naming_the_field(
    workspace: WorkspaceHooks, path: str, body: dict[str, Any], named: str
) -> None:
    with pytest.raises(HookError) as caught:
        workspace.hooks.call("POST", path, body)
    assert caught.value.status == 400
    assert named in json.loads(caught.value.body)["error"]["message"]


def test_domain_users_are_google_accounts_with_their_own_contacts(
    workspace: WorkspaceHooks, hooks: HooksClient
) -> None:
    seeded = hooks.call(
        "POST", f"people/accounts/{MARIA}/seed", {"groups": [{"name": "Friends"}], "contacts": []}
    )
    assert "Friends" in seeded["groups"]
    assert MARIA in {i["email"] for i in hooks.identities()}


def test_standalone_mode_serves_no_workspace_hooks() -> None:
    running = serve_in_thread(EmulatorSettings(mode=EmulatorMode.STANDALONE))
    try:
        response = requests.post(f"{running.url}/__emulator__/workspace/domains", json={}, timeout=TIMEOUT)
        assert response.status_code == 404
    finally:
        running.stop()


def test_workspace_state_survives_a_restart_with_a_state_file(tmp_path: Path) -> None:
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=tmp_path / "emulator.sqlite3")
    first = serve_in_thread(settings)
    try:
        ws = WorkspaceHooks(HooksClient(first.url))
        ws.add_domain(DOMAIN, [{"email": MARIA, "name": "Maria Shevchenko"}])
        key_file = ws.create_key(ws.create_service_account(PROJECT, "domain-sync")["email"])
        ws.set_delegation(DOMAIN, key_file["client_id"], [CONTACTS])
    finally:
        first.stop()
    second = serve_in_thread(settings)
    try:
        key_file["token_uri"] = f"{second.url}/token"
        _credentials(key_file, MARIA, [CONTACTS]).refresh(Request())
    finally:
        second.stop()
