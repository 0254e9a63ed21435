"""Refreshing and revoking a connection's tokens at Google, through google-auth.

Revoking also serves tokens a connect callback received but does not keep
(:func:`revoke_token`, attributed to a :class:`Grantee`).

Every HTTP request to the token and revocation endpoints (retries included) goes through
a :class:`~app.google.oauth.LedgeredRequest`, which gives it GroupSync's timeout and records
it in the ledger before sending it, committing the caller's session (see
:class:`~app.ledger.services.GoogleRequestLedger`). Outcome entries join the caller's
transaction; the caller commits.

``invalid_grant`` on refresh is terminal (access revoked, refresh token expired — including
the 7-day expiry of apps in Google's "Testing" status): the connection is marked
"needs reconnect" at once and nothing retries it. 5xx answers, timeouts and dropped
connections are retried a few times with jittered exponential backoff.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
from google.oauth2 import _client as google_oauth_client
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from app.config import Settings
from app.db import utcnow
from app.google.endpoints import GoogleEndpoints
from app.google.models import GoogleConnection, StatusReason
from app.google.oauth import LedgeredRequest, transport_outcome
from app.google.vault import AccessToken, TokenUnreadableError, TokenVault, report_unreadable
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record

REFRESH_METHOD = "oauth2.token.refresh"
REVOKE_METHOD = "oauth2.revoke"
ATTEMPTS = 4
"""Tries per refresh or revoke; a token endpoint still failing after this is reported, not hammered."""

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Grantee:
    """Whose grant a token is when no connection holds it (yet): a callback's freshly issued tokens."""

    account_id: int
    user_id: int
    google_sub: str


TokenHolder = GoogleConnection | Grantee
"""Who the ledger attributes a token request to."""


@dataclass(frozen=True)
class CallContext:
    """Why a token request is made: goes into every ledger entry it produces."""

    purpose: Purpose
    trigger: Trigger
    actor: str


class RefreshRejectedError(Exception):
    """Google refused the refresh token for good (``invalid_grant``); the connection needs reconnecting."""


class TokenEndpointUnavailableError(Exception):
    """The token endpoint kept failing (5xx, timeouts) or refused the client; try again later."""

    def __init__(self, outcome: str) -> None:
        super().__init__(f"Google's token endpoint failed: {outcome}")
        self.outcome = outcome


class RevokeOutcome(StrEnum):
    REVOKED = "revoked"
    ALREADY_REVOKED = "already_revoked"
    NO_TOKEN = "no_token"  # noqa: S105 (an outcome name)
    TOKEN_UNREADABLE = "token_unreadable"  # noqa: S105 (an outcome name)
    FAILED = "failed"


class _TransientError(Exception):
    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def _transport(
    session: Session, holder: TokenHolder, context: CallContext, method: str, timeout: float
) -> LedgeredRequest:
    """google-auth's transport for one token operation, recording each request ahead in the ledger."""
    started = token_flow(holder, context, EventTag.GOOGLE_REQUEST, "started", method=method)
    return LedgeredRequest(GoogleRequestLedger(session), started, timeout)


def token_flow(
    holder: TokenHolder,
    context: CallContext,
    tag: EventTag,
    outcome: str,
    *,
    method: str | None = None,
    detail: Mapping[str, str | int | bool] | None = None,
) -> Flow:
    return Flow(
        tag=tag,
        account_id=holder.account_id,
        kind=FlowKind.TOKEN if tag is EventTag.GOOGLE_REQUEST else FlowKind.LIFECYCLE,
        purpose=context.purpose,
        trigger=context.trigger,
        actor=context.actor,
        outcome=outcome,
        destination=Destination.GOOGLE if tag is EventTag.GOOGLE_REQUEST else Destination.GROUPSYNC_STORE,
        user_id=holder.user_id,
        google_account=holder.google_sub,
        method=method,
        categories=frozenset({DataCategory.OAUTH_TOKENS}),
        detail=detail or {},
    )


def _retrying(sleep: Sleep) -> Retrying:
    return Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, _TransientError)),
        wait=wait_exponential_jitter(multiplier=0.5, max=8.0),
        stop=stop_after_attempt(ATTEMPTS),
        sleep=sleep,
        reraise=True,
    )


def _error_code(exc: google.auth.exceptions.RefreshError) -> str:
    """Google's OAuth error code (``invalid_grant``...), reduced to a safe, short ledger outcome."""
    data = exc.args[1] if len(exc.args) > 1 else None
    code = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,40}", code):
        return code
    return "error"


