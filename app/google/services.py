"""Connecting and disconnecting a user's Google account for contact sync.

The order the user goes through: the disclosure, accepted with an affirmative click, then
Google's consent screen (:func:`start_connect` stores the acceptance and builds the
address), the callback (:func:`complete_connect`), and at any time :func:`disconnect`.
:func:`ensure_may_call_people` is the gate every People API caller passes first.
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
from app.accounts.services import BEFORE_MEMBER_REMOVAL
from app.config import Settings, current_settings
from app.db import utcnow
from app.google import domain_models, oauth
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
from app.privacy import disclosure
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy_version
from app.sync.models import ContactSync

CONSENT_LIFETIME = timedelta(minutes=10)
EXCHANGE_METHOD = "oauth2.token.exchange"


class PeopleCallForbiddenError(Exception):
    """GroupSync must not call the People API for this user now; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no People API call allowed: {reason}")
        self.reason = reason


class DisclosureRequiredError(Exception):
    """The user has not accepted the current disclosure (or accepted an outdated one)."""


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
class AcceptedTerms:
    """The versions shown on the disclosure page the user agreed to."""

    disclosure: str
    policy: str

    def __str__(self) -> str:
        return f"disclosure {self.disclosure} with privacy policy {self.policy}"


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


def connection_of(session: Session, membership: Membership) -> GoogleConnection | None:
    return session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == membership.account_id,
            GoogleConnection.user_id == membership.user_id,
        )
    )


@dataclass(frozen=True)
class Overview:
    """What the user's connection page shows."""

    connection: GoogleConnection | None
    disclosure_accepted: bool
    last_receipt: DisconnectReceipt | None


def overview(session: Session, membership: Membership) -> Overview:
    receipt = session.scalar(
        select(DisconnectReceipt)
        .where(
            DisconnectReceipt.account_id == membership.account_id,
            DisconnectReceipt.user_id == membership.user_id,
        )
        .order_by(DisconnectReceipt.created_at.desc(), DisconnectReceipt.id.desc())
        .limit(1)
    )
    return Overview(
        connection_of(session, membership),
        disclosure.has_current_acceptance(session, membership.user_id, membership.account_id),
        receipt,
    )


def ensure_may_call_people(session: Session, connection: GoogleConnection) -> None:
    """Raise :class:`PeopleCallForbiddenError` unless a People API call for this connection is allowed.

    Allowed means: the user accepted the current disclosure in this account, and the
    connection is usable (connected, contacts scope granted, a refresh token held).
    """
    if connection.domain_connection_id is not None:
        # Through the domain: the admin's statement and the user's notice stand in for the disclosure.
        problem = domain_models.call_problem(session, connection.domain_connection_id, connection.user_id)
        if problem is not None:
            raise PeopleCallForbiddenError(problem)
    elif not disclosure.has_current_acceptance(session, connection.user_id, connection.account_id):
        raise PeopleCallForbiddenError("disclosure_not_accepted")
    if not connection.is_usable:
        raise PeopleCallForbiddenError(connection.status_reason.value or connection.status.value)


def _accept_disclosure(session: Session, membership: Membership, accepted: AcceptedTerms) -> None:
    if accepted.disclosure != disclosure.current().version or accepted.policy != current_policy_version():
        raise DisclosureRequiredError(f"{accepted} is not what is in force now")
    session.add(
        DisclosureAcceptance(
            account_id=membership.account_id,
            user_id=membership.user_id,
            version=accepted.disclosure,
            policy_version=accepted.policy,
        )
    )
    record(
        session,
        Flow(
            tag=EventTag.DISCLOSURE_ACCEPTED,
            account_id=membership.account_id,
            kind=FlowKind.LIFECYCLE,
            purpose=Purpose.ACCOUNT_CONNECTION,
            trigger=Trigger.USER_ACTION,
            actor=f"user:{membership.user_id}",
            outcome="ok",
            destination=Destination.GROUPSYNC_STORE,
            user_id=membership.user_id,
            detail={"version": accepted.disclosure, "policy_version": accepted.policy},
        ),
    )
    session.flush()


