"""Driving a sign-in end to end: the app's pages, Google's (the emulator's) consent, the callback."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from groupsync_emulator.hooks import HooksClient

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, page: str = "/sign-in") -> str:
    """The CSRF token a real form on ``page`` carries for this client's session."""
    found = _CSRF.search(client.get(page).get_data(as_text=True))
    assert found is not None, f"no CSRF token on {page}"
    return found.group(1)


def start_sign_in(client: FlaskClient, next_url: str = "") -> str:
    """Press "Continue with Google"; returns the authorization URL the app redirects to."""
    response = client.post(
        "/sign-in", data={"csrf_token": csrf_token(client), "next": next_url, "age_confirmed": "yes"}
    )
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def answer_at_google(
    google: HooksClient,
    authorization_url: str,
    identity: str = "ada.lovelace@example.com",
    scopes: list[str] | None = None,
    deny: bool = False,
) -> str:
    """Let the emulator answer the consent as ``identity`` would; returns the callback path and query."""
    google.preset_consent(identity, scopes, deny)
    answer = requests.get(authorization_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in_via_google(
    client: FlaskClient,
    google: HooksClient,
    identity: str = "ada.lovelace@example.com",
    scopes: list[str] | None = None,
    next_url: str = "",
) -> TestResponse:
    """The whole round trip; returns the app's answer to Google's redirect."""
    callback = answer_at_google(google, start_sign_in(client, next_url), identity, scopes)
    return client.get(callback)
