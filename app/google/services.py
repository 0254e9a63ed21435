"""Connecting and disconnecting a user's Google account for contact sync.

The order the user goes through: the disclosure, accepted with an affirmative click (that
part, and the check that it is in force, belong to :mod:`app.flows.connections`), then
Google's consent screen (:func:`start_connect` builds the address), the callback
(:func:`complete_connect`), and at any time :func:`disconnect`. Nothing here knows about
syncs or the disclosure: the flows that start a run or a disconnect handle those around
these calls.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.accounts.models import Membership
from app.config import Settings
from app.db import DbSession, unit_of_work, utcnow
from app.google import oauth
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import (
    ConnectionStatus,
    ConsentRequest,
    DisconnectReceipt,
    GoogleConnection,
    StatusReason,
)
from app.google.tokens import CallContext, Grantee, revoke, revoke_token, token_flow
from app.google.vault import TokenUnreadableError, TokenVault, report_unreadable
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record

CONSENT_LIFETIME = timedelta(minutes=10)
EXCHANGE_METHOD = "oauth2.token.exchange"
RETENTION_CONTEXT = CallContext(Purpose.RETENTION, Trigger.SYSTEM, "system")
"""Who disconnects a connection unused for longer than the retention period: GroupSync itself."""


class PeopleCallForbiddenError(Exception):
    """GroupSync must not call the People API for this user now; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no People API call allowed: {reason}")
        self.reason = reason


class ConnectOutcome(StrEnum):
    CONNECTED = "connected"
    CONTACTS_NOT_GRANTED = "contacts_not_granted"
    DENIED = "denied"
    EXPIRED = "expired"
    """The answer matched no pending request of this browser and user (old, reused or forged)."""
    OTHER_ACCOUNT = "other_account"
    """Reconnecting chose a different Google account than the one the syncs write to."""
    FAILED = "failed"


@dataclass(frozen=True)
class ConnectResult:
    outcome: ConnectOutcome
    email: str = ""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _nonce_for(verifier: str) -> str:
    # Derived, so nothing besides the sealed verifier has to be kept; the hash does not reveal it.
    digest = hashlib.sha256(b"groupsync/connect-nonce/" + verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def connection_of(session: DbSession, membership: Membership) -> GoogleConnection | None:
    return session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == membership.account_id,
            GoogleConnection.user_id == membership.user_id,
        )
    )


def last_receipt(session: DbSession, membership: Membership) -> DisconnectReceipt | None:
    return session.scalar(
        select(DisconnectReceipt)
        .where(
            DisconnectReceipt.account_id == membership.account_id,
            DisconnectReceipt.user_id == membership.user_id,
        )
        .order_by(DisconnectReceipt.created_at.desc(), DisconnectReceipt.id.desc())
        .limit(1)
    )


def ensure_usable(connection: GoogleConnection) -> None:
    """Raise :class:`PeopleCallForbiddenError` unless the connection is connected, with the contacts
    scope granted and a refresh token held (or its Workspace domain's connection to go through).

    Google's half of the People API gate; whoever starts a run also checks the disclosure
    (:func:`app.sync.services.ensure_may_call_people`).
    """
    if not connection.is_usable:
        raise PeopleCallForbiddenError(connection.status_reason.value or connection.status.value)


def start_connect(
    session: DbSession,
    membership: Membership,
    browser_token: str,
    *,
    settings: Settings,
    vault: TokenVault,
    redirect_uri: str,
) -> str:
    """Open a single-use consent request for this browser and user; returns Google's consent URL.

    Only :func:`app.flows.connections.start_connect` calls this, once it has checked that the
    user accepted the disclosure in force: nobody is sent to Google before reading it.
    """
    with unit_of_work(session) as work:
        work.execute(delete(ConsentRequest).where(ConsentRequest.created_at < utcnow() - CONSENT_LIFETIME))
        state = oauth.new_secret()
        verifier = oauth.new_secret()
        request = ConsentRequest(
            state_hash=_hash(state),
            browser_hash=_hash(browser_token),
            account_id=membership.account_id,
            user_id=membership.user_id,
        )
        work.add(request)
        work.flush()
        vault.store_verifier(request, verifier)
    return oauth.contacts_consent_url(
        settings,
        redirect_uri=redirect_uri,
        state=state,
        nonce=_nonce_for(verifier),
        code_verifier=verifier,
        login_hint=membership.user.email,
    )


