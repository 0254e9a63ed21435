"""Managing who belongs to an account: invitations, roles and removal.

Each function owns its transaction. Rows handed in were already scoped to the signed-in
account by :mod:`app.accounts.tenancy`; the functions check the business rules (an account
always keeps an admin, an address is invited once) and raise :class:`MembershipError` with a
message that names the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Account, Invitation, Membership, Role, User
from app.accounts.tenancy import end_sessions_of


class MembershipError(Exception):
    """A request that breaks a membership rule; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


RemovalStep = Callable[[Session, Membership], None]
"""Work another domain must do, in the removal's transaction, before a membership disappears."""

BEFORE_MEMBER_REMOVAL: list[RemovalStep] = []
"""The hook point of :func:`remove_member`: domains that hold per-member state (for example the
Google connection, which must be disconnected and revoked first) append a step here when
their package is imported. Steps run in order; one that raises aborts the removal."""


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise MembershipError("role", f"Role must be one of {allowed}.") from None


def normalize_email(value: str) -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise MembershipError("email", f"E-mail address is not valid: {exc}") from None
    return str(checked.normalized).lower()


def invite(session: Session, account: Account, *, email: str, role: Role, invited_by: User) -> Invitation:
    """Invite ``email`` into ``account`` with ``role``; inviting the same address again updates the role."""
    address = normalize_email(email)
    already = session.scalar(
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .where(Membership.account_id == account.id, func.lower(User.email) == address)
    )
    if already is not None:
        raise MembershipError("email", f"{address} is already a member of this account.")
    invitation = session.scalar(
        select(Invitation).where(Invitation.account_id == account.id, Invitation.email == address)
    )
    if invitation is None:
        invitation = Invitation(
            account_id=account.id, email=address, role=role, invited_by_user_id=invited_by.id
        )
        session.add(invitation)
    else:
        invitation.role = role
    session.commit()
    return invitation


def withdraw_invitation(session: Session, invitation: Invitation) -> None:
    session.delete(invitation)
    session.commit()


def lock_memberships(session: Session, account_id: int) -> None:
    """Serialise changes to one account's memberships until the transaction ends.

    Without it two admins demoting each other at the same moment would each count the other
    as the remaining admin and leave the account with none. PostgreSQL locks the account row;
    SQLite already lets one writer at a time.
    """
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def _other_admins(session: Session, membership: Membership) -> int:
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


def change_role(session: Session, membership: Membership, role: Role) -> None:
    if membership.role is Role.ADMIN and role is not Role.ADMIN and _other_admins(session, membership) == 0:
        raise MembershipError(
            "role", "The account's last admin cannot be given another role; make someone else admin first."
        )
    membership.role = role
    session.commit()


def _refuse_removing_last_admin(session: Session, membership: Membership) -> None:
    if membership.role is Role.ADMIN and _other_admins(session, membership) == 0:
        raise MembershipError(
            "member", "The account's last admin cannot be removed; make someone else admin first."
        )


def remove_member(
    session: Session, membership: Membership, *, before_removal: Iterable[RemovalStep] | None = None
) -> None:
    """Remove ``membership`` and end all of its sign-in sessions at once.

    ``before_removal`` defaults to the registered :data:`BEFORE_MEMBER_REMOVAL` steps.
    """
    _refuse_removing_last_admin(session, membership)
    for step in BEFORE_MEMBER_REMOVAL if before_removal is None else before_removal:
        step(session, membership)
    # The steps commit (a final sync and a disconnect talk to Google, and every request to
    # Google is a commit point), which ends the lock taken above; an admin removed or demoted
    # meanwhile must be seen, so the check runs again in the transaction that deletes.
    _refuse_removing_last_admin(session, membership)
    end_sessions_of(membership.id)
    session.delete(membership)
    session.commit()


def members_of(session: Session, account: Account) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(User, Membership.user_id == User.id)
            .where(Membership.account_id == account.id)
            .order_by(func.lower(User.email))
        )
    )


def invitations_of(session: Session, account: Account) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation).where(Invitation.account_id == account.id).order_by(Invitation.email)
        )
    )
