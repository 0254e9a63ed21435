"""Who gets what through a Workspace domain: the admin invites colleagues and gives them lists.

Before the first sync into a user's Contacts the user is told (:func:`notify`); a member can
turn a sync off for themselves (:func:`turn_off`). An admin can give a list to one member
(:func:`assign`) or to several at once (:func:`assign_many`), and invite several addresses at
once (:func:`invite_many`). Each member's first run gets its own slot
(:func:`app.sync.schedule.first_run_slots`), so hundreds of users given a list in one click
do not all start syncing in the same minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import force_locale
from sqlalchemy import select

from app.accounts import services as accounts_services
from app.accounts.models import Account, Membership, Role
from app.config import Settings
from app.crm.models import ContactList
from app.crm.services import grant_access
from app.db import DbSession, plain, unit_of_work, utcnow
from app.extensions import gettext as _
from app.google.domain_models import (
    DomainAssignment,
    DomainConnection,
    DomainNotice,
    DomainStatus,
)
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import record
from app.mail import Mail, Mailer, MailError
from app.security.audit import AuditAction, step
from app.sync.models import ContactSync
from app.sync.schedule import first_run_slots
from app.sync.services import disable_sync
from app.workspace.services import (
    WorkspaceError,
    admin_flow,
    domain_of,
    require_admin,
    statement_accepted,
)

MAX_INVITES = 200
"""Addresses one bulk invitation may carry; a longer paste is refused whole, nothing invited."""
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Refusal:
    """One member or address the admin's bulk request could not serve, and why (for the page)."""

    email: str
    reason: str


@dataclass(frozen=True)
class BulkAssignment:
    assigned: list[ContactSync] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class BulkInvitation:
    invited: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


# --- inviting ---------------------------------------------------------------------------------------


def invite(session: DbSession, domain: DomainConnection, admin: Membership, email: str) -> str:
    """Invite a colleague by address, as a member; only addresses in the domain. Returns the address."""
    require_admin(admin)
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
        invitation = accounts_services.invite(
            plain(session),
            account,
            email=email,
            role=Role.MEMBER,
            invited_by=admin.user,
            # The same audit entry as an invitation from the members page.
            record=step(
                account.id,
                AuditAction.MEMBER_INVITED,
                actor_user_id=admin.user_id,
                detail={"role": Role.MEMBER.value, "via": "workspace"},
            ),
        )
    except accounts_services.MembershipError as exc:
        raise WorkspaceError(str(exc)) from None
    return invitation.email


def invite_many(session: DbSession, domain: DomainConnection, admin: Membership, text: str) -> BulkInvitation:
    """Invite every address in ``text`` (separated by commas, semicolons, spaces or lines).

    Each address is its own invitation (and audit entry); one that cannot be invited (outside
    the domain, already a member) is reported and the others are still invited.
    """
    require_admin(admin)
    addresses: dict[str, str] = {}
    for address in _ADDRESS_SEPARATORS.split(text):
        if address:
            addresses.setdefault(address.lower(), address)
    if not addresses:
        raise WorkspaceError(_("enter at least one address"))
    if len(addresses) > MAX_INVITES:
        raise WorkspaceError(
            _(
                "%(count)d addresses at once is too many: invite at most %(most)d at a time",
                count=len(addresses),
                most=MAX_INVITES,
            )
        )
    result = BulkInvitation()
    for address in addresses.values():
        try:
            result.invited.append(invite(session, domain, admin, address))
        except WorkspaceError as exc:
            result.refused.append(Refusal(address, str(exc)))
    return result


def domain_members(session: DbSession, domain: DomainConnection) -> list[Membership]:
    """Members of the account whose address is in the domain (the only ones the admin can assign)."""
    members = session.scalars(select(Membership).where(Membership.account_id == domain.account_id)).all()
    return sorted((m for m in members if domain.covers(m.user.email)), key=lambda m: m.user.email.lower())