def refresh(
    session: Session,
    connection: GoogleConnection,
    vault: TokenVault,
    settings: Settings,
    context: CallContext,
    *,
    sleep: Sleep = time.sleep,
) -> AccessToken:
    """Get a fresh access token with the stored refresh token and seal it in the connection.

    Raises :class:`RefreshRejectedError` (connection now needs reconnecting),
    :class:`TokenEndpointUnavailableError` (connection unchanged; try later) or
    :class:`~app.google.vault.TokenUnreadableError` (the caller flags the connection).
    """
    refresh_token = vault.refresh_token(connection)
    if refresh_token is None:
        raise RefreshRejectedError("the connection holds no refresh token")
    endpoints = GoogleEndpoints.for_settings(settings)
    transport = _transport(session, connection, context, REFRESH_METHOD, settings.http_timeout_seconds)

    def attempt_refresh() -> tuple[str, str | None, Any]:
        try:
            token, new_refresh, expiry, _ = google_oauth_client.refresh_grant(  # type: ignore[no-untyped-call]
                transport,
                endpoints.token_uri,
                refresh_token,
                settings.google_client_id,
                settings.google_client_secret,
                can_retry=False,
            )
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise _TransientError(_error_code(exc)) from None
            raise
        except google.auth.exceptions.TransportError as exc:
            raise _TransientError(transport_outcome(exc)) from None
        return token, new_refresh, expiry

    try:
        token, new_refresh, expiry = _retrying(sleep)(attempt_refresh)
    except google.auth.exceptions.RefreshError as exc:
        code = _error_code(exc)
        record(session, token_flow(connection, context, EventTag.TOKEN_REFRESH_FAILED, code))
        if code == "invalid_grant":
            connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
            raise RefreshRejectedError("Google answered invalid_grant") from None
        raise TokenEndpointUnavailableError(code) from None
    except _TransientError as exc:
        record(session, token_flow(connection, context, EventTag.TOKEN_REFRESH_FAILED, exc.outcome))
        raise TokenEndpointUnavailableError(exc.outcome) from None
    # google-auth reports expiry as a naive UTC datetime.
    expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
    vault.store_access_token(connection, token, expires_at)
    if new_refresh and new_refresh != refresh_token:
        vault.store_refresh_token(connection, new_refresh)
    connection.last_used_at = utcnow()
    record(session, token_flow(connection, context, EventTag.TOKEN_REFRESHED, "ok"))
    return AccessToken(token, expires_at)


def revoke(
    session: Session,
    connection: GoogleConnection,
    vault: TokenVault,
    settings: Settings,
    context: CallContext,
    *,
    sleep: Sleep = time.sleep,
) -> RevokeOutcome:
    """Ask Google to revoke the connection's grant (revoking the refresh token ends its access tokens too).

    Never raises for Google's answer: an already revoked token is fine, and a failure is
    reported in the outcome so a disconnect still goes on to delete what GroupSync holds.
    """
    try:
        refresh_token = vault.refresh_token(connection)
        access = vault.access_token(connection) if refresh_token is None else None
    except TokenUnreadableError as exc:
        report_unreadable(exc)
        return RevokeOutcome.TOKEN_UNREADABLE
    token = refresh_token or (access.token if access is not None else None)
    if token is None:
        return RevokeOutcome.NO_TOKEN
    return revoke_token(session, connection, token, settings, context, sleep=sleep)


def revoke_token(
    session: Session,
    holder: TokenHolder,
    token: str,
    settings: Settings,
    context: CallContext,
    *,
    sleep: Sleep = time.sleep,
) -> RevokeOutcome:
    """Ask Google to revoke ``token``; Google ends the whole grant of that Google account to GroupSync.

    Never raises for Google's answer: each request is in the ledger, and the outcome says
    how it ended.
    """
    endpoints = GoogleEndpoints.for_settings(settings)
    transport = _transport(session, holder, context, REVOKE_METHOD, settings.http_timeout_seconds)

    def attempt_revoke() -> Any:
        try:
            response = transport(
                endpoints.revoke_uri,
                method="POST",
                body=urlencode({"token": token}).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except google.auth.exceptions.TransportError as exc:
            raise _TransientError(transport_outcome(exc)) from None
        if response.status >= 500:
            raise _TransientError(str(response.status))
        return response

    try:
        response = _retrying(sleep)(attempt_revoke)
    except _TransientError:
        return RevokeOutcome.FAILED
    if response.status == 200:
        return RevokeOutcome.REVOKED
    # Google answers 400 invalid_token for a token that is already revoked or expired.
    if response.status == 400 and b"invalid_token" in response.data:
        return RevokeOutcome.ALREADY_REVOKED
    return RevokeOutcome.FAILED
