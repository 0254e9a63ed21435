"""What an account admin does to connect a Workspace domain.

The admin connects the domain (:func:`connect`), gives GroupSync a service account (the
installation's, or their own key: :func:`store_key`, :func:`remove_key`), confirms once that
the domain's users have been informed (:func:`accept_statement`) and checks it all with
:func:`test`. Inviting colleagues and giving them lists is :mod:`app.workspace.members`.
Token handling lives in :mod:`app.google.domain`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.oauth2.credentials import Credentials
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.config import Settings
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import gettext as _
from app.google.domain import (
    DomainTokenError,
    KeyFileError,
    ServiceAccountKey,
    installation_identity,
    request_token,
    signer_for,
)
from app.google.domain_models import (
    STATEMENT_VERSION,
    DomainConnection,
    DomainMode,
    DomainProblem,
    DomainStatementAcceptance,
    DomainStatus,
)
from app.google.endpoints import CONTACTS_SCOPE
from app.google.errors import PeopleError
from app.google.people import PeopleClient, RequestContext
from app.google.tokens import CallContext, Grantee, TokenEndpointUnavailableError
from app.google.vault import TokenVault
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record

_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class WorkspaceError(Exception):
    """What the admin asked for cannot be done; the message says why, for the page."""


def admin_flow(
    tag: EventTag,
    account_id: int,
    actor_user_id: int,
    *,
    user_id: int | None = None,
    outcome: str = "ok",
    **detail: str,
) -> Flow:
    return Flow(
        tag=tag,
        account_id=account_id,
        kind=FlowKind.LIFECYCLE,
        purpose=Purpose.ACCOUNT_CONNECTION,
        trigger=Trigger.ADMIN if user_id is None or user_id != actor_user_id else Trigger.USER_ACTION,
        actor=f"user:{actor_user_id}",
        outcome=outcome,
        destination=Destination.GROUPSYNC_STORE,
        user_id=user_id if user_id is not None else actor_user_id,
        detail=detail,
    )


def require_admin(membership: Membership) -> None:
    if membership.role is not Role.ADMIN:
        raise WorkspaceError(_("only an account admin can manage the Workspace domain"))


def domain_of(session: DbSession, account_id: int) -> DomainConnection | None:
    return session.scalar(select(DomainConnection).where(DomainConnection.account_id == account_id))


def connect(
    session: DbSession, admin: Membership, domain: str, mode: DomainMode, settings: Settings
) -> DomainConnection:
    """Start connecting ``domain``; the admin's own address must be in it (the test acts as the admin)."""
    require_admin(admin)
    name = domain.strip().lower()
    if not _DOMAIN.fullmatch(name):
        raise WorkspaceError(_("'%(domain)s' is not a domain name (for example example.com)", domain=domain))
    if admin.user.email.lower().rpartition("@")[2] != name:
        raise WorkspaceError(
            _(
                "your address %(email)s is not in %(domain)s: connect the domain as one of its admins",
                email=admin.user.email,
                domain=name,
            )
        )
    if (
        mode is DomainMode.INSTALLATION
        and settings.domain_service_account is None
        and settings.domain_service_account_key_file is None
    ):
        raise WorkspaceError(_("this installation has no service account; upload your own key instead"))
    existing = domain_of(session, admin.account_id)
    if existing is not None:
        raise WorkspaceError(_("this account is already connected to %(domain)s", domain=existing.domain))
    with unit_of_work(session):
        connection = DomainConnection(
            account_id=admin.account_id, domain=name, mode=mode, created_by_user_id=admin.user_id
        )
        if mode is DomainMode.INSTALLATION:
            identity = installation_identity(settings)
            connection.client_email, connection.client_id = identity or (
                settings.domain_service_account or "",
                "",
            )
        session.add(connection)
        session.flush()
        record(
            session, admin_flow(EventTag.DOMAIN_CONNECTED, admin.account_id, admin.user_id, mode=mode.value)
        )
    return connection


def store_key(
    session: DbSession, vault: TokenVault, domain: DomainConnection, admin: Membership, text: str
) -> None:
    """Validate the uploaded key file and seal it; it is never shown again. A new upload rotates it."""
    require_admin(admin)
    if domain.mode is not DomainMode.CUSTOMER_KEY:
        raise WorkspaceError(_("this domain uses the installation's service account; it takes no key"))
    try:
        key = ServiceAccountKey.parse(text)
    except KeyFileError as exc:
        raise WorkspaceError(
            _("the key file cannot be used: %(problem)s", problem=_(exc.msgid, **exc.params))
        ) from None
    with unit_of_work(session):
        vault.store_service_account_key(domain, key.to_json())
        domain.client_email, domain.client_id, domain.key_id = (
            key.client_email,
            key.client_id,
            key.private_key_id,
        )
        domain.key_uploaded_at = utcnow()
        domain.status, domain.problem, domain.problem_detail = DomainStatus.SETTING_UP, DomainProblem.NONE, ""
        record(
            session,
            admin_flow(
                EventTag.DOMAIN_KEY_STORED, admin.account_id, admin.user_id, key_id=key.private_key_id
            ),
        )