def start_connect(
    session: Session,
    membership: Membership,
    browser_token: str,
    *,
    settings: Settings,
    vault: TokenVault,
    redirect_uri: str,
    accepted: AcceptedTerms | None = None,
) -> str:
    """Open a single-use consent request for this browser and user; returns Google's consent URL.

    ``accepted`` is the disclosure and policy versions the user just accepted with an
    affirmative click; the acceptance is stored first. Raises
    :class:`DisclosureRequiredError` when the current disclosure is not (or no longer)
    accepted: nobody is sent to Google before reading it.
    """
    if accepted is not None:
        _accept_disclosure(session, membership, accepted)
    if not disclosure.has_current_acceptance(session, membership.user_id, membership.account_id):
        raise DisclosureRequiredError("accept the current disclosure first")
    session.execute(delete(ConsentRequest).where(ConsentRequest.created_at < utcnow() - CONSENT_LIFETIME))
    state = oauth.new_secret()
    verifier = oauth.new_secret()
    request = ConsentRequest(
        state_hash=_hash(state),
        browser_hash=_hash(browser_token),
        account_id=membership.account_id,
        user_id=membership.user_id,
    )
    session.add(request)
    session.flush()
    vault.store_verifier(request, verifier)
    session.commit()
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
    request = _consume_request(session, membership, browser_token, state)
    if request is None:
        session.commit()
        return ConnectResult(ConnectOutcome.EXPIRED)
    if error is not None or not code:
        record(
            session,
            _consent_flow(membership, EventTag.CONSENT_DENIED, "denied", {"error": _error_label(error)}),
        )
        session.commit()
        return ConnectResult(ConnectOutcome.DENIED)
    try:
        verifier = vault.verifier(request)
    except TokenUnreadableError as exc:
        report_unreadable(exc)
        session.commit()
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
        if exc.request is not None:
            google_requests.finish(exc.request, exc.request.ended(exc.outcome))
        session.commit()
        return ConnectResult(ConnectOutcome.FAILED)
    outcome = grant.request.ended(str(grant.http_status))
    google_requests.finish(grant.request, replace(outcome, google_account=grant.identity.sub))
    granted = " ".join(sorted(grant.scopes))
    connection = connection_of(session, membership)
    if (
        connection is not None
        and connection.status is not ConnectionStatus.DISCONNECTED
        and connection.google_sub not in (None, grant.identity.sub)
    ):
        # The syncs' groups live in the connected account; switching accounts goes through a disconnect.
        _revoke_unused_grant(session, membership, grant, settings)
        session.commit()
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
        _revoke_unused_grant(session, membership, grant, settings)
        session.commit()
        return ConnectResult(ConnectOutcome.CONTACTS_NOT_GRANTED, grant.identity.email)
    if grant.refresh_token is None:
        # prompt=consent with offline access always yields one; without it sync could not last an hour.
        session.commit()
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
    session.commit()
    return ConnectResult(ConnectOutcome.CONNECTED, grant.identity.email)


def _disconnect(
    session: Session,
    connection: GoogleConnection,
    context: CallContext,
    reason: StatusReason,
    *,
    settings: Settings,
    vault: TokenVault,
) -> DisconnectReceipt:
    outcome = revoke(session, connection, vault, settings, context)
    vault.erase(connection)
    connection.status = ConnectionStatus.DISCONNECTED
    connection.status_reason = reason
    connection.disconnected_at = utcnow()
    syncs = session.scalars(
        select(ContactSync).where(ContactSync.connection_id == connection.id, ContactSync.enabled.is_(True))
    ).all()
    for sync in syncs:
        sync.enabled = False
    stopped = len(syncs)
    record(
        session,
        token_flow(
            connection,
            context,
            EventTag.CONNECTION_REVOKED,
            outcome.value,
            detail={"tokens_deleted": True, "syncs_stopped": stopped, "reason": reason.value},
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
        syncs_stopped=stopped,
    )
    session.add(receipt)
    return receipt


def disconnect(
    session: Session,
    connection: GoogleConnection,
    actor: str,
    *,
    settings: Settings | None = None,
    vault: TokenVault | None = None,
    reason: StatusReason = StatusReason.DISCONNECTED_BY_USER,
) -> DisconnectReceipt:
    """Revoke at Google (already revoked is fine), delete the tokens, stop every sync, keep a receipt.

    ``actor`` is ``user:<id>`` of whoever asked (the user, or an admin removing them) or ``system``.
    Contacts already written to Google stay there. ``settings`` and ``vault`` default to the
    running app's, so other domains (user data deletion, account deletion) can call this as is.
    """
    settings = settings or current_settings()
    trigger = Trigger.USER_ACTION if actor == f"user:{connection.user_id}" else Trigger.ADMIN
    context = CallContext(Purpose.ACCOUNT_CONNECTION, trigger, actor)
    receipt = _disconnect(
        session,
        connection,
        context,
        reason,
        settings=settings,
        vault=vault or TokenVault.for_settings(settings),
    )
    session.commit()
    return receipt


def purge_unused_connections(session: Session, *, settings: Settings, vault: TokenVault) -> int:
    """Retention: disconnect (revoke, delete tokens, stop syncs) connections unused for too long.

    "Unused" counts from the last time credentials were handed out or refreshed, else from
    the connection. Each purge is recorded, and each connection committed on its own so a
    failure half-way keeps what was done. Returns how many connections were purged.
    """
    cutoff = utcnow() - timedelta(days=settings.retention_connection_days)
    last_activity = func.coalesce(
        GoogleConnection.last_used_at, GoogleConnection.connected_at, GoogleConnection.created_at
    )
    stale = session.scalars(
        select(GoogleConnection).where(
            GoogleConnection.status != ConnectionStatus.DISCONNECTED, last_activity < cutoff
        )
    ).all()
    context = CallContext(Purpose.RETENTION, Trigger.SYSTEM, "system")
    for connection in stale:
        _disconnect(
            session, connection, context, StatusReason.UNUSED_TOO_LONG, settings=settings, vault=vault
        )
        record(
            session,
            token_flow(
                connection,
                context,
                EventTag.RETENTION_PURGED,
                "ok",
                detail={"retention_days": settings.retention_connection_days},
            ),
        )
        session.commit()
    return len(stale)


def disconnect_before_removal(session: Session, membership: Membership) -> None:
    """Removal step for :func:`app.accounts.services.remove_member`; revoking at Google commits."""
    connection = connection_of(session, membership)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        return
    settings = current_settings()
    context = CallContext(Purpose.ACCOUNT_CONNECTION, Trigger.ADMIN, "system")
    _disconnect(
        session,
        connection,
        context,
        StatusReason.DISCONNECTED_BY_ADMIN,
        settings=settings,
        vault=TokenVault.for_settings(settings),
    )


BEFORE_MEMBER_REMOVAL.append(disconnect_before_removal)
