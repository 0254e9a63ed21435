"""A member leaving an account: their syncs empty GroupSync's groups, then Google access is revoked.

Two requirements meet here: when a member leaves, the sync engine takes that list's contacts
out of the member's Google group; and removing a member disconnects (revokes) first. Both
hold in this order: the member's lists are withdrawn, each turned-on sync runs once more
through the engine's normal planner and executor (a withdrawn list means an empty group, so
it deletes or releases what GroupSync put there), and only then is the connection revoked.
When the final run cannot happen (the connection is already unusable, Google refuses, the
Google account is busy), the disconnect goes ahead anyway and the ledger records how many
contacts stayed in Google.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Membership
from app.accounts.services import BEFORE_MEMBER_REMOVAL
from app.config import Settings, current_settings
from app.crm.services import withdraw_all_access
from app.google.credentials import UserOAuthCredentialsSource
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.google.people import PeopleClient
from app.google.services import connection_of, disconnect
from app.google.vault import TokenVault
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import record
from app.sync.models import ContactSync, RunOutcome, SyncedContact
from app.sync.services import PeopleFactory, RunOptions, run_sync

ACTOR = "system"


def _final_run(
    session: Session,
    sync: ContactSync,
    *,
    settings: Settings,
    vault: TokenVault,
    people: PeopleFactory,
) -> bool:
    """Run ``sync`` once with its list withdrawn; True when the run finished cleanly."""
    connection = session.get(GoogleConnection, sync.connection_id)
    if connection is None or not connection.is_usable:
        return False
    # Removing the member is an admin's decision about all of the list: the mass-delete guard,
    # which exists to stop surprises from CRM changes, would only leave the contacts behind.
    sync.mass_delete_confirmed = True
    session.commit()
    credentials = UserOAuthCredentialsSource(session, vault, settings, trigger=Trigger.ADMIN, actor=ACTOR)
    options = RunOptions(trigger=Trigger.ADMIN, actor=ACTOR)
    run = run_sync(
        session, sync.id, settings=settings, credentials=credentials, people=people, options=options
    )
    return run is not None and run.outcome is RunOutcome.OK


def wind_down(
    session: Session,
    membership: Membership,
    *,
    settings: Settings,
    vault: TokenVault,
    people: PeopleFactory = PeopleClient.for_settings,
) -> dict[int, int]:
    """Withdraw the member's lists, empty each turned-on sync's group, turn it off, then disconnect.

    Returns, per sync, how many of GroupSync's contacts stayed in Google (0 after a clean run).
    ``people`` replaces the production People client (tests skip retry waits with it).
    """
    withdraw_all_access(session, membership.id, f"membership_removed:{membership.id}")
    session.commit()
    syncs = session.scalars(
        select(ContactSync).where(ContactSync.membership_id == membership.id, ContactSync.enabled.is_(True))
    ).all()
    left: dict[int, int] = {}
    for sync in syncs:
        cleaned = _final_run(session, sync, settings=settings, vault=vault, people=people)
        remaining = session.scalar(
            select(func.count(SyncedContact.id)).where(SyncedContact.sync_id == sync.id)
        )
        left[sync.id] = int(remaining or 0)
        sync.enabled = False
        sync.next_due_at = None
        record(
            session,
            Flow(
                tag=EventTag.SYNC_DISABLED,
                account_id=sync.account_id,
                kind=FlowKind.LIFECYCLE,
                purpose=Purpose.CONTACT_SYNC,
                trigger=Trigger.ADMIN,
                actor=ACTOR,
                outcome="cleaned_up" if cleaned else "contacts_stayed",
                destination=Destination.GROUPSYNC_STORE,
                user_id=membership.user_id,
                records=left[sync.id],
                detail={
                    "sync": sync.id,
                    "reason": "member_removed",
                    "contacts_left_in_google": left[sync.id],
                },
            ),
        )
        session.commit()
    connection = connection_of(session, membership)
    if connection is not None and connection.status is not ConnectionStatus.DISCONNECTED:
        disconnect(
            session,
            connection,
            ACTOR,
            settings=settings,
            vault=vault,
            reason=StatusReason.DISCONNECTED_BY_ADMIN,
        )
    return left


def _before_removal(session: Session, membership: Membership) -> None:
    settings = current_settings()
    wind_down(session, membership, settings=settings, vault=TokenVault.for_settings(settings))


# First of all removal steps: the others (withdrawing lists, disconnecting) find their work done,
# and a disconnect that ran earlier would leave the final sync without access.
BEFORE_MEMBER_REMOVAL.insert(0, _before_removal)
