"""What an account admin does with a Workspace domain, and what its users see.

The admin connects the domain (:func:`connect`), gives GroupSync a service account (the
installation's, or their own key: :func:`store_key`, :func:`remove_key`), confirms once that
the domain's users have been informed (:func:`accept_statement`), checks it all with
:func:`test` and gives members lists (:func:`assign`). Before the first sync into a user's
Contacts the user is told (:func:`notify`); a member can turn a sync off for themselves
(:func:`turn_off`). Token handling lives in :mod:`app.google.domain`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import force_locale
from google.oauth2.credentials import Credentials
from sqlalchemy import select

from app.accounts import services as accounts_services
from app.accounts.models import Account, Membership, Role
from app.config import Settings
from app.crm.models import ContactList
from app.crm.services import grant_access
from app.db import DbSession, plain, unit_of_work, utcnow
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
    DomainAssignment,
    DomainConnection,
    DomainMode,
    DomainNotice,
    DomainProblem,
    DomainStatementAcceptance,
    DomainStatus,
)
from app.google.endpoints import CONTACTS_SCOPE
from app.google.errors import PeopleError
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.google.people import PeopleClient, RequestContext
from app.google.tokens import CallContext, Grantee, TokenEndpointUnavailableError
from app.google.vault import TokenVault
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record
from app.mail import Mail, Mailer, MailError
from app.sync.models import ContactSync
from app.sync.services import disable_sync

_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class WorkspaceError(Exception):
    """What the admin asked for cannot be done; the message says why, for the page."""


def _flow(
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


def _require_admin(membership: Membership) -> None:
    if membership.role is not Role.ADMIN:
        raise WorkspaceError(_("only an account admin can manage the Workspace domain"))


def domain_of(session: DbSession, account_id: int) -> DomainConnection | None:
    return session.scalar(select(DomainConnection).where(DomainConnection.account_id == account_id))


def connect(
    session: DbSession, admin: Membership, domain: str, mode: DomainMode, settings: Settings
) -> DomainConnection:
    """Start connecting ``domain``; the admin's own address must be in it (the test acts as the admin)."""
    _require_admin(admin)
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
        record(session, _flow(EventTag.DOMAIN_CONNECTED, admin.account_id, admin.user_id, mode=mode.value))
    return connection


def store_key(
    session: DbSession, vault: TokenVault, domain: DomainConnection, admin: Membership, text: str
) -> None:
    """Validate the uploaded key file and seal it; it is never shown again. A new upload rotates it."""
    _require_admin(admin)
    if domain.mode is not DomainMode.CUSTOMER_KEY:
        raise WorkspaceError(_("this domain uses the installation's service account; it takes no key"))
    try:
        key = ServiceAccountKey.parse(text)
    except KeyFileError as exc:
        raise WorkspaceError(_("the key file cannot be used: %(problem)s", problem=exc)) from None
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
            _flow(EventTag.DOMAIN_KEY_STORED, admin.account_id, admin.user_id, key_id=key.private_key_id),
        )


def remove_key(session: DbSession, domain: DomainConnection, admin: Membership) -> None:
    """Forget the key; every sync through the domain stops at once (nothing in Google is deleted)."""
    _require_admin(admin)
    with unit_of_work(session):
        TokenVault.erase_service_account_key(domain)
        key_id, domain.key_id = domain.key_id, ""
        domain.status, domain.problem, domain.problem_detail = (
            DomainStatus.SETTING_UP,
            DomainProblem.NO_KEY,
            "",
        )
        record(session, _flow(EventTag.DOMAIN_KEY_REMOVED, admin.account_id, admin.user_id, key_id=key_id))


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
    _require_admin(admin)
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
            _flow(EventTag.DOMAIN_STATEMENT_ACCEPTED, admin.account_id, admin.user_id, version=version),
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
    _require_admin(admin)
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
            _flow(
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


# --- members ------------------------------------------------------------------------------------


def invite(session: DbSession, domain: DomainConnection, admin: Membership, email: str) -> None:
    """Invite a colleague by address; only addresses in the domain, as members."""
    _require_admin(admin)
    if not domain.covers(email.strip()):
        raise WorkspaceError(
            _(
                "%(email)s is not an address in %(domain)s",
                email=email.strip() or "that",
                domain=domain.domain,
            )
        )
    account = session.get(Account, domain.account_id)
    assert account is not None
    try:
        accounts_services.invite(
            plain(session), account, email=email, role=Role.MEMBER, invited_by=admin.user
        )
    except accounts_services.MembershipError as exc:
        raise WorkspaceError(str(exc)) from None


def domain_members(session: DbSession, domain: DomainConnection) -> list[Membership]:
    """Members of the account whose address is in the domain (the only ones the admin can assign)."""
    members = session.scalars(select(Membership).where(Membership.account_id == domain.account_id)).all()
    return sorted((m for m in members if domain.covers(m.user.email)), key=lambda m: m.user.email.lower())


def _domain_connection_of(
    session: DbSession, domain: DomainConnection, member: Membership
) -> GoogleConnection:
    connection = session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == member.account_id, GoogleConnection.user_id == member.user_id
        )
    )
    if connection is not None and connection.domain_connection_id is None and connection.is_usable:
        raise WorkspaceError(
            _("%(email)s syncs through their own Google connection already", email=member.user.email)
        )
    if connection is None:
        connection = GoogleConnection(account_id=member.account_id, user_id=member.user_id)
        session.add(connection)
    connection.domain_connection_id = domain.id
    connection.status, connection.status_reason = ConnectionStatus.CONNECTED, StatusReason.NONE
    connection.google_sub = member.user.google_sub
    connection.email = member.user.email
    connection.granted_scopes = CONTACTS_SCOPE
    connection.connected_at = connection.connected_at or utcnow()
    session.flush()
    return connection


