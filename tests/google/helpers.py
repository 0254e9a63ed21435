"""Real Google credentials from the emulator, for tests that drive the People API end to end.

The consent is preset through the emulator's hook, then the same two requests a browser and
GroupSync's callback would make are sent: the authorization request (answered with a
redirect carrying a code) and the authorization-code exchange at ``/token`` with PKCE. The
credentials returned carry the refresh token, token URI, client id and secret, so
google-auth can refresh them against the emulator too.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import requests
from google.oauth2.credentials import Credentials

from app.config import Settings
from app.google.endpoints import CONTACTS_SCOPE, GoogleEndpoints
from groupsync_emulator.hooks import HooksClient
from tests.emulator.conftest import pkce_pair
from tests.google.connecting import ADA, TIMEOUT


def emulator_credentials(
    settings: Settings, identity: str = ADA, scopes: Sequence[str] = (CONTACTS_SCOPE,)
) -> Credentials:
    """Credentials for ``identity`` (a sub or e-mail of an emulator test identity) granting ``scopes``.

    ``settings`` must point at a running emulator (``GOOGLE_EMULATOR_HOST``) in which the
    app's OAuth client is registered with the redirect URI ``<public_url>/google/callback``.
    """
    if settings.google_emulator_host is None:
        raise ValueError("emulator_credentials needs settings with GOOGLE_EMULATOR_HOST set")
    endpoints = GoogleEndpoints.for_settings(settings)
    HooksClient(endpoints.people_api, timeout=TIMEOUT).preset_consent(identity, list(scopes))
    redirect_uri = f"{settings.public_url}/google/callback"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    answer = requests.get(
        endpoints.auth_uri,
        params={
            "client_id": settings.google_client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "access_type": "offline",
            "prompt": "consent",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code in (302, 303), f"authorization answered {answer.status_code}: {answer.text}"
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query.get("state") == [state], "the emulator did not echo the state"
    assert "code" in query, f"no authorization code in the redirect: {query}"
    exchange = requests.post(
        endpoints.token_uri,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret,
            "code_verifier": verifier,
        },
        timeout=TIMEOUT,
    )
    assert exchange.status_code == 200, f"code exchange answered {exchange.status_code}: {exchange.text}"
    tokens = exchange.json()
    return Credentials(
        token=tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        token_uri=endpoints.token_uri,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        scopes=tokens["scope"].split(),
    )


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
