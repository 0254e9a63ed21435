"""Refreshing and revoking a connection's tokens at Google, through google-auth.

Revoking also serves tokens a connect callback received but does not keep
(:func:`revoke_token`, attributed to a :class:`Grantee`).

Every HTTP request to the token and revocation endpoints (retries included) goes through
:mod:`app.google.transport`, which gives it GroupSync's timeout and records it in the ledger
before sending it, on the ledger's own session. The refresh itself is google-auth's public
:meth:`google.oauth2.credentials.Credentials.refresh`. The caller holds no uncommitted
database writes when it calls :func:`refresh` or :func:`revoke`; what a refresh learns (the
new access token, a "needs reconnect" mark, the ledger's lifecycle entry) is committed here.

``invalid_grant`` on refresh is terminal (access revoked, refresh token expired — including
the 7-day expiry of apps in Google's "Testing" status): the connection is marked
"needs reconnect" at once and nothing retries it. 429 and 5xx answers, timeouts and dropped
connections are retried a few times (:data:`app.google.retry.TOKEN_POLICY`), honouring Retry-After.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from urllib.parse import urlencode

import google.auth.exceptions
from google.oauth2.credentials import Credentials
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import DbSession, unit_of_work, utcnow
from app.google.endpoints import GoogleEndpoints
from app.google.models import GoogleConnection, StatusReason
from app.google.pacing import shared_pacer
from app.google.retry import TOKEN_POLICY, TransientError, TransportFailureError, retrying, transient_answer
from app.google.transport import Answer, AuthRequest, AuthTransportError, GoogleTransport, attempt_flow
from app.google.vault import AccessToken, TokenUnreadableError, TokenVault, report_unreadable
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record

REFRESH_METHOD = "oauth2.token.refresh"
REVOKE_METHOD = "oauth2.revoke"
ATTEMPTS = TOKEN_POLICY.max_attempts
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


def token_transport(session: DbSession, holder: TokenHolder, settings: Settings) -> GoogleTransport:
    """The transport for one token operation: recorded ahead, timed, in turn with the account's requests.

    Also used for the Workspace JWT-bearer grant (:mod:`app.google.domain`).
    """
    return GoogleTransport(
        GoogleRequestLedger(session),
        timeout=settings.http_timeout_seconds,
        pacer=shared_pacer(settings),
        pacing_key=holder.google_sub,
    )


def _transient(outcome: str) -> TransientError:
    # Refreshing and revoking change nothing when repeated, so every failure without an answer is retried.
    return TransientError(outcome, may_have_applied=False)


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
    started = token_flow(connection, context, EventTag.GOOGLE_REQUEST, "started", method=REFRESH_METHOD)
    attempts = 0

    def attempt_refresh(transport: GoogleTransport) -> Credentials:
        nonlocal attempts
        attempts += 1
        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token,
            token_uri=endpoints.token_uri,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
        )
        request = AuthRequest(transport, attempt_flow(started, attempts), raise_transient=True)
        try:
            credentials.refresh(request)  # type: ignore[no-untyped-call]
        except AuthTransportError as exc:
            raise _transient(exc.outcome) from None
        return credentials

    try:
        with token_transport(session, connection, settings) as transport:
            fresh = retrying(TOKEN_POLICY, sleep)(attempt_refresh, transport)
    except google.auth.exceptions.RefreshError as exc:
        code = _error_code(exc)
        with unit_of_work(session, expire_on_commit=False):
            record(session, token_flow(connection, context, EventTag.TOKEN_REFRESH_FAILED, code))
            if code == "invalid_grant":
                connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
        if code == "invalid_grant":
            raise RefreshRejectedError("Google answered invalid_grant") from None
        raise TokenEndpointUnavailableError(code) from None
    except TransientError as exc:
        with unit_of_work(session, expire_on_commit=False):
            record(session, token_flow(connection, context, EventTag.TOKEN_REFRESH_FAILED, exc.outcome))
        raise TokenEndpointUnavailableError(exc.outcome) from None
    token, new_refresh, expiry = str(fresh.token), fresh.refresh_token, fresh.expiry
    # google-auth reports expiry as a naive UTC datetime.
    expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
    # Committed without expiring what the caller has loaded: a sync run holds thousands of rows.
    with unit_of_work(session, expire_on_commit=False):
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
    started = token_flow(holder, context, EventTag.GOOGLE_REQUEST, "started", method=REVOKE_METHOD)
    attempts = 0

    def attempt_revoke(transport: GoogleTransport) -> Answer:
        nonlocal attempts
        attempts += 1
        try:
            answer = transport.send(
                attempt_flow(started, attempts),
                "POST",
                endpoints.revoke_uri,
                body=urlencode({"token": token}).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                to_token_endpoint=True,
            )
        except TransportFailureError as exc:
            raise _transient(exc.outcome) from None
        transient = transient_answer(answer.status, answer.headers)
        if transient is not None:
            raise transient
        return answer

    try:
        with token_transport(session, holder, settings) as transport:
            response = retrying(TOKEN_POLICY, sleep)(attempt_revoke, transport)
    except TransientError:
        return RevokeOutcome.FAILED
    if response.status == 200:
        return RevokeOutcome.REVOKED
    # Google answers 400 invalid_token for a token that is already revoked or expired.
    if response.status == 400 and b"invalid_token" in response.content:
        return RevokeOutcome.ALREADY_REVOKED
    return RevokeOutcome.FAILED
