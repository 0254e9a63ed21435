"""Fixtures for driving the emulator's OAuth side over real HTTP, raw and through Google's libraries."""

from __future__ import annotations

import base64
import hashlib
import pickle
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.hooks import HooksClient

CLIENT_ID = "emulator-test.apps.googleusercontent.com"
CLIENT_SECRET = "emulator-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
ADA = "ada.lovelace@example.com"
OLENA = "olena.kovalenko@example.com"
CONTACTS = "https://www.googleapis.com/auth/contacts"
CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.readonly"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
TIMEOUT = 10


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class OAuthDriver:
    """Speaks the OAuth protocol to the emulator by hand, for the cases Google's libraries never produce."""

    url: str
    hooks: HooksClient

    def auth_url(self, scope: str = "openid email profile", **params: str) -> str:
        query = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": scope,
            "state": "st-1",
            **params,
        }
        return f"{self.url}/o/oauth2/v2/auth?{urlencode(query)}"

    def authorize(
        self,
        scope: str = "openid email profile",
        identity: str = ADA,
        ticked: list[str] | None = None,
        **params: str,
    ) -> dict[str, str]:
        """Preset the consent, follow the authorization URL, return the redirect's query parameters."""
        self.hooks.preset_consent(identity, ticked)
        response = requests.get(self.auth_url(scope, **params), allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def token(self, **form: str) -> requests.Response:
        body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
        return requests.post(f"{self.url}/token", data=body, timeout=TIMEOUT)

    def exchange(self, code: str, **form: str) -> requests.Response:
        return self.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, **form)

    def tokens(self, scope: str = "openid email profile", **params: str) -> dict[str, Any]:
        """A full PKCE flow with offline access: the token endpoint's JSON answer."""
        verifier, challenge = pkce_pair()
        answer = self.authorize(
            scope,
            code_challenge=challenge,
            code_challenge_method="S256",
            access_type="offline",
            **params,
        )
        response = self.exchange(answer["code"], code_verifier=verifier)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def hooks(emulator: RunningEmulator) -> HooksClient:
    """The session's emulator, emptied, with this package's test OAuth client registered."""
    client = HooksClient(emulator.url)
    client.reset()
    client.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    return client


@pytest.fixture
def oauth(emulator: RunningEmulator, hooks: HooksClient) -> OAuthDriver:
    return OAuthDriver(emulator.url, hooks)


def text_pickle(running: RunningEmulator) -> bytes:
    """The parts of the state every state file has, pickled with protocol 3: it names each class as a line
    of text, so a test can write the module names of an older emulator back in."""
    state = running.state
    with state.lock:
        return pickle.dumps((state.clock, state.oauth, state.people, state.log), protocol=3)


def plant_state(path: Path, blob: bytes) -> None:
    """Replace the state in a state file, as an older emulator (or someone tampering) would have left it."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT OR REPLACE INTO emulator_state VALUES ('state', ?)", (blob,))
    conn.close()