def notify(
    session: DbSession,
    settings: Settings,
    mailer: Mailer,
    domain: DomainConnection,
    *,
    member: Membership,
    admin: Membership,
) -> bool:
    """Tell the user, once, before the first sync into their Contacts; False when already told."""
    exists = session.scalar(
        select(DomainNotice.id).where(
            DomainNotice.domain_connection_id == domain.id, DomainNotice.user_id == member.user_id
        )
    )
    if exists is not None:
        return False
    account = session.get(Account, domain.account_id)
    mailer.send(notice_mail(settings, member, admin, account.name if account else "your CRM"))
    session.add(
        DomainNotice(account_id=domain.account_id, domain_connection_id=domain.id, user_id=member.user_id)
    )
    record(
        session,
        _flow(
            EventTag.DOMAIN_USER_NOTIFIED,
            domain.account_id,
            admin.user_id,
            user_id=member.user_id,
            channel="email",
        ),
    )
    session.flush()
    return True


def notice_mail(settings: Settings, member: Membership, admin: Membership, account_name: str) -> Mail:
    """The notice in the language the member chose for GroupSync's pages (English if none)."""
    base = settings.public_url
    with force_locale(member.user.language or "en"):
        body = "\n\n".join(
            [
                _("Hello %(name)s,", name=member.user.name or member.user.email),
                _(
                    "%(admin)s, an administrator of %(account)s, has set up GroupSync for your Google "
                    "Workspace domain. GroupSync will add a contact group to your Google Contacts and keep "
                    "it equal to the CRM list(s) you were given. It adds, updates and deletes contacts only "
                    "inside that group and never changes your other contacts or groups.",
                    admin=admin.user.name or admin.user.email,
                    account=account_name,
                ),
                "\n".join(
                    [
                        _(
                            "You can see your syncs, what was synced, and turn a sync off for yourself "
                            "at any time:"
                        ),
                        f"{base}/workspace/my",
                        _("What GroupSync does with Google data: %(url)s", url=f"{base}/google/"),
                        _("Privacy policy: %(url)s", url=f"{base}/privacy"),
                    ]
                ),
            ]
        )
        subject = _("GroupSync will add a contact group to your Google Contacts")
    return Mail(member.user.email, subject, body + "\n")


