"""A member leaving an account: their syncs empty GroupSync's groups, then Google access is revoked.

The steps, in this order:

1. the last-admin rule is checked (accounts);
2. the member's list access is withdrawn (crm);
3. each turned-on sync runs once more through the engine's normal planner and executor (a
   withdrawn list means an empty group, so it deletes or releases what GroupSync put there),
   then is turned off (sync);
4. the Google connection is disconnected and revoked (:mod:`app.flows.connections`);
5. the last-admin rule is checked again, the sign-in sessions end and the membership is
   deleted (accounts).

Every step commits before the next one talks to Google, so an interrupted removal is finished
by running it again. When the final run cannot happen (the connection is already unusable,
Google refuses, the Google account is busy), the disconnect goes ahead anyway and the ledger
records how many contacts stayed in Google.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import services as accounts
from app.accounts.models import Membership
from app.config import Settings
from app.crm.services import withdraw_all_access
from app.db import DbSession, unit_of_work
from app.flows.connections import disconnect
from app.google.credentials import UserOAuthCredentialsSource
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.google.people import PeopleClient
from app.google.services import connection_of
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
    with unit_of_work(session):
        # Removing the member is an admin's decision about all of the list: the mass-delete
        # guard, which exists to stop surprises from CRM changes, would only leave the contacts.
        sync.mass_delete_confirmed = True
    credentials = UserOAuthCredentialsSource(session, vault, settings, trigger=Trigger.ADMIN, actor=ACTOR)
    options = RunOptions(trigger=Trigger.ADMIN, actor=ACTOR)
    run = run_sync(
        session, sync.id, settings=settings, credentials=credentials, people=people, options=options
    )
    return run is not None and run.outcome is RunOutcome.OK


def _turn_off(session: Session, sync: ContactSync, membership: Membership, *, cleaned: bool) -> int:
    """Turn ``sync`` off for good and record how many of its contacts stayed in Google."""
    with unit_of_work(session) as work:
        left = int(
            work.scalar(select(func.count(SyncedContact.id)).where(SyncedContact.sync_id == sync.id)) or 0
        )
        sync.enabled = False
        sync.next_due_at = None
        record(
            work,
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
                records=left,
                detail={"sync": sync.id, "reason": "member_removed", "contacts_left_in_google": left},
            ),
        )
    return left


def wind_down(
    session: Session,
    membership: Membership,
    *,
    settings: Settings,
    vault: TokenVault,
    people: PeopleFactory = PeopleClient.for_settings,
) -> dict[int, int]:
    """Steps 2 to 4: withdraw the lists, empty and turn off each turned-on sync, then disconnect.

    Returns, per sync, how many of GroupSync's contacts stayed in Google (0 after a clean run).
    ``people`` replaces the production People client (tests skip retry waits with it).
    """
    with unit_of_work(session) as work:
        withdraw_all_access(work, membership.id, f"membership_removed:{membership.id}")
    syncs = session.scalars(
        select(ContactSync).where(ContactSync.membership_id == membership.id, ContactSync.enabled.is_(True))
    ).all()
    left: dict[int, int] = {}
    for sync in syncs:
        cleaned = _final_run(session, sync, settings=settings, vault=vault, people=people)
        left[sync.id] = _turn_off(session, sync, membership, cleaned=cleaned)
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


def remove_member(
    session: DbSession,
    membership: Membership,
    *,
    settings: Settings,
    vault: TokenVault,
    people: PeopleFactory = PeopleClient.for_settings,
) -> None:
    """Remove ``membership`` from its account after its syncs emptied their groups and Google was revoked.

    Raises :class:`~app.accounts.services.MembershipError` (the member stays) when the member
    is the account's last admin, before any step and again before the deletion.
    """

    def wind_down_first(step_session: Session, leaving: Membership) -> None:
        wind_down(step_session, leaving, settings=settings, vault=vault, people=people)

    accounts.remove_member(session, membership, before_removal=[wind_down_first])
