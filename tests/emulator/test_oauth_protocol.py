"""The emulator's OAuth endpoints over raw HTTP: consent page, every parameter and every error."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from groupsync_emulator.cli import RunningEmulator
from tests.emulator.conftest import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTACTS,
    CONTACTS_READONLY,
    EMAIL,
    OLENA,
    PROFILE,
    REDIRECT_URI,
    TIMEOUT,
    OAuthDriver,
    pkce_pair,
)

OLENA_SUB = "110000000000000000002"


def _userinfo(url: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{url}/v1/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT
    )


def _error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


# --- authorization endpoint and consent page ------------------------------------------------------


def _ticket(page: str) -> str:
    match = re.search(r'name="ticket" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_consent_page_lists_identities_scopes_and_preselects_login_hint(oauth: OAuthDriver) -> None:
    response = requests.get(
        oauth.auth_url(f"openid email profile {CONTACTS}", login_hint=OLENA), timeout=TIMEOUT
    )
    assert response.status_code == 200
    page = response.text
    assert "GroupSync" in page
    for name in ("Ada Lovelace", "Олена Коваленко", "Grace Hopper", "Kwame Mensah"):
        assert name in page
    assert re.search(rf'id="identity-{OLENA_SUB}" value="{OLENA_SUB}"\s+checked', page)
    for scope in (EMAIL, PROFILE, CONTACTS):
        assert re.search(
            rf'type="checkbox" name="scope" id="scope-\d" value="{re.escape(scope)}" checked', page
        )
    assert 'type="checkbox" name="scope" id="scope-1" value="openid"' not in page
    assert 'value="allow"' in page
    assert 'value="deny"' in page
    assert "style=" not in page
    assert "<script" not in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unticked_scopes_are_not_granted_and_the_ticket_is_single_use(oauth: OAuthDriver) -> None:
    verifier, challenge = pkce_pair()
    page = requests.get(
        oauth.auth_url(
            f"openid email profile {CONTACTS}", code_challenge=challenge, code_challenge_method="S256"
        ),
        timeout=TIMEOUT,
    ).text
    form = {"ticket": _ticket(page), "identity": OLENA_SUB, "scope": [EMAIL], "action": "allow"}
    response = requests.post(
        f"{oauth.url}/o/oauth2/v2/auth", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    assert query["scope"] == [f"{EMAIL} openid"]

    tokens = oauth.exchange(query["code"][0], code_verifier=verifier).json()
    assert tokens["scope"] == f"{EMAIL} openid"
    assert _userinfo(oauth.url, tokens["access_token"]).json() == {
        "sub": OLENA_SUB,
        "email": OLENA,
        "email_verified": True,
    }

    replay = requests.post(f"{oauth.url}/o/oauth2/v2/auth", data=form, allow_redirects=False, timeout=TIMEOUT)
    assert replay.status_code == 400
    assert "Location" not in replay.headers


def test_deny_on_the_page_redirects_with_access_denied_and_state(oauth: OAuthDriver) -> None:
    page = requests.get(oauth.auth_url(state="xyz"), timeout=TIMEOUT).text
    response = requests.post(
        f"{oauth.url}/o/oauth2/v2/auth",
        data={"ticket": _ticket(page), "identity": OLENA_SUB, "action": "deny"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.headers["Location"] == f"{REDIRECT_URI}?error=access_denied&state=xyz"


def test_preset_deny_redirects_with_access_denied(oauth: OAuthDriver) -> None:
    oauth.hooks.preset_consent(ADA, deny=True)
    response = requests.get(oauth.auth_url(), allow_redirects=False, timeout=TIMEOUT)
    assert response.headers["Location"] == f"{REDIRECT_URI}?error=access_denied&state=st-1"


def test_preset_is_used_once(oauth: OAuthDriver) -> None:
    oauth.authorize()
    response = requests.get(oauth.auth_url(), allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 200
    assert "Choose an account" in response.text


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"client_id": "unknown.apps.googleusercontent.com"}, 401, "invalid_client"),
        ({"redirect_uri": REDIRECT_URI + "/other"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": "http://127.0.0.1:9/oauth/"}, 400, "redirect_uri_mismatch"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"scope": "openid https://www.googleapis.com/auth/drive"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_request"),
        ({"code_challenge": "a" * 43, "code_challenge_method": "plain"}, 400, "invalid_request"),
        ({"code_challenge": "a" * 43}, 400, "invalid_request"),
        ({"code_challenge_method": "S256"}, 400, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, 400, "invalid_request"),
        ({"access_type": "forever"}, 400, "invalid_request"),
        ({"prompt": "none"}, 400, "invalid_request"),
        ({"include_granted_scopes": "yes"}, 400, "invalid_request"),
    ],
)
def test_bad_authorization_requests_get_an_error_page_never_a_redirect(
    oauth: OAuthDriver, params: dict[str, str], status: int, error: str
) -> None:
    oauth.hooks.preset_consent(ADA)
    response = requests.get(oauth.auth_url(**params), allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == status
    assert "Location" not in response.headers
    assert f"Error: {error}" in response.text
    # The preset answer survives a refused request.
    survivor = requests.get(oauth.auth_url(), allow_redirects=False, timeout=TIMEOUT)
    assert "code" in parse_qs(urlsplit(survivor.headers["Location"]).query)


@pytest.mark.parametrize(
    ("language", "unknown_client", "mismatch"),
    [
        (
            "uk",
            "Клієнта OAuth не знайдено.",
            "URI переспрямування в запиті, http://127.0.0.1:9/other, не збігається з жодним із "
            "зареєстрованих для клієнта OAuth.",
        ),
        (
            "ru",
            "Клиент OAuth не найден.",
            "URI перенаправления в запросе, http://127.0.0.1:9/other, не совпадает ни с одним из "  # noqa: RUF001
            "зарегистрированных для клиента OAuth.",
        ),
        (
            "en",
            "The OAuth client was not found.",
            "The redirect URI in the request, http://127.0.0.1:9/other, does not match the ones "
            "registered for the OAuth client.",
        ),
    ],
)
def test_an_error_page_is_written_in_the_reader_language(
    oauth: OAuthDriver, language: str, unknown_client: str, mismatch: str
) -> None:
    """A person reads the page; Google's error code on it stays as Google writes it."""
    headers = {"Accept-Language": language}
    pages = [
        requests.get(oauth.auth_url(client_id="nobody"), headers=headers, timeout=TIMEOUT),
        requests.get(
            oauth.auth_url(redirect_uri="http://127.0.0.1:9/other"), headers=headers, timeout=TIMEOUT
        ),
        # Google's own hl parameter outranks the browser's languages.
        requests.get(oauth.auth_url(client_id="nobody", hl=language), timeout=TIMEOUT),
    ]
    descriptions = [html.unescape(page.text) for page in pages]
    assert unknown_client in descriptions[0]
    assert "invalid_client" in descriptions[0]
    assert mismatch in descriptions[1]
    assert "redirect_uri_mismatch" in descriptions[1]
    assert unknown_client in descriptions[2]