# --- telling the user -------------------------------------------------------------------------------


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
        admin_flow(
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


# --- giving lists -----------------------------------------------------------------------------------


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


def _check_ready(
    session: DbSession, domain: DomainConnection, admin: Membership, contact_list: ContactList
) -> None:
    """What must hold for any assignment at all: refused for the whole request, nothing done."""
    require_admin(admin)
    if domain.status is not DomainStatus.ACTIVE:
        raise WorkspaceError(_("test the domain connection first: it has not passed a test"))
    if not statement_accepted(session, domain):
        raise WorkspaceError(_("confirm that the domain's users have been informed first"))
    if contact_list.account_id != domain.account_id or contact_list.deleted_at is not None:
        raise WorkspaceError(_("no such list in this account"))


def assign(
    session: DbSession,
    settings: Settings,
    mailer: Mailer,
    domain: DomainConnection,
    *,
    admin: Membership,
    member: Membership,
    contact_list: ContactList,
    now: datetime | None = None,
) -> ContactSync:
    """Give ``member`` the list, synced through the domain; the member is told first."""
    moment = now or utcnow()
    _check_ready(session, domain, admin, contact_list)
    slots = first_run_slots(session, moment, settings.domain_first_runs_per_minute)
    return _assign_one(
        session, settings, mailer, domain, admin=admin, member=member, contact_list=contact_list, slots=slots
    )


def assign_many(
    session: DbSession,
    settings: Settings,
    mailer: Mailer,
    domain: DomainConnection,
    *,
    admin: Membership,
    members: Sequence[Membership],
    contact_list: ContactList,
    now: datetime | None = None,
) -> BulkAssignment:
    """Give the list to each of ``members``: one assignment (notice, sync, grant) per member.

    Each member's assignment is its own transaction, with the same ledger and audit entries
    as :func:`assign`; one that cannot be made (outside the domain, turned off by the member,
    the notice could not be sent) is reported and the others are still made. Their first
    runs take consecutive free slots, ``domain_first_runs_per_minute`` to a minute.
    """
    moment = now or utcnow()
    _check_ready(session, domain, admin, contact_list)
    if not members:
        raise WorkspaceError(_("choose at least one member"))
    unique = sorted({m.id: m for m in members}.values(), key=lambda m: m.user.email.lower())
    slots = first_run_slots(session, moment, settings.domain_first_runs_per_minute)
    result = BulkAssignment()
    for member in unique:
        try:
            result.assigned.append(
                _assign_one(
                    session,
                    settings,
                    mailer,
                    domain,
                    admin=admin,
                    member=member,
                    contact_list=contact_list,
                    slots=slots,
                )
            )
        except WorkspaceError as exc:
            result.refused.append(Refusal(member.user.email, str(exc)))
    return result


def _assign_one(
    session: DbSession,
    settings: Settings,
    mailer: Mailer,
    domain: DomainConnection,
    *,
    admin: Membership,
    member: Membership,
    contact_list: ContactList,
    slots: Iterator[datetime],
) -> ContactSync:
    if member.account_id != domain.account_id or not domain.covers(member.user.email):
        raise WorkspaceError(
            _("%(email)s is not an address in %(domain)s", email=member.user.email, domain=domain.domain)
        )
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
    email = member.user.email
    try:
        notify(session, settings, mailer, domain, member=member, admin=admin)
    except MailError as exc:
        session.rollback()
        raise WorkspaceError(
            _(
                "the notice to %(email)s could not be sent, so nothing was assigned (%(error)s)",
                email=email,
                error=str(exc),
            )
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
    _schedule_first_run(sync, slots)
    sync.enabled, sync.connection_id = True, connection.id
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
        grant_access(
            session,
            contact_list,
            member,
            f"user:{admin.user_id}",
            # The same audit entry as a grant from the CRM page (written only when newly granted).
            record=step(
                contact_list.account_id,
                AuditAction.LIST_ACCESS_GRANTED,
                actor_user_id=admin.user_id,
                detail={"list_id": contact_list.id, "member_user_id": member.user_id, "via": "workspace"},
            ),
        )
    return sync


def _schedule_first_run(sync: ContactSync, slots: Iterator[datetime]) -> None:
    """A sync that never ran gets the next free first-run slot, unless it already waits for one."""
    if sync.last_run_at is not None:
        sync.next_due_at = utcnow()
    elif not (sync.enabled and sync.id is not None and sync.next_due_at is not None):
        sync.next_due_at = next(slots)


# --- what the admin and the member see -------------------------------------------------------------


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