def assign(
    session: DbSession,
    settings: Settings,
    mailer: Mailer,
    domain: DomainConnection,
    *,
    admin: Membership,
    member: Membership,
    contact_list: ContactList,
) -> ContactSync:
    """Give ``member`` the list, synced through the domain; the member is told first."""
    _require_admin(admin)
    if domain.status is not DomainStatus.ACTIVE:
        raise WorkspaceError(_("test the domain connection first: it has not passed a test"))
    if not statement_accepted(session, domain):
        raise WorkspaceError(_("confirm that the domain's users have been informed first"))
    if member.account_id != domain.account_id or not domain.covers(member.user.email):
        raise WorkspaceError(
            _("%(email)s is not an address in %(domain)s", email=member.user.email, domain=domain.domain)
        )
    if contact_list.account_id != domain.account_id or contact_list.deleted_at is not None:
        raise WorkspaceError(_("no such list in this account"))
    assignment = session.scalar(
        select(DomainAssignment).where(
            DomainAssignment.membership_id == member.id, DomainAssignment.list_id == contact_list.id
        )
    )
    if assignment is not None and assignment.member_turned_off_at is not None:
        raise WorkspaceError(
            _(
                "%(email)s turned this sync off for themselves; only they can turn it on",
                email=member.user.email,
            )
        )
    connection = _domain_connection_of(session, domain, member)
    try:
        notify(session, settings, mailer, domain, member=member, admin=admin)
    except MailError as exc:
        session.rollback()
        raise WorkspaceError(
            f"the notice to {member.user.email} could not be sent, so nothing was assigned ({exc})"
        ) from None
    if assignment is None:
        session.add(
            DomainAssignment(
                account_id=domain.account_id,
                domain_connection_id=domain.id,
                membership_id=member.id,
                list_id=contact_list.id,
                assigned_by_user_id=admin.user_id,
            )
        )
    sync = session.scalar(
        select(ContactSync).where(
            ContactSync.membership_id == member.id, ContactSync.list_id == contact_list.id
        )
    )
    if sync is None:
        sync = ContactSync(
            account_id=member.account_id,
            membership_id=member.id,
            list_id=contact_list.id,
            connection_id=connection.id,
        )
        session.add(sync)
    sync.enabled, sync.connection_id, sync.next_due_at = True, connection.id, utcnow()
    session.flush()
    record(
        session,
        Flow(
            tag=EventTag.SYNC_ENABLED,
            account_id=member.account_id,
            kind=FlowKind.LIFECYCLE,
            purpose=Purpose.CONTACT_SYNC,
            trigger=Trigger.ADMIN,
            actor=f"user:{admin.user_id}",
            outcome="ok",
            destination=Destination.GROUPSYNC_STORE,
            user_id=member.user_id,
            detail={"sync": sync.id, "via": "domain"},
        ),
    )
    # Last, since granting the list commits (the CRM service owns its transaction): the notice,
    # the assignment, the sync and the grant are then one transaction, never half an assignment.
    with unit_of_work(session):
        grant_access(session, contact_list, member, f"user:{admin.user_id}")
    return sync


def assignments(
    session: DbSession, domain: DomainConnection
) -> list[tuple[DomainAssignment, ContactSync | None]]:
    rows = session.scalars(
        select(DomainAssignment)
        .where(DomainAssignment.domain_connection_id == domain.id)
        .order_by(DomainAssignment.id)
    ).all()
    return [
        (
            row,
            session.scalar(
                select(ContactSync).where(
                    ContactSync.membership_id == row.membership_id, ContactSync.list_id == row.list_id
                )
            ),
        )
        for row in rows
    ]


def my_assignments(
    session: DbSession, member: Membership
) -> list[tuple[DomainAssignment, ContactSync | None]]:
    domain = domain_of(session, member.account_id)
    if domain is None:
        return []
    return [(a, s) for a, s in assignments(session, domain) if a.membership_id == member.id]


def turn_off(session: DbSession, member: Membership, assignment_id: int) -> None:
    """The member turns their domain sync off; the admin sees it and cannot turn it back on."""
    assignment = session.get(DomainAssignment, assignment_id)
    if assignment is None or assignment.membership_id != member.id:
        raise WorkspaceError(_("no such sync of yours"))
    # The choice and the sync's switch-off commit together (disable_sync's unit commits both).
    with unit_of_work(session):
        assignment.member_turned_off_at = assignment.member_turned_off_at or utcnow()
        sync = session.scalar(
            select(ContactSync).where(
                ContactSync.membership_id == member.id, ContactSync.list_id == assignment.list_id
            )
        )
        if sync is not None and sync.enabled:
            disable_sync(session, sync, f"user:{member.user_id}")


def turn_on(session: DbSession, member: Membership, assignment_id: int) -> None:
    """The member takes back their own choice to turn a domain sync off."""
    assignment = session.get(DomainAssignment, assignment_id)
    if assignment is None or assignment.membership_id != member.id:
        raise WorkspaceError(_("no such sync of yours"))
    with unit_of_work(session):
        assignment.member_turned_off_at = None
        sync = session.scalar(
            select(ContactSync).where(
                ContactSync.membership_id == member.id, ContactSync.list_id == assignment.list_id
            )
        )
        if sync is not None:
            sync.enabled, sync.next_due_at = True, utcnow()


def pending_banner(session: DbSession, member: Membership) -> DomainNotice | None:
    """The notice shown as a banner at the member's next sign-in, until they dismiss it."""
    return session.scalar(
        select(DomainNotice).where(
            DomainNotice.account_id == member.account_id,
            DomainNotice.user_id == member.user_id,
            DomainNotice.banner_seen_at.is_(None),
        )
    )


def dismiss_banner(session: DbSession, member: Membership) -> None:
    notice = pending_banner(session, member)
    if notice is not None:
        with unit_of_work(session):
            notice.banner_seen_at = utcnow()
