"""The emulator's framework: request log, OAuth hooks, modes, error envelope, expired tokens, state file."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from groupsync_emulator.cli import serve_in_thread
from groupsync_emulator.hooks import HookError, HooksClient
from groupsync_emulator.state import ClientSpec, EmulatorMode, EmulatorSettings
from tests.emulator.conftest import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTACTS,
    OLENA,
    REDIRECT_URI,
    TIMEOUT,
    OAuthDriver,
    plant_state,
    text_pickle,
)

ADA_SUB = "110000000000000000001"


def _people(url: str, token: str) -> Any:
    return build(
        "people",
        "v1",
        credentials=Credentials(token),
        client_options={"api_endpoint": url},
        static_discovery=True,
    )


def test_request_log_names_account_client_method_and_status(oauth: OAuthDriver) -> None:
    start = len(oauth.hooks.log())
    tokens = oauth.tokens(f"openid {CONTACTS}")
    requests.post(f"{oauth.url}/revoke", data={"token": "ya29.unknown"}, timeout=TIMEOUT)
    requests.get(f"{oauth.url}/no/such/path", timeout=TIMEOUT)
    service = _people(oauth.url, tokens["access_token"])
    service.contactGroups().list().execute()

    entries = oauth.hooks.log(since=start)
    summary = [(e["method"], e["sub"], e["client_id"], e["status"]) for e in entries]
    assert summary == [
        ("oauth2.authorize", ADA_SUB, CLIENT_ID, 302),
        ("oauth2.token", ADA_SUB, CLIENT_ID, 200),
        ("oauth2.revoke", None, None, 400),
        ("unknown", None, None, 404),
        ("contactGroups.list", ADA_SUB, CLIENT_ID, 200),
    ]
    assert [e["index"] for e in entries] == list(range(start, start + 5))
    assert entries[-1]["http_method"] == "GET"
    assert entries[-1]["path"] == "/v1/contactGroups"
    assert all(e["time"].endswith("+00:00") for e in entries)
    # Hook calls (like the log reads above) are not Google traffic and never appear.
    assert not any(e["path"].startswith("/__emulator__/") for e in oauth.hooks.log())


def test_log_since_must_be_an_index(hooks: HooksClient) -> None:
    with pytest.raises(HookError) as info:
        hooks.call("GET", "log", since="yesterday")
    assert info.value.status == 400
    assert "since" in info.value.body


def test_people_api_answers_an_expired_token_with_401_access_token_expired(oauth: OAuthDriver) -> None:
    oauth.hooks.set_token_lifetime(30)
    token = oauth.tokens(CONTACTS)["access_token"]
    oauth.hooks.advance_clock(30)
    response = requests.get(
        f"{oauth.url}/v1/contactGroups", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_people_api_refuses_sign_in_only_tokens_even_for_reads(oauth: OAuthDriver) -> None:
    service = _people(oauth.url, oauth.tokens("openid email profile")["access_token"])
    with pytest.raises(HttpError) as info:
        service.contactGroups().list().execute()
    assert info.value.status_code == 403
    assert info.value.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_unknown_paths_answer_in_googles_error_envelope(oauth: OAuthDriver) -> None:
    response = requests.get(f"{oauth.url}/v1/nothing-here", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("clients", {"client_id": "x", "client_secret": "y"}, "redirect_uris"),
        ("clients", {"client_id": "", "client_secret": "y", "redirect_uris": ["http://x"]}, "client_id"),
        ("clients", {"client_id": "x", "client_secret": "y", "redirect_uris": "http://x"}, "redirect_uris"),
        ("consent", {"identity": "nobody@example.com"}, "identity"),
        ("consent", {"identity": ADA, "scopes": ["https://www.googleapis.com/auth/drive"]}, "scopes"),
        ("consent", {"identity": ADA, "deny": "yes"}, "deny"),
        ("refresh-tokens/expire", {"identity": 7}, "identity"),
        ("grants/revoke", {"identity": ADA}, "client_id"),
        ("token-lifetime", {"seconds": 0}, "seconds"),
        ("clock/advance", {"seconds": -5}, "seconds"),
    ],
)
def test_hooks_refuse_bad_input_naming_it(
    hooks: HooksClient, path: str, body: dict[str, object], named: str
) -> None:
    with pytest.raises(HookError) as info:
        hooks.call("POST", path, body)
    assert info.value.status == 400
    assert named in info.value.body


def test_hooks_refuse_a_body_that_is_not_a_json_object(hooks: HooksClient, oauth: OAuthDriver) -> None:
    response = requests.post(f"{oauth.url}/__emulator__/clients", data="client_id=x", timeout=TIMEOUT)
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


def test_identities_include_a_ukrainian_name(hooks: HooksClient) -> None:
    identities = {i["email"]: i for i in hooks.identities()}
    assert len(identities) == 4
    assert identities[OLENA]["name"] == "Олена Коваленко"
    assert identities[OLENA]["locale"] == "uk"


def test_reset_forgets_clients_and_tokens(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens()
    oauth.hooks.reset()
    assert oauth.hooks.log() == []
    unknown_client = requests.get(oauth.auth_url(), timeout=TIMEOUT)
    assert unknown_client.status_code == 401
    assert "invalid_client" in unknown_client.text
    userinfo = requests.get(
        f"{oauth.url}/v1/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 401


def test_cleared_preset_shows_the_page_again(oauth: OAuthDriver) -> None:
    oauth.hooks.preset_consent(ADA)
    oauth.hooks.call("DELETE", "consent")
    assert requests.get(oauth.auth_url(), allow_redirects=False, timeout=TIMEOUT).status_code == 200


def test_standalone_mode_has_no_hooks_but_serves_oauth_for_configured_clients() -> None:
    settings = EmulatorSettings(
        mode=EmulatorMode.STANDALONE, clients=(ClientSpec(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,)),)
    )
    running = serve_in_thread(settings)
    try:
        for path in ("identities", "log", "consent", "clients", "reset"):
            assert requests.get(f"{running.url}/__emulator__/{path}", timeout=TIMEOUT).status_code == 404
        assert requests.post(f"{running.url}/__emulator__/reset", timeout=TIMEOUT).status_code == 404
        page = requests.get(OAuthDriver(running.url, HooksClient(running.url)).auth_url(), timeout=TIMEOUT)
        assert page.status_code == 200
        assert "Choose an account" in page.text
    finally:
        running.stop()


def test_oauth_state_and_signing_key_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=tmp_path / "emulator.sqlite3")
    first = serve_in_thread(settings)
    try:
        driver = OAuthDriver(first.url, HooksClient(first.url))
        driver.hooks.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
        tokens = driver.tokens()
        certs = requests.get(f"{first.url}/oauth2/v3/certs", timeout=TIMEOUT).json()
    finally:
        first.stop()

    stored = (tmp_path / "emulator.sqlite3").read_bytes()
    for secret in (tokens["access_token"], tokens["refresh_token"], CLIENT_SECRET):
        assert secret.encode() not in stored

    second = serve_in_thread(settings)
    try:
        driver = OAuthDriver(second.url, HooksClient(second.url))
        refreshed = driver.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert requests.get(f"{second.url}/oauth2/v3/certs", timeout=TIMEOUT).json() == certs
    finally:
        second.stop()


def test_a_state_file_from_before_the_emulator_left_app_still_loads(tmp_path: Path) -> None:
    """An existing instance/demo/ keeps its emulated Google accounts across the move out of app/."""
    path = tmp_path / "emulator.sqlite3"
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=path)
    first = serve_in_thread(settings)
    try:
        driver = OAuthDriver(first.url, HooksClient(first.url))
        driver.hooks.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
        tokens = driver.tokens()
        blob = text_pickle(first)
    finally:
        first.stop()
    old = (
        blob.replace(b"cgroupsync_emulator.oauth_state\nClock\n", b"capp.emulator.state\nClock\n")
        .replace(b"groupsync_emulator.oauth_state\n", b"app.emulator.oauth\n")
        .replace(b"groupsync_emulator.", b"app.emulator.")
    )
    assert b"groupsync_emulator" not in old
    assert b"app.emulator.state\nClock" in old
    plant_state(path, old)

    second = serve_in_thread(settings)
    try:
        driver = OAuthDriver(second.url, HooksClient(second.url))
        refreshed = driver.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
    finally:
        second.stop()


class _Planted:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_a_state_file_naming_foreign_classes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "emulator.sqlite3"
    serve_in_thread(EmulatorSettings(mode=EmulatorMode.DEMO, state_file=path)).stop()
    plant_state(path, pickle.dumps(_Planted()))
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        serve_in_thread(EmulatorSettings(mode=EmulatorMode.DEMO, state_file=path))


def test_login_hint_by_sub_preselects_too(oauth: OAuthDriver) -> None:
    page = requests.get(oauth.auth_url(login_hint="110000000000000000002"), timeout=TIMEOUT).text
    assert re.search(r'id="identity-110000000000000000002" value="110000000000000000002"\s+checked', page)


def test_settings_take_mode_names_and_refuse_bad_values() -> None:
    assert EmulatorSettings(mode="standalone").mode is EmulatorMode.STANDALONE  # type: ignore[arg-type]
    assert not EmulatorSettings(mode="standalone").mode.hooks_enabled  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="production"):
        EmulatorSettings(mode="production")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token_lifetime"):
        EmulatorSettings(token_lifetime=0)


def test_reset_keeps_configured_clients_and_restores_the_token_lifetime() -> None:
    settings = EmulatorSettings(clients=(ClientSpec(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,)),))
    running = serve_in_thread(settings)
    try:
        driver = OAuthDriver(running.url, HooksClient(running.url))
        driver.hooks.set_token_lifetime(5)
        driver.hooks.reset()
        assert driver.tokens()["expires_in"] == 3600
    finally:
        running.stop()