def test_token_errors_stay_english_for_programs_whatever_language_is_asked(oauth: OAuthDriver) -> None:
    response = requests.post(
        f"{oauth.url}/token",
        data={"client_id": "nobody", "client_secret": "x", "grant_type": "authorization_code", "code": "x"},
        headers={"Accept-Language": "uk"},
        timeout=TIMEOUT,
    )
    assert _error(response) == (401, "invalid_client", "The OAuth client was not found.")


def test_login_hint_does_not_override_a_preset_identity(oauth: OAuthDriver) -> None:
    answer = oauth.authorize(identity=OLENA, login_hint=ADA)
    tokens = oauth.exchange(answer["code"]).json()
    assert _userinfo(oauth.url, tokens["access_token"]).json()["sub"] == OLENA_SUB


# --- token endpoint: authorization_code -------------------------------------------------------------


def test_code_exchange_answers_like_google(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens(f"openid email {CONTACTS}")
    assert set(tokens) == {"access_token", "expires_in", "scope", "token_type", "refresh_token", "id_token"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"].split() == sorted([CONTACTS, EMAIL, "openid"])
    assert tokens["access_token"].startswith("ya29.")
    assert tokens["refresh_token"].startswith("1//")


def test_without_openid_there_is_no_id_token(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens(CONTACTS)
    assert "id_token" not in tokens
    assert tokens["scope"] == CONTACTS


def test_http_basic_client_authentication_is_accepted(oauth: OAuthDriver) -> None:
    answer = oauth.authorize()
    response = requests.post(
        f"{oauth.url}/token",
        data={"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_reused_code_is_refused_and_kills_what_it_produced(oauth: OAuthDriver) -> None:
    answer = oauth.authorize()
    first = oauth.exchange(answer["code"]).json()
    assert _userinfo(oauth.url, first["access_token"]).status_code == 200
    assert _error(oauth.exchange(answer["code"])) == (400, "invalid_grant", "Bad Request")
    assert _userinfo(oauth.url, first["access_token"]).status_code == 401


def test_code_expires_after_sixty_seconds(oauth: OAuthDriver) -> None:
    answer = oauth.authorize()
    oauth.hooks.advance_clock(61)
    assert _error(oauth.exchange(answer["code"])) == (400, "invalid_grant", "Bad Request")


def test_unknown_code_is_invalid_grant(oauth: OAuthDriver) -> None:
    assert _error(oauth.exchange("4/0not-a-code")) == (400, "invalid_grant", "Bad Request")


def test_code_of_another_client_is_invalid_grant(oauth: OAuthDriver) -> None:
    oauth.hooks.register_client("other.apps.googleusercontent.com", "other-secret", [REDIRECT_URI])
    answer = oauth.authorize()
    response = requests.post(
        f"{oauth.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": "other.apps.googleusercontent.com",
            "client_secret": "other-secret",
        },
        timeout=TIMEOUT,
    )
    assert _error(response) == (400, "invalid_grant", "Bad Request")


def test_redirect_uri_must_match_exactly_at_the_token_endpoint(oauth: OAuthDriver) -> None:
    answer = oauth.authorize()
    response = oauth.token(
        grant_type="authorization_code", code=answer["code"], redirect_uri=REDIRECT_URI + "/"
    )
    assert _error(response) == (400, "redirect_uri_mismatch", "Bad Request")


@pytest.mark.parametrize(
    ("verifier", "description"),
    [(None, "Missing code verifier."), ("x" * 43, "Invalid code verifier.")],
)
def test_pkce_verifier_is_checked(oauth: OAuthDriver, verifier: str | None, description: str) -> None:
    _, challenge = pkce_pair()
    answer = oauth.authorize(code_challenge=challenge, code_challenge_method="S256")
    extra = {"code_verifier": verifier} if verifier is not None else {}
    assert _error(oauth.exchange(answer["code"], **extra)) == (400, "invalid_grant", description)


def test_verifier_without_a_challenge_is_refused(oauth: OAuthDriver) -> None:
    answer = oauth.authorize()
    status, error, _ = _error(oauth.exchange(answer["code"], code_verifier="v" * 43))
    assert (status, error) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"client_id": "nobody"}, (401, "invalid_client", "The OAuth client was not found.")),
        ({"client_secret": "wrong-secret"}, (401, "invalid_client", "Unauthorized")),
        ({"grant_type": "password"}, (400, "unsupported_grant_type", "Invalid grant_type: password")),
        ({"grant_type": ""}, (400, "invalid_request", "Missing required parameter: grant_type")),
        ({"code": ""}, (400, "invalid_request", "Missing required parameter: code")),
    ],
)
def test_token_request_errors(
    oauth: OAuthDriver, form: dict[str, str], expected: tuple[int, str, str]
) -> None:
    answer = oauth.authorize()
    request = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        **form,
    }
    assert _error(oauth.token(**request)) == expected


