"""The only module that talks to Google's OAuth 2.0 / OpenID Connect endpoints.

It builds authorization URLs, exchanges authorization codes and verifies ID tokens, for
both consents GroupSync asks for: sign-in (``openid email profile``, nothing stored but the
identity) and the contacts connection (incremental, offline, always re-prompted so Google
returns a refresh token). It keeps no state: callers generate and keep ``state``, ``nonce``
and the PKCE verifier. Each request goes through :mod:`app.google.transport` (timed, recorded
in the ledger before it is sent); the code exchange's outcome is left to the caller (its
:class:`TokenGrant` or :class:`OAuthError` carries the started request), who may only then
know whose it was. The caller holds no uncommitted database writes when it calls
:func:`exchange_code`, and records that outcome before writing again (see
:class:`~app.ledger.services.GoogleRequestLedger`). An authorization code is single-use, so
the exchange is never retried. Nothing here logs a code, a token or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
import google.auth.transport
from google.oauth2 import id_token as google_id_token
from google_auth_oauthlib.flow import Flow as OAuthFlow

from app.config import Settings
from app.db import utcnow
from app.google.endpoints import CONTACTS_SCOPE, GOOGLE_ID_TOKEN_ISSUERS, SIGN_IN_SCOPES, GoogleEndpoints
from app.google.retry import TransportFailureError
from app.google.transport import Answer, AuthRequest, GoogleTransport
from app.ledger.events import Flow, FlowKind
from app.ledger.services import GoogleRequestLedger, StartedRequest

CONTACTS_CONSENT_SCOPES = ("openid", "email", CONTACTS_SCOPE)
"""The connect flow asks again for ``openid email`` (already granted at sign-in, so no new
consent) only to learn from the ID token which Google account granted contacts access."""

# Google reports the short sign-in scopes as these URLs in token responses.
_SCOPE_ALIASES = {
    "https://www.googleapis.com/auth/userinfo.email": "email",
    "https://www.googleapis.com/auth/userinfo.profile": "profile",
}


class OAuthError(Exception):
    """A token request or ID token that GroupSync cannot accept.

    ``outcome`` is short and free of secrets: it goes into the ledger and the user's message.
    """

    def __init__(self, outcome: str, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.http_status = http_status
        self.request: StartedRequest | None = None
        """The code exchange's started ledger entry, for the caller to record the outcome of."""


class TokenEndpointError(OAuthError):
    """Google's token endpoint refused the code (``outcome`` is its error code) or was unreachable."""


class IdTokenError(OAuthError):
    """The ID token failed a check: signature, audience, issuer, expiry or nonce."""


class ScopesNotGrantedError(OAuthError):
    """The person did not grant a scope the flow cannot work without."""

    def __init__(self, missing: frozenset[str]) -> None:
        super().__init__("scopes_missing", "not granted: " + " ".join(sorted(missing)))
        self.missing = missing


@dataclass(frozen=True)
class Identity:
    """Who signed in, from a verified ID token; ``sub`` is the stable key."""

    sub: str
    email: str
    email_verified: bool
    name: str


@dataclass(frozen=True)
class TokenGrant:
    """A successful code exchange. Token fields are kept out of ``repr`` so they cannot reach a log."""

    identity: Identity
    scopes: frozenset[str]
    """Granted scopes as Google reported them, with the sign-in URLs folded to ``email``/``profile``."""
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    http_status: int
    request: StartedRequest
    """The code exchange's started ledger entry, for the caller to record the outcome of."""