def _consume_request(
    session: Session, membership: Membership, browser_token: str, state: str
) -> ConsentRequest | None:
    # One DELETE ... RETURNING: of two answers racing with the same state, only one gets the row.
    request: ConsentRequest | None = session.scalar(
        delete(ConsentRequest).where(ConsentRequest.state_hash == _hash(state)).returning(ConsentRequest)
    )
    if request is None:
        return None
    if (
        request.browser_hash != _hash(browser_token)
        or request.user_id != membership.user_id
        or request.account_id != membership.account_id
        or request.created_at < utcnow() - CONSENT_LIFETIME
    ):
        return None
    return request


def _consent_flow(membership: Membership, tag: EventTag, outcome: str, detail: dict[str, str]) -> Flow:
    return Flow(
        tag=tag,
        account_id=membership.account_id,
        kind=FlowKind.LIFECYCLE,
        purpose=Purpose.ACCOUNT_CONNECTION,
        trigger=Trigger.USER_ACTION,
        actor=f"user:{membership.user_id}",
        outcome=outcome,
        destination=Destination.GROUPSYNC_STORE,
        user_id=membership.user_id,
        categories=frozenset({DataCategory.OAUTH_TOKENS}),
        detail=detail,
    )


def _exchange_flow(membership: Membership) -> Flow:
    """The code exchange's ledger entry; whose Google account it was is known only from the answer."""
    return Flow(
        tag=EventTag.GOOGLE_REQUEST,
        account_id=membership.account_id,
        kind=FlowKind.TOKEN,
        purpose=Purpose.ACCOUNT_CONNECTION,
        trigger=Trigger.USER_ACTION,
        actor=f"user:{membership.user_id}",
        outcome="started",
        destination=Destination.GOOGLE,
        user_id=membership.user_id,
        method=EXCHANGE_METHOD,
        categories=frozenset({DataCategory.OAUTH_TOKENS, DataCategory.IDENTITY}),
    )


def _error_label(error: str | None) -> str:
    """Google's ``error`` parameter (``access_denied``...) as a safe ledger value; it arrives in the URL."""
    return error if error is not None and re.fullmatch(r"[a-z_]{1,40}", error) else "other"


def _revoke_unused_grant(
    session: Session, membership: Membership, grant: oauth.TokenGrant, settings: Settings
) -> None:
    """Revoke tokens Google just issued that GroupSync will not keep.

    Google ends the whole grant of that Google account to GroupSync, so the revocation is
    left out while another connection still holds a refresh token from the same account:
    it would cut that connection off.
    """
    in_use = session.scalar(
        select(func.count())
        .select_from(GoogleConnection)
        .where(
            GoogleConnection.google_sub == grant.identity.sub,
            GoogleConnection.refresh_token_ciphertext.is_not(None),
            ~(
                (GoogleConnection.account_id == membership.account_id)
                & (GoogleConnection.user_id == membership.user_id)
            ),
        )
    )
    if in_use:
        return
    holder = Grantee(membership.account_id, membership.user_id, grant.identity.sub)
    context = CallContext(Purpose.ACCOUNT_CONNECTION, Trigger.USER_ACTION, f"user:{membership.user_id}")
    revoke_token(session, holder, grant.refresh_token or grant.access_token, settings, context)