def test_client_authenticating_twice_is_refused(oauth: OAuthDriver) -> None:
    response = requests.post(
        f"{oauth.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": "1//x", "client_secret": CLIENT_SECRET},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    assert _error(response)[:2] == (400, "invalid_request")


def test_token_request_must_be_form_encoded(oauth: OAuthDriver) -> None:
    response = requests.post(
        f"{oauth.url}/token",
        json={"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        timeout=TIMEOUT,
    )
    assert _error(response)[:2] == (400, "invalid_request")


# --- refresh tokens: when they are issued, what they carry ------------------------------------------


def test_refresh_token_only_on_first_consent_or_prompt_consent_with_offline_access(
    oauth: OAuthDriver,
) -> None:
    assert "refresh_token" in oauth.exchange(oauth.authorize(access_type="offline")["code"]).json()
    assert "refresh_token" not in oauth.exchange(oauth.authorize(access_type="offline")["code"]).json()
    again = oauth.authorize(access_type="offline", prompt="consent")
    assert "refresh_token" in oauth.exchange(again["code"]).json()
    online = oauth.authorize(access_type="online", prompt="consent", identity=OLENA)
    assert "refresh_token" not in oauth.exchange(online["code"]).json()
    # Olena's first consent was online: offline access later needs prompt=consent.
    later = oauth.authorize(access_type="offline", identity=OLENA)
    assert "refresh_token" not in oauth.exchange(later["code"]).json()


def test_include_granted_scopes_unions_with_earlier_grants(oauth: OAuthDriver) -> None:
    oauth.exchange(oauth.authorize("openid email")["code"])
    alone = oauth.exchange(oauth.authorize(CONTACTS_READONLY)["code"]).json()
    assert alone["scope"] == CONTACTS_READONLY
    union = oauth.exchange(oauth.authorize(CONTACTS, include_granted_scopes="true")["code"]).json()
    assert union["scope"].split() == sorted([CONTACTS, CONTACTS_READONLY, EMAIL, "openid"])


def _refresh(oauth: OAuthDriver, refresh_token: str, **form: str) -> requests.Response:
    return oauth.token(grant_type="refresh_token", refresh_token=refresh_token, **form)


def test_refresh_issues_a_new_access_token_with_the_granted_scopes(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens(f"openid {CONTACTS}")
    refreshed = _refresh(oauth, tokens["refresh_token"]).json()
    assert set(refreshed) == {"access_token", "expires_in", "scope", "token_type", "id_token"}
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["scope"] == tokens["scope"]


def test_refresh_may_narrow_but_not_widen_the_scopes(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens(f"openid {CONTACTS}")
    narrowed = _refresh(oauth, tokens["refresh_token"], scope=CONTACTS).json()
    assert narrowed["scope"] == CONTACTS
    assert "id_token" not in narrowed
    assert _error(_refresh(oauth, tokens["refresh_token"], scope=f"{CONTACTS} email"))[:2] == (
        400,
        "invalid_scope",
    )


def test_unknown_refresh_token_is_invalid_grant(oauth: OAuthDriver) -> None:
    assert _error(_refresh(oauth, "1//unknown")) == (
        400,
        "invalid_grant",
        "Token has been expired or revoked.",
    )


def test_refresh_token_of_another_client_is_invalid_grant(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens()
    oauth.hooks.register_client("other.apps.googleusercontent.com", "other-secret", [REDIRECT_URI])
    response = oauth.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id="other.apps.googleusercontent.com",
        client_secret="other-secret",
    )
    assert _error(response) == (400, "invalid_grant", "Token has been expired or revoked.")


def test_only_the_hundred_newest_refresh_tokens_per_client_live(oauth: OAuthDriver) -> None:
    first = oauth.tokens()["refresh_token"]
    for _ in range(99):
        oauth.exchange(oauth.authorize(access_type="offline", prompt="consent")["code"])
    assert _refresh(oauth, first).status_code == 200
    oauth.exchange(oauth.authorize(access_type="offline", prompt="consent")["code"])
    assert _error(_refresh(oauth, first))[:2] == (400, "invalid_grant")


def test_revoked_grant_makes_the_next_consent_a_first_consent(oauth: OAuthDriver) -> None:
    tokens = oauth.tokens()
    oauth.hooks.revoke_grant(ADA, CLIENT_ID)
    assert _userinfo(oauth.url, tokens["access_token"]).status_code == 401
    assert "refresh_token" in oauth.exchange(oauth.authorize(access_type="offline")["code"]).json()


# --- access token lifetime, revocation, userinfo ----------------------------------------------------


def test_access_tokens_expire_after_the_configured_lifetime(oauth: OAuthDriver) -> None:
    oauth.hooks.set_token_lifetime(5)
    tokens = oauth.tokens()
    assert tokens["expires_in"] == 5
    assert _userinfo(oauth.url, tokens["access_token"]).status_code == 200
    oauth.hooks.advance_clock(5)
    assert _error(_userinfo(oauth.url, tokens["access_token"])) == (
        401,
        "invalid_request",
        "Invalid Credentials",
    )
    assert _refresh(oauth, tokens["refresh_token"]).json()["expires_in"] == 5


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
def test_revoking_either_token_ends_the_grant(oauth: OAuthDriver, which: str) -> None:
    tokens = oauth.tokens()
    response = requests.post(f"{oauth.url}/revoke", data={"token": tokens[which]}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert _userinfo(oauth.url, tokens["access_token"]).status_code == 401
    assert _error(_refresh(oauth, tokens["refresh_token"]))[:2] == (400, "invalid_grant")
    again = requests.post(f"{oauth.url}/revoke", params={"token": tokens[which]}, timeout=TIMEOUT)
    assert _error(again) == (400, "invalid_token", "Token expired or revoked")


def test_revoke_errors(oauth: OAuthDriver) -> None:
    unknown = requests.post(f"{oauth.url}/revoke", data={"token": "ya29.unknown"}, timeout=TIMEOUT)
    assert _error(unknown) == (400, "invalid_token", "Token expired or revoked")
    missing = requests.post(f"{oauth.url}/revoke", timeout=TIMEOUT)
    assert _error(missing)[:2] == (400, "invalid_request")


@pytest.mark.parametrize("path", ["/v1/userinfo", "/oauth2/v3/userinfo"])
def test_userinfo_returns_the_claims_the_scopes_allow(oauth: OAuthDriver, path: str) -> None:
    tokens = oauth.tokens("openid email profile", login_hint=OLENA)
    response = requests.get(
        oauth.url + path, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=TIMEOUT
    )
    assert response.json() == {
        "sub": "110000000000000000001",
        "email": ADA,
        "email_verified": True,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "locale": "en",
    }


def test_userinfo_refuses_missing_tokens_and_tokens_without_sign_in_scopes(oauth: OAuthDriver) -> None:
    missing = requests.get(f"{oauth.url}/v1/userinfo", timeout=TIMEOUT)
    assert _error(missing) == (401, "invalid_request", "Invalid Credentials")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    contacts_only = oauth.tokens(CONTACTS)
    assert _error(_userinfo(oauth.url, contacts_only["access_token"]))[:2] == (403, "insufficient_scope")


def test_openid_configuration_points_at_the_emulator(emulator: RunningEmulator) -> None:
    config: dict[str, Any] = requests.get(
        f"{emulator.url}/.well-known/openid-configuration", timeout=TIMEOUT
    ).json()
    assert config["issuer"] == "https://accounts.google.com"
    assert config["authorization_endpoint"] == f"{emulator.url}/o/oauth2/v2/auth"
    assert config["token_endpoint"] == f"{emulator.url}/token"
    assert config["revocation_endpoint"] == f"{emulator.url}/revoke"
    assert config["userinfo_endpoint"] == f"{emulator.url}/v1/userinfo"
    assert config["code_challenge_methods_supported"] == ["S256"]
    jwks = requests.get(config["jwks_uri"], timeout=TIMEOUT).json()
    x509 = requests.get(f"{emulator.url}/oauth2/v1/certs", timeout=TIMEOUT).json()
    assert [key["kid"] for key in jwks["keys"]] == list(x509)
    assert next(iter(x509.values())).startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("headers", "form", "expected"),
    [
        ({"Authorization": "Basic !!!"}, {}, (401, "invalid_client")),
        ({"Authorization": "Bearer abc"}, {}, (401, "invalid_client")),
        ({}, {"client_id": CLIENT_ID}, (401, "invalid_client")),
        ({}, {"client_secret": CLIENT_SECRET}, (400, "invalid_request")),
    ],
)
def test_malformed_client_authentication(
    oauth: OAuthDriver, headers: dict[str, str], form: dict[str, str], expected: tuple[int, str]
) -> None:
    response = requests.post(
        f"{oauth.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": "1//x", **form},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert _error(response)[:2] == expected


def test_basic_user_and_form_client_id_must_agree(oauth: OAuthDriver) -> None:
    response = requests.post(
        f"{oauth.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": "1//x", "client_id": "someone-else"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    assert _error(response)[:2] == (401, "invalid_client")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"identity": "nobody", "action": "allow"}, "Choose one of the listed accounts."),
        ({"identity": OLENA_SUB, "action": "maybe"}, "Answer with Allow or Deny."),
    ],
)
def test_consent_answers_must_name_an_identity_and_an_action(
    oauth: OAuthDriver, fields: dict[str, str], message: str
) -> None:
    page = requests.get(oauth.auth_url(), timeout=TIMEOUT).text
    response = requests.post(
        f"{oauth.url}/o/oauth2/v2/auth",
        data={"ticket": _ticket(page), **fields},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert message in response.text