def remove_key(session: DbSession, domain: DomainConnection, admin: Membership) -> None:
    """Forget the key; every sync through the domain stops at once (nothing in Google is deleted)."""
    require_admin(admin)
    with unit_of_work(session):
        TokenVault.erase_service_account_key(domain)
        key_id, domain.key_id = domain.key_id, ""
        domain.status, domain.problem, domain.problem_detail = (
            DomainStatus.SETTING_UP,
            DomainProblem.NO_KEY,
            "",
        )
        record(
            session, admin_flow(EventTag.DOMAIN_KEY_REMOVED, admin.account_id, admin.user_id, key_id=key_id)
        )


def statement_accepted(session: DbSession, domain: DomainConnection) -> bool:
    return (
        session.scalar(
            select(DomainStatementAcceptance.id).where(
                DomainStatementAcceptance.domain_connection_id == domain.id,
                DomainStatementAcceptance.version == STATEMENT_VERSION,
            )
        )
        is not None
    )


def accept_statement(session: DbSession, domain: DomainConnection, admin: Membership, version: str) -> None:
    """The admin confirms, once per statement version, that the domain's users were informed."""
    require_admin(admin)
    if version != STATEMENT_VERSION:
        raise WorkspaceError(_("the statement changed while the page was open; read it again and confirm"))
    if statement_accepted(session, domain):
        return
    with unit_of_work(session):
        session.add(
            DomainStatementAcceptance(
                account_id=domain.account_id,
                domain_connection_id=domain.id,
                user_id=admin.user_id,
                version=version,
            )
        )
        record(
            session,
            admin_flow(EventTag.DOMAIN_STATEMENT_ACCEPTED, admin.account_id, admin.user_id, version=version),
        )


@dataclass(frozen=True)
class TestResult:
    problem: DomainProblem
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is DomainProblem.NONE


def test(
    session: DbSession, settings: Settings, vault: TokenVault, domain: DomainConnection, admin: Membership
) -> TestResult:
    """Mint a token for the admin and make one harmless request; the connection's status follows."""
    require_admin(admin)
    holder = Grantee(admin.account_id, admin.user_id, admin.user.google_sub)
    context = CallContext(Purpose.ACCOUNT_CONNECTION, Trigger.ADMIN, f"user:{admin.user_id}")
    result = _try(session, settings, vault, domain, admin=admin, holder=holder, context=context)
    with unit_of_work(session):
        domain.last_tested_at = utcnow()
        if result.ok:
            domain.status, domain.problem, domain.problem_detail = DomainStatus.ACTIVE, DomainProblem.NONE, ""
        else:
            domain.fail(result.problem, result.detail)
        record(
            session,
            admin_flow(
                EventTag.DOMAIN_TESTED, admin.account_id, admin.user_id, outcome=result.problem.value or "ok"
            ),
        )
    return result


def _try(
    session: DbSession,
    settings: Settings,
    vault: TokenVault,
    domain: DomainConnection,
    *,
    admin: Membership,
    holder: Grantee,
    context: CallContext,
) -> TestResult:
    try:
        signer = signer_for(domain, vault, settings)
        access = request_token(
            session, settings, signer, admin.user.email, holder=holder, context=context, mode=domain.mode
        )
    except DomainTokenError as exc:
        return TestResult(exc.problem, exc.detail)
    except TokenEndpointUnavailableError as exc:
        return TestResult(DomainProblem.TOKEN_ENDPOINT_DOWN, exc.outcome)
    credentials = Credentials(token=access.token, scopes=[CONTACTS_SCOPE])  # type: ignore[no-untyped-call]
    request_context = RequestContext(
        account_id=admin.account_id,
        user_id=admin.user_id,
        google_sub=admin.user.google_sub,
        trigger=Trigger.ADMIN,
        actor=f"user:{admin.user_id}",
        purpose=Purpose.ACCOUNT_CONNECTION,
    )
    try:
        # The least the People API lets anyone read: a count, one person's metadata, dropped unseen.
        with PeopleClient.for_settings(
            settings, credentials, request_context, GoogleRequestLedger(session)
        ) as people:
            people.count_contacts()
    except PeopleError as exc:
        return TestResult(DomainProblem.PEOPLE_DENIED, type(exc).__name__)
    return TestResult(DomainProblem.NONE)
