"""Managing who belongs to an account: invitations, roles and removal.

Each function owns its transaction (:func:`app.db.unit_of_work`). Rows handed in were
already scoped to the signed-in account by :mod:`app.accounts.tenancy`; the functions check
the business rules (an account always keeps an admin, an address is invited once) and raise
:class:`MembershipError` with a message that names the problem. What other domains must do
when a member leaves is not known here: :mod:`app.flows.members` states it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Account, Invitation, Membership, Role, User
from app.accounts.tenancy import end_sessions_of
from app.address_reasons import email_reason
from app.db import DbSession, plain, unit_of_work
from app.extensions import gettext as _


class MembershipError(Exception):
    """A request that breaks a membership rule; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


RemovalStep = Callable[[Session, Membership], None]
"""Work another domain must do before a membership disappears (see :mod:`app.flows.members`)."""

Record = Callable[[Session], None] | None
"""Written in the same transaction as the change it records (the account audit log's entry)."""


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise MembershipError("role", _("Role must be one of %(allowed)s.", allowed=allowed)) from None


def role_label(role: Role) -> str:
    """The role's name in the reader's language (English outside a request)."""
    labels = {Role.ADMIN: _("admin"), Role.MEMBER: _("member"), Role.REVIEWER: _("reviewer")}
    return labels[role]


def normalize_email(value: str) -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise MembershipError(
            "email", _("E-mail address is not valid: %(problem)s", problem=email_reason(exc).translated())
        ) from None
    return str(checked.normalized).lower()


def invite(
    session: DbSession,
    account: Account,
    *,
    email: str,
    role: Role,
    invited_by: User | None,
    record: Record = None,
) -> Invitation:
    """Invite ``email`` into ``account`` with ``role``; inviting the same address again updates the role."""
    address = normalize_email(email)
    with unit_of_work(session) as work:
        invitation = _invite(work, account, address, role, invited_by)
        if record is not None:
            record(work)
        return invitation


def _invite(
    session: Session, account: Account, address: str, role: Role, invited_by: User | None
) -> Invitation:
    already = session.scalar(
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .where(Membership.account_id == account.id, func.lower(User.email) == address)
    )
    if already is not None:
        raise MembershipError("email", _("%(email)s is already a member of this account.", email=address))
    invitation = session.scalar(
        select(Invitation).where(Invitation.account_id == account.id, Invitation.email == address)
    )
    if invitation is None:
        invitation = Invitation(
            account_id=account.id,
            email=address,
            role=role,
            invited_by_user_id=invited_by.id if invited_by is not None else None,
        )
        session.add(invitation)
    else:
        invitation.role = role
    return invitation


def withdraw_invitation(session: DbSession, invitation: Invitation, *, record: Record = None) -> None:
    with unit_of_work(session) as work:
        work.delete(invitation)
        if record is not None:
            record(work)


def lock_memberships(session: DbSession, account_id: int) -> None:
    """Serialise changes to one account's memberships until the transaction ends.

    Without it two admins demoting each other at the same moment would each count the other
    as the remaining admin and leave the account with none. PostgreSQL locks the account row;
    SQLite already lets one writer at a time.
    """
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def _other_admins(session: DbSession, membership: Membership) -> int:
    lock_memberships(session, membership.account_id)
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.account_id == membership.account_id,
                Membership.role == Role.ADMIN,
                Membership.id != membership.id,
            )
        )
        or 0
    )


def change_role(session: DbSession, membership: Membership, role: Role, *, record: Record = None) -> None:
    with unit_of_work(session) as work:
        if membership.role is Role.ADMIN and role is not Role.ADMIN and _other_admins(work, membership) == 0:
            raise MembershipError(
                "role",
                _("The account's last admin cannot be given another role; make someone else admin first."),
            )
        membership.role = role
        if record is not None:
            record(work)


def refuse_removing_last_admin(session: DbSession, membership: Membership) -> None:
    """Raise :class:`MembershipError` when ``membership`` is the account's last admin.

    Locks the account's memberships until the transaction ends.
    """
    if membership.role is Role.ADMIN and _other_admins(session, membership) == 0:
        raise MembershipError(
            "member", _("The account's last admin cannot be removed; make someone else admin first.")
        )


def remove_member(
    session: DbSession,
    membership: Membership,
    *,
    before_removal: Iterable[RemovalStep] = (),
    record: Record = None,
) -> None:
    """Remove ``membership`` and end all of its sign-in sessions at once.

    ``before_removal`` is what other domains must do first, in that order; the caller states
    it (:func:`app.flows.members.remove_member`). A step that raises keeps the member.
    """
    with unit_of_work(session) as work:
        refuse_removing_last_admin(work, membership)
    for step in before_removal:
        step(plain(session), membership)
    # The steps commit (a final sync and a disconnect talk to Google), which ends the lock
    # taken above; an admin removed or demoted meanwhile must be seen, so the check runs again
    # in the transaction that deletes.
    with unit_of_work(session) as work:
        refuse_removing_last_admin(work, membership)
        end_sessions_of(membership.id)
        work.delete(membership)
        if record is not None:
            record(work)


def members_of(session: DbSession, account: Account) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(User, Membership.user_id == User.id)
            .where(Membership.account_id == account.id)
            .order_by(func.lower(User.email))
        )
    )


def invitations_of(session: DbSession, account: Account) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation).where(Invitation.account_id == account.id).order_by(Invitation.email)
        )
    )


def save_preferences(session: DbSession, user: User, *, language: str | None, time_zone: str | None) -> None:
    """Store the interface language and time zone ``user`` chose (None: let the browser decide)."""
    with unit_of_work(session):
        user.language = language
        user.time_zone = time_zone