def complete_connect(
    session: Session,
    membership: Membership,
    browser_token: str,
    *,
    state: str,
    code: str | None,
    error: str | None,
    settings: Settings,
    vault: TokenVault,
    redirect_uri: str,
) -> ConnectResult:
    """Handle Google's answer to the consent request: store the grant only if contacts access was granted.

    When the person pressed Deny or unticked the contacts scope, nothing is stored, an
    existing connection (whose grant is then gone too) is marked for reconnecting, and no
    People API call can follow. Tokens Google issued that are not kept (contacts unticked,
    or another Google account than the connected one) are revoked at Google.
    """
    with unit_of_work(session):
        # Consumed (and committed) before Google is asked: an answer is used once, whatever follows.
        request = _consume_request(session, membership, browser_token, state)
        if request is None:
            return ConnectResult(ConnectOutcome.EXPIRED)
        if error is not None or not code:
            record(
                session,
                _consent_flow(membership, EventTag.CONSENT_DENIED, "denied", {"error": _error_label(error)}),
            )
            return ConnectResult(ConnectOutcome.DENIED)
        try:
            verifier = vault.verifier(request)
        except TokenUnreadableError as exc:
            report_unreadable(exc)
            return ConnectResult(ConnectOutcome.EXPIRED)
    google_requests = GoogleRequestLedger(session)
    try:
        grant = oauth.exchange_code(
            settings,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            nonce=_nonce_for(verifier),
            scopes=oauth.CONTACTS_CONSENT_SCOPES,
            required_scopes=frozenset({"openid"}),
            ledger=google_requests,
            flow=_exchange_flow(membership),
        )
    except oauth.OAuthError as exc:
        with unit_of_work(session):
            if exc.request is not None:
                google_requests.finish(exc.request, exc.request.ended(exc.outcome))
        return ConnectResult(ConnectOutcome.FAILED)
    with unit_of_work(session):
        outcome = grant.request.ended(str(grant.http_status))
        google_requests.finish(grant.request, replace(outcome, google_account=grant.identity.sub))
        result = _keep_grant(session, membership, grant, vault)
    if result.outcome in (ConnectOutcome.OTHER_ACCOUNT, ConnectOutcome.CONTACTS_NOT_GRANTED):
        with unit_of_work(session):
            _revoke_unused_grant(session, membership, grant, settings)
    return result


def _keep_grant(
    session: Session, membership: Membership, grant: oauth.TokenGrant, vault: TokenVault
) -> ConnectResult:
    """Store the grant when it may be kept; the result says what happened to it."""
    granted = " ".join(sorted(grant.scopes))
    connection = connection_of(session, membership)
    if (
        connection is not None
        and connection.status is not ConnectionStatus.DISCONNECTED
        and connection.google_sub not in (None, grant.identity.sub)
    ):
        # The syncs' groups live in the connected account; switching accounts goes through a disconnect.
        return ConnectResult(ConnectOutcome.OTHER_ACCOUNT, connection.email)
    if CONTACTS_SCOPE not in grant.scopes:
        record(
            session,
            _consent_flow(membership, EventTag.CONSENT_DENIED, "contacts_not_granted", {"scopes": granted}),
        )
        if connection is not None and connection.status is not ConnectionStatus.DISCONNECTED:
            vault.erase(connection)
            connection.mark_needs_reconnect(StatusReason.CONTACTS_NOT_GRANTED)
            connection.granted_scopes = granted
        return ConnectResult(ConnectOutcome.CONTACTS_NOT_GRANTED, grant.identity.email)
    if grant.refresh_token is None:
        # prompt=consent with offline access always yields one; without it sync could not last an hour.
        return ConnectResult(ConnectOutcome.FAILED)
    if connection is None:
        connection = GoogleConnection(account_id=membership.account_id, user_id=membership.user_id)
        session.add(connection)
        session.flush()
    now = utcnow()
    connection.status = ConnectionStatus.CONNECTED
    connection.status_reason = StatusReason.NONE
    connection.google_sub = grant.identity.sub
    connection.email = grant.identity.email
    connection.granted_scopes = granted
    connection.connected_at = now
    connection.last_used_at = now
    connection.disconnected_at = None
    vault.store_refresh_token(connection, grant.refresh_token)
    vault.store_access_token(connection, grant.access_token, grant.expires_at)
    record(session, _consent_flow(membership, EventTag.CONSENT_GRANTED, "ok", {"scopes": granted}))
    return ConnectResult(ConnectOutcome.CONNECTED, grant.identity.email)