def new_secret() -> str:
    """A fresh value for ``state``, ``nonce`` or a PKCE verifier (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def code_challenge(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def sign_in_url(settings: Settings, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
    """Where to send the browser to sign in: identity scopes only, no offline access."""
    return _authorization_url(
        settings,
        SIGN_IN_SCOPES,
        redirect_uri=redirect_uri,
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        access_type="online",
        prompt="select_account",
    )


def contacts_consent_url(
    settings: Settings,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    login_hint: str | None = None,
) -> str:
    """Where to send the browser to grant the contacts scope on top of what sign-in granted.

    ``prompt=consent`` makes Google issue a refresh token even when the person granted
    contacts access before (it only sends one on a fresh consent).
    """
    extra = {"login_hint": login_hint} if login_hint else {}
    return _authorization_url(
        settings,
        CONTACTS_CONSENT_SCOPES,
        redirect_uri=redirect_uri,
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        access_type="offline",
        prompt="consent",
        include_granted_scopes="true",
        **extra,
    )


def exchange_code(
    settings: Settings,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    nonce: str,
    scopes: tuple[str, ...],
    required_scopes: frozenset[str],
    ledger: GoogleRequestLedger,
    flow: Flow,
) -> TokenGrant:
    """Redeem an authorization code and verify the ID token that comes with it.

    ``scopes`` must be what the authorization URL asked for; ``required_scopes`` (short
    names) is what the caller cannot work without. ``flow`` is the code exchange's ledger
    entry as far as it is known before the answer; the certificate fetch is recorded here
    in full, the exchange's outcome by the caller. Raises :class:`OAuthError` subclasses,
    whose ``http_status`` is the token endpoint's answer (0 when none arrived).
    """
    endpoints = GoogleEndpoints.for_settings(settings)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.google_client_id,
        "client_secret": settings.google_client_secret,
        "code_verifier": code_verifier,
    }
    with GoogleTransport(ledger, timeout=settings.http_timeout_seconds) as transport:
        started, answer = transport.send_leaving_outcome(
            flow,
            "POST",
            endpoints.token_uri,
            body=urlencode(form).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        status = answer.status if isinstance(answer, Answer) else 0
        try:
            token = _token_response(answer)
            granted = _granted_scopes(token.get("scope", ""))
            missing = required_scopes - granted
            if missing:
                raise ScopesNotGrantedError(missing)
            raw_id_token = token.get("id_token")
            if not isinstance(raw_id_token, str):
                raise IdTokenError("id_token_missing", "the token response carries no ID token")
            identity = verify_id_token(
                settings, raw_id_token, nonce=nonce, request=AuthRequest(transport, certs_flow(flow))
            )
        except OAuthError as exc:
            exc.request = started
            exc.http_status = status
            raise
    expires_in = token.get("expires_in")
    refresh = token.get("refresh_token")
    return TokenGrant(
        identity=identity,
        scopes=granted,
        access_token=str(token.get("access_token", "")),
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_at=utcnow() + timedelta(seconds=int(expires_in)) if expires_in is not None else None,
        http_status=status,
        request=started,
    )


CERTS_METHOD = "oauth2.certs"


def certs_flow(flow: Flow) -> Flow:
    """The ledger entry of fetching Google's public signing keys for a flow's ID token: no user data."""
    return replace(flow, kind=FlowKind.TOKEN, method=CERTS_METHOD, records=0, categories=frozenset())


def _token_response(answer: Answer | TransportFailureError) -> Mapping[str, Any]:
    """The token endpoint's JSON answer, or the :class:`TokenEndpointError` it amounts to."""
    if isinstance(answer, TransportFailureError):
        if answer.outcome in ("timeout", "connect_timeout"):
            raise TokenEndpointError("timeout", "the token endpoint did not answer in time")
        raise TokenEndpointError("unreachable", "the token endpoint could not be reached")
    try:
        token = json.loads(answer.content)
    except ValueError:
        token = None
    if answer.status == 200 and isinstance(token, dict) and isinstance(token.get("access_token"), str):
        return token
    code = token.get("error") if isinstance(token, dict) else None
    outcome = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else f"http_{answer.status}"
    raise TokenEndpointError(
        outcome, f"the token endpoint refused the code (HTTP {answer.status})", answer.status
    )


_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def verify_id_token(
    settings: Settings, raw: str, *, nonce: str, request: google.auth.transport.Request
) -> Identity:
    """Check signature, audience and expiry (google-auth), then issuer and nonce.

    ``request`` fetches Google's signing certificates (an :class:`~app.google.transport.AuthRequest`).
    """
    endpoints = GoogleEndpoints.for_settings(settings)
    try:
        claims: Mapping[str, Any] = google_id_token.verify_token(
            raw,
            request,
            audience=settings.google_client_id,
            certs_url=endpoints.certs_uri,
        )
    except google.auth.exceptions.TransportError:
        raise IdTokenError("certs_unreachable", "Google's signing keys could not be fetched") from None
    except (ValueError, google.auth.exceptions.GoogleAuthError):
        raise IdTokenError(
            "id_token_invalid", "the ID token's signature, audience or times are wrong"
        ) from None
    if claims.get("iss") not in GOOGLE_ID_TOKEN_ISSUERS:
        raise IdTokenError("id_token_issuer", "the ID token was not issued by Google")
    expires = claims.get("exp")
    if not isinstance(expires, int) or expires <= utcnow().timestamp():
        raise IdTokenError("id_token_expired", "the ID token has expired")
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise IdTokenError("id_token_nonce", "the ID token belongs to another sign-in")
    sub = claims.get("sub")
    email = claims.get("email")
    if not isinstance(sub, str) or not sub or not isinstance(email, str) or not email:
        raise IdTokenError("id_token_identity", "the ID token names no account or e-mail address")
    return Identity(
        sub=sub,
        email=email,
        email_verified=claims.get("email_verified") is True,
        name=str(claims.get("name") or ""),
    )


def _granted_scopes(scope: object) -> frozenset[str]:
    names = (
        scope.split()
        if isinstance(scope, str)
        else [str(s) for s in scope]
        if isinstance(scope, list)
        else []
    )
    return frozenset(_SCOPE_ALIASES.get(name, name) for name in names)


def _flow(settings: Settings, scopes: tuple[str, ...], redirect_uri: str) -> Any:
    endpoints = GoogleEndpoints.for_settings(settings)
    if settings.uses_emulator:
        # The emulator speaks plain HTTP on loopback; oauthlib refuses that unless told.
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    config = {
        "web": {
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret,
            "auth_uri": endpoints.auth_uri,
            "token_uri": endpoints.token_uri,
        }
    }
    return OAuthFlow.from_client_config(
        config, scopes=list(scopes), redirect_uri=redirect_uri, autogenerate_code_verifier=False
    )


def _authorization_url(
    settings: Settings,
    scopes: tuple[str, ...],
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    **params: str,
) -> str:
    flow = _flow(settings, scopes, redirect_uri)
    url: str
    url, _ = flow.authorization_url(
        state=state,
        nonce=nonce,
        code_challenge=code_challenge(code_verifier),
        code_challenge_method="S256",
        **params,
    )
    return url
