"""Which lists each member of an account may sync: an admin grants and withdraws them."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import Membership
from app.crm.models import ContactList, ListAccess
from app.crm.services.common import NotFoundError, Record, record_in, transaction
from app.db import DbSession, utcnow


def lists_available_to(session: DbSession, membership: Membership) -> list[ContactList]:
    """The live lists an admin has made available to ``membership`` (what it may sync)."""
    stmt = (
        select(ContactList)
        .join(ListAccess, ListAccess.list_id == ContactList.id)
        .where(
            ListAccess.membership_id == membership.id,
            ListAccess.revoked_at.is_(None),
            ContactList.account_id == membership.account_id,
            ContactList.deleted_at.is_(None),
        )
        .order_by(ContactList.name, ContactList.id)
    )
    return list(session.scalars(stmt))


def access_by_list(session: DbSession, account_id: int) -> dict[int, list[Membership]]:
    """Active grants per list id, for the admin overview."""
    stmt = (
        select(ListAccess.list_id, Membership)
        .join(Membership, Membership.id == ListAccess.membership_id)
        .join(ContactList, ContactList.id == ListAccess.list_id)
        .where(ContactList.account_id == account_id, ListAccess.revoked_at.is_(None))
        .order_by(Membership.id)
    )
    grouped: dict[int, list[Membership]] = {}
    for list_id, membership in session.execute(stmt).all():
        grouped.setdefault(list_id, []).append(membership)
    return grouped


def syncs_by_list(session: DbSession, account_id: int) -> dict[int, dict[int, str]]:
    """For the admin overview: per list id, each membership's turned-on sync and its status."""
    from app.sync.models import ContactSync

    stmt = select(ContactSync.list_id, ContactSync.membership_id, ContactSync.status).where(
        ContactSync.account_id == account_id, ContactSync.enabled.is_(True)
    )
    grouped: dict[int, dict[int, str]] = {}
    for list_id, membership_id, status in session.execute(stmt).all():
        grouped.setdefault(list_id, {})[membership_id] = str(status.value)
    return grouped


def grant_access(
    session: DbSession,
    contact_list: ContactList,
    membership: Membership,
    actor: str,
    *,
    record: Record = None,
) -> bool:
    """Make a list available to a member of the same account; False if it already was."""
    if membership.account_id != contact_list.account_id:
        raise NotFoundError("membership", "no such member in this account")
    access = session.scalar(
        select(ListAccess).where(
            ListAccess.list_id == contact_list.id, ListAccess.membership_id == membership.id
        )
    )
    if access is not None and access.revoked_at is None:
        return False
    with transaction(session) as current:
        now = utcnow()
        if access is None:
            access = ListAccess(list_id=contact_list.id, membership_id=membership.id, granted_by=actor)
            session.add(access)
        access.granted_at, access.granted_by, access.revoked_at, access.revoked_by = now, actor, None, None
        record_in(current, record)
    return True


def withdraw_access(
    session: DbSession, contact_list: ContactList, membership_id: int, actor: str, *, record: Record = None
) -> bool:
    """Withdraw a list from a member; the sync engine then empties that member's group of it."""
    access = session.scalar(
        select(ListAccess).where(
            ListAccess.list_id == contact_list.id,
            ListAccess.membership_id == membership_id,
            ListAccess.revoked_at.is_(None),
        )
    )
    if access is None:
        return False
    with transaction(session) as current:
        now = utcnow()
        access.revoked_at, access.revoked_by = now, actor
        record_in(current, record)
    return True


def withdraw_all_access(session: DbSession, membership_id: int, actor: str) -> int:
    """A member is leaving the account: withdraw every list, in the caller's transaction.

    This is the CRM's part of removing a member. Call it before deleting the membership,
    inside the same transaction, so the withdrawal is recorded with the removal; it
    does not commit.
    """
    now = utcnow()
    grants = list(
        session.scalars(
            select(ListAccess).where(
                ListAccess.membership_id == membership_id, ListAccess.revoked_at.is_(None)
            )
        )
    )
    for access in grants:
        access.revoked_at, access.revoked_by = now, actor
    session.flush()
    return len(grants)
