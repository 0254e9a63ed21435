"""What a destructive action would touch, counted before it runs, for its confirmation page.

Read-only: these counts are what the confirmation page states ("12 contacts, in 3 members'
Google accounts"), taken from GroupSync's own records of what it wrote to each Google group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from app.accounts.models import Membership
from app.crm.models import ContactList
from app.crm.services import list_sizes
from app.db import DbSession
from app.google.models import ConnectionStatus, GoogleConnection
from app.sync.models import ContactSync, SyncedContact


@dataclass(frozen=True)
class Reach:
    """How many contacts GroupSync keeps in how many Google accounts, through how many syncs."""

    contacts: int
    google_accounts: int
    syncs: int


def _in_google(session: DbSession, sync_ids: Sequence[int]) -> int:
    if not sync_ids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(SyncedContact)
            .where(
                SyncedContact.sync_id.in_(sync_ids),
                SyncedContact.resource_name.is_not(None),
                SyncedContact.deleted_in_google_at.is_(None),
            )
        )
        or 0
    )


def _reach(session: DbSession, syncs: Sequence[ContactSync]) -> Reach:
    return Reach(
        contacts=_in_google(session, [s.id for s in syncs]),
        google_accounts=len({s.connection_id for s in syncs}),
        syncs=len(syncs),
    )


def _enabled(session: DbSession, *conditions: object) -> list[ContactSync]:
    return list(session.scalars(select(ContactSync).where(ContactSync.enabled.is_(True), *conditions)))  # type: ignore[arg-type]


def of_member(session: DbSession, membership: Membership) -> Reach:
    """Removing a member: every turned-on sync of theirs is emptied from their Google account."""
    return _reach(session, _enabled(session, ContactSync.membership_id == membership.id))


@dataclass(frozen=True)
class ListReach:
    list_size: int
    reach: Reach


def of_list_for_member(session: DbSession, contact_list: ContactList, membership_id: int) -> ListReach:
    """Withdrawing a list from one member: their sync of it (if on) is emptied at the next run."""
    syncs = _enabled(
        session, ContactSync.list_id == contact_list.id, ContactSync.membership_id == membership_id
    )
    return ListReach(list_sizes(session, [contact_list.id])[contact_list.id], _reach(session, syncs))


def of_connection(session: DbSession, connection: GoogleConnection) -> Reach:
    """Disconnecting Google: the connection's syncs stop; the contacts they wrote stay in Google."""
    return _reach(session, _enabled(session, ContactSync.connection_id == connection.id))


def of_person(session: DbSession, user_id: int) -> tuple[int, Reach, int]:
    """Deleting a person's data: (accounts, what stays in Google, Google connections revoked)."""
    memberships = list(session.scalars(select(Membership.id).where(Membership.user_id == user_id)))
    connections = session.scalar(
        select(func.count())
        .select_from(GoogleConnection)
        .where(GoogleConnection.user_id == user_id, GoogleConnection.status != ConnectionStatus.DISCONNECTED)
    )
    syncs = _enabled(session, ContactSync.membership_id.in_(memberships)) if memberships else []
    return len(memberships), _reach(session, syncs), int(connections or 0)