def _disconnect(
    session: Session,
    connection: GoogleConnection,
    context: CallContext,
    reason: StatusReason,
    *,
    settings: Settings,
    vault: TokenVault,
    syncs_stopped: int,
) -> DisconnectReceipt:
    # No writes (or row locks) may be held across a request to Google (docs/ledger.md): the
    # caller's work so far is committed first, as recording the revocation ahead used to do.
    with unit_of_work(session, expire_on_commit=False):
        pass
    outcome = revoke(session, connection, vault, settings, context)
    vault.erase(connection)
    connection.status = ConnectionStatus.DISCONNECTED
    connection.status_reason = reason
    connection.disconnected_at = utcnow()
    record(
        session,
        token_flow(
            connection,
            context,
            EventTag.CONNECTION_REVOKED,
            outcome.value,
            detail={"tokens_deleted": True, "syncs_stopped": syncs_stopped, "reason": reason.value},
        ),
    )
    receipt = DisconnectReceipt(
        account_id=connection.account_id,
        user_id=connection.user_id,
        connection_id=connection.id,
        actor=context.actor,
        reason=reason,
        revoke_outcome=outcome.value,
        tokens_deleted=True,
        syncs_stopped=syncs_stopped,
    )
    session.add(receipt)
    return receipt


def disconnect(
    session: DbSession,
    connection: GoogleConnection,
    context: CallContext,
    *,
    settings: Settings,
    vault: TokenVault,
    reason: StatusReason,
    syncs_stopped: int = 0,
) -> DisconnectReceipt:
    """Revoke at Google (already revoked is fine), delete the tokens, keep a receipt.

    Contacts already written to Google stay there. Stopping the connection's syncs is the
    caller's part (:func:`app.flows.connections.disconnect` does it first and says how many
    it stopped in ``syncs_stopped``). Whatever the caller changed must be committed before:
    revoking is a request to Google.
    """
    with unit_of_work(session) as work:
        return _disconnect(
            work, connection, context, reason, settings=settings, vault=vault, syncs_stopped=syncs_stopped
        )


def stale_connections(session: DbSession, *, settings: Settings) -> list[GoogleConnection]:
    """Connections unused for longer than the retention period allows.

    "Unused" counts from the last time credentials were handed out or refreshed, else from
    the connection.
    """
    cutoff = utcnow() - timedelta(days=settings.retention_connection_days)
    last_activity = func.coalesce(
        GoogleConnection.last_used_at, GoogleConnection.connected_at, GoogleConnection.created_at
    )
    return list(
        session.scalars(
            select(GoogleConnection).where(
                GoogleConnection.status != ConnectionStatus.DISCONNECTED, last_activity < cutoff
            )
        )
    )


def record_purge(session: DbSession, connection: GoogleConnection, *, settings: Settings) -> None:
    """The retention entry of a connection purged for being unused."""
    with unit_of_work(session) as work:
        record(
            work,
            token_flow(
                connection,
                RETENTION_CONTEXT,
                EventTag.RETENTION_PURGED,
                "ok",
                detail={"retention_days": settings.retention_connection_days},
            ),
        )


def forget_identities(session: DbSession, *, settings: Settings) -> int:
    """Erase the Google e-mail and ``sub`` of connections disconnected longer than the retention period.

    They were kept so the user could see which account a disconnected connection was; each
    erasure is recorded (before it, so the entry still carries the account's keyed hash).
    """
    cutoff = utcnow() - timedelta(days=settings.retention_connection_days)
    since = func.coalesce(GoogleConnection.disconnected_at, GoogleConnection.updated_at)
    old = list(
        session.scalars(
            select(GoogleConnection).where(
                GoogleConnection.status == ConnectionStatus.DISCONNECTED,
                since < cutoff,
                (GoogleConnection.google_sub.is_not(None)) | (GoogleConnection.email != ""),
            )
        )
    )
    for connection in old:
        with unit_of_work(session) as work:
            record(
                work,
                token_flow(
                    connection,
                    RETENTION_CONTEXT,
                    EventTag.RETENTION_PURGED,
                    "ok",
                    detail={"retention_days": settings.retention_connection_days, "erased": "email,sub"},
                ),
            )
            connection.google_sub = None
            connection.email = ""
    return len(old)


def context_for(connection: GoogleConnection, actor: str) -> CallContext:
    """Who asks for a disconnect: the user themself, an admin (``user:<id>``) or ``system``."""
    trigger = Trigger.USER_ACTION if actor == f"user:{connection.user_id}" else Trigger.ADMIN
    return CallContext(Purpose.ACCOUNT_CONNECTION, trigger, actor)
