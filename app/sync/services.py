"""Sync use cases: turn a sync on or off, run it, and the user's and admin's answers to its failure states.

Each function owns its transaction. :func:`run_sync` takes its collaborators (credentials
source, People client factory, clock) as arguments so the scheduler, the "sync now" button,
Celery and the tests all call the same function.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.activity import is_frozen
from app.accounts.models import Account, Membership
from app.config import Settings
from app.crm.models import ContactList
from app.crm.services import lists_available_to
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import N_, stored_message
from app.extensions import gettext as _
from app.google import domain_models
from app.google.credentials import ConnectionUnusableError, CredentialsSource
from app.google.errors import (
    ContactLimitReachedError,
    GroupDeletedError,
    NeedsReconnectError,
    PeopleError,
    PermissionDeniedError,
    QuotaExceededError,
)
from app.google.models import GoogleConnection, StatusReason
from app.google.people import PeopleClient, RequestContext
from app.google.services import PeopleCallForbiddenError, ensure_usable
from app.google.tokens import TokenEndpointUnavailableError
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, record
from app.privacy import disclosure
from app.sync import executor, loaders
from app.sync.applier import LeaseLostError, RunContext, Step, no_step
from app.sync.heap import quiet_gc
from app.sync.models import (
    ContactSync,
    RunOutcome,
    SyncedContact,
    SyncLease,
    SyncRun,
    SyncStatus,
    has_not_carried,
)
from app.sync.planner import Limits, RowState

LEASE_TTL = timedelta(minutes=10)
RETRY_AFTER_FAILURE = timedelta(minutes=5)

PeopleFactory = Callable[[Settings, Any, RequestContext, GoogleRequestLedger], PeopleClient]
"""Builds the run's People client from settings, Google credentials, request context and ledger sink."""


class SyncNotAllowedError(Exception):
    """The member may not turn this sync on; ``reason`` says why (shown to the user).

    ``needs_connection``: what fixes it is connecting Google (the page links there).
    """

    def __init__(self, reason: str, *, needs_connection: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs_connection = needs_connection


def ensure_may_call_people(session: DbSession, connection: GoogleConnection) -> None:
    """Raise :class:`PeopleCallForbiddenError` unless a run may call the People API for this connection.

    The gate of everything that starts a run: the user accepted the current disclosure in
    this account, and the connection is usable (connected, contacts scope, refresh token). A
    connection through a Workspace domain has no disclosure acceptance of its own: the admin's
    statement and the notice sent to the user stand in for it (``domain_models.call_problem``).
    """
    if connection.domain_connection_id is not None:
        problem = domain_models.call_problem(session, connection.domain_connection_id, connection.user_id)
        if problem is not None:
            raise PeopleCallForbiddenError(problem)
    elif not disclosure.has_current_acceptance(session, connection.user_id, connection.account_id):
        raise PeopleCallForbiddenError("disclosure_not_accepted")
    ensure_usable(connection)


# --------------------------------------------------------------------------- lease


def lease_key(connection: GoogleConnection) -> str:
    """One key per Google account: two connections to the same account share it."""
    return f"google:{connection.google_sub}" if connection.google_sub else f"connection:{connection.id}"


def acquire_lease(
    session: DbSession, key: str, sync_id: int, now: datetime, ttl: timedelta = LEASE_TTL
) -> str | None:
    """Take the account's lease for a new run; ``None`` when another live run holds it."""
    holder = uuid.uuid4().hex
    try:
        with unit_of_work(session):
            session.add(SyncLease(google_account=key, holder=holder, sync_id=sync_id, expires_at=now + ttl))
    except IntegrityError:
        with unit_of_work(session):
            # Only an expired lease may be taken over; the WHERE makes the takeover atomic.
            taken = session.execute(
                update(SyncLease)
                .where(SyncLease.google_account == key, SyncLease.expires_at < now)
                .values(holder=holder, sync_id=sync_id, acquired_at=now, expires_at=now + ttl)
                .execution_options(synchronize_session=False)
            )
        if getattr(taken, "rowcount", 0) != 1:
            return None
    return holder


def extend_lease(
    session: DbSession, key: str, holder: str, now: datetime, ttl: timedelta = LEASE_TTL
) -> bool:
    """Extend the lease in the caller's transaction; False when another run took it over.

    A run calls this in each batch's own commit, so renewing costs no transaction of its own.
    """
    renewed = session.execute(
        update(SyncLease)
        .where(SyncLease.google_account == key, SyncLease.holder == holder)
        .values(expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return getattr(renewed, "rowcount", 0) == 1


def release_lease(session: DbSession, key: str, holder: str) -> None:
    with unit_of_work(session, expire_on_commit=False):
        session.execute(delete(SyncLease).where(SyncLease.google_account == key, SyncLease.holder == holder))


# --------------------------------------------------------------------------- turning on and off


def _connection_of(session: DbSession, membership: Membership) -> GoogleConnection | None:
    return session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == membership.account_id,
            GoogleConnection.user_id == membership.user_id,
        )
    )


def _lifecycle(session: DbSession, sync: ContactSync, tag: EventTag, actor: str, user_id: int | None) -> None:
    record(
        session,
        Flow(
            tag=tag,
            account_id=sync.account_id,
            kind=FlowKind.LIFECYCLE,
            purpose=Purpose.CONTACT_SYNC,
            trigger=Trigger.USER_ACTION,
            actor=actor,
            outcome="ok",
            destination=Destination.GROUPSYNC_STORE,
            user_id=user_id,
            detail={"sync": sync.id},
        ),
    )


def enable_sync(
    session: DbSession, membership: Membership, list_id: int, now: datetime | None = None
) -> ContactSync:
    """Turn on the sync of a list the member may sync; turning it on again resumes the same sync."""
    if all(available.id != list_id for available in lists_available_to(session, membership)):
        raise SyncNotAllowedError(
            _("this list is not available to you; ask an admin of your account to make it available")
        )
    connection = _connection_of(session, membership)
    if connection is None or not connection.is_usable:
        raise SyncNotAllowedError(_("connect your Google account first"), needs_connection=True)
    with unit_of_work(session):
        sync = session.scalar(
            select(ContactSync).where(
                ContactSync.membership_id == membership.id, ContactSync.list_id == list_id
            )
        )
        if sync is None:
            sync = ContactSync(
                account_id=membership.account_id,
                membership_id=membership.id,
                list_id=list_id,
                connection_id=connection.id,
            )
            session.add(sync)
        sync.enabled = True
        sync.connection_id = connection.id
        _make_due(sync, Trigger.USER_ACTION, now)
        session.flush()
        _lifecycle(session, sync, EventTag.SYNC_ENABLED, f"user:{membership.user_id}", membership.user_id)
    return sync


def disable_sync(session: DbSession, sync: ContactSync, actor: str) -> None:
    """No further Google request for this sync; nothing is deleted in Google."""
    with unit_of_work(session):
        sync.enabled = False
        sync.next_due_at = None
        membership = session.get(Membership, sync.membership_id)
        _lifecycle(session, sync, EventTag.SYNC_DISABLED, actor, membership.user_id if membership else None)


def _make_due(sync: ContactSync, trigger: Trigger, now: datetime | None) -> None:
    sync.next_due_at = now or utcnow()
    sync.requested_trigger = trigger.value


def recreate_group(session: DbSession, sync: ContactSync, now: datetime | None = None) -> None:
    """The user's one-click answer to "group deleted by you": the next run makes a new group.

    Contacts that survived the deletion are put into the new group by their recorded
    resource names; those deleted with it are created again.
    """
    if sync.status is not SyncStatus.GROUP_DELETED_BY_USER:
        return
    with unit_of_work(session):
        sync.group_resource_name = sync.group_etag = None
        sync.group_create_sent = False
        sync.status, sync.status_detail = SyncStatus.NEW, ""
        _make_due(sync, Trigger.USER_ACTION, now)


def confirm_mass_delete(session: DbSession, sync: ContactSync, now: datetime | None = None) -> None:
    """An admin's confirmation: the next run applies the deletions the guard held back."""
    if sync.status is not SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION:
        return
    with unit_of_work(session):
        sync.mass_delete_confirmed = True
        _make_due(sync, Trigger.ADMIN, now)


def stop_syncing_contact(session: DbSession, sync: ContactSync, crm_id: str) -> bool:
    """The user's answer to "you deleted this contact in Google": GroupSync leaves it alone from now on."""
    row = session.scalar(
        select(SyncedContact).where(SyncedContact.sync_id == sync.id, SyncedContact.crm_id == crm_id)
    )
    if row is None:
        return False
    with unit_of_work(session):
        row.stop_syncing = True
    return True


def request_run_now(session: DbSession, sync: ContactSync, now: datetime | None = None) -> bool:
    """The user's "sync now": the worker picks the sync up at its next tick; False when it cannot run."""
    if not sync.enabled or (sync.status.halts and not sync.mass_delete_confirmed):
        return False
    with unit_of_work(session):
        _make_due(sync, Trigger.USER_SYNC_NOW, now)
    return True


@dataclass(frozen=True)
class ListSync:
    """A list the member may sync, with the member's sync of it (``None`` until first turned on)."""

    contact_list: ContactList
    sync: ContactSync | None
    latest: SyncRun | None


def syncs_of(session: DbSession, membership: Membership) -> list[ListSync]:
    """Every list available to ``membership`` and every list it still syncs, for the sync-health page."""
    syncs = {
        s.list_id: s
        for s in session.scalars(select(ContactSync).where(ContactSync.membership_id == membership.id))
    }
    lists = {lst.id: lst for lst in lists_available_to(session, membership)}
    for list_id in syncs.keys() - lists.keys():
        withdrawn = session.get(ContactList, list_id)
        if withdrawn is not None:
            lists[list_id] = withdrawn
    return [
        ListSync(lst, syncs.get(lst.id), _latest_run(session, syncs[lst.id]) if lst.id in syncs else None)
        for lst in sorted(lists.values(), key=lambda item: (item.name, item.id))
    ]


def _latest_run(session: DbSession, sync: ContactSync) -> SyncRun | None:
    return session.scalar(
        select(SyncRun)
        .where(SyncRun.sync_id == sync.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    )


@dataclass(frozen=True)
class Health:
    """What the sync-health page and its JSON show for one sync."""

    sync: ContactSync
    runs: list[SyncRun]
    """Newest first."""
    deleted_in_google: list[SyncedContact]
    not_carried: list[SyncedContact]
    in_group: int

    @property
    def running(self) -> SyncRun | None:
        latest = self.runs[0] if self.runs else None
        return latest if latest is not None and latest.outcome is RunOutcome.RUNNING else None


def health(session: DbSession, sync: ContactSync, history: int = 20) -> Health:
    runs = list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.sync_id == sync.id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(history)
        )
    )
    contacts = select(SyncedContact).where(SyncedContact.sync_id == sync.id).order_by(SyncedContact.crm_id)
    flagged = list(session.scalars(contacts.where(SyncedContact.deleted_in_google_at.is_not(None))))
    in_group = session.scalar(
        select(func.count(SyncedContact.id)).where(
            SyncedContact.sync_id == sync.id, SyncedContact.state == RowState.SYNCED
        )
    )
    reported = list(session.scalars(contacts.where(has_not_carried())))
    return Health(sync, runs, flagged, reported, int(in_group or 0))


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunOptions:
    trigger: Trigger = Trigger.SCHEDULE
    actor: str = "system"
    step: Step = no_step
    now: Callable[[], datetime] = utcnow


def _default_people(
    settings: Settings, credentials: Any, context: RequestContext, ledger: GoogleRequestLedger
) -> PeopleClient:
    return PeopleClient.for_settings(settings, credentials, context, ledger)


def run_sync(
    session: Session,
    sync_id: int,
    *,
    settings: Settings,
    credentials: CredentialsSource,
    people: PeopleFactory = _default_people,
    options: RunOptions | None = None,
) -> SyncRun | None:
    """Run one sync now if it may run; ``None`` when it is off, halted, its account frozen for
    inactivity, or its Google account busy."""
    opts = options or RunOptions()
    sync = session.get(ContactSync, sync_id)
    if sync is None or not sync.enabled or is_frozen(session, sync.account_id):
        return None
    if sync.status.halts and not sync.mass_delete_confirmed:
        return None
    connection = session.get(GoogleConnection, sync.connection_id)
    if connection is None:
        return None
    try:
        ensure_may_call_people(session, connection)
    except PeopleCallForbiddenError as exc:
        with unit_of_work(session):
            if exc.reason == "disclosure_not_accepted":
                sync.status, sync.status_detail = SyncStatus.AWAITING_ACCEPTANCE, _ACCEPT_MESSAGE
            else:
                sync.status, sync.status_detail = (
                    SyncStatus.NEEDS_RECONNECT,
                    stored_message(
                        N_(
                            "Google no longer accepts GroupSync's access: reconnect your Google account "
                            "(%(reason)s)"
                        ),
                        reason=exc.reason,
                    ),
                )
        return None

    key = lease_key(connection)
    # A run whose worker died keeps its account's lease until the lease expires.
    ttl = timedelta(seconds=settings.sync_lease_seconds)
    holder = acquire_lease(session, key, sync.id, opts.now(), ttl)
    if holder is None:
        return None
    try:
        with quiet_gc():
            return _run_holding_lease(
                session,
                sync,
                connection=connection,
                settings=settings,
                credentials=credentials,
                people=people,
                opts=opts,
                renew=lambda: extend_lease(session, key, holder, opts.now(), ttl),
            )
    finally:
        release_lease(session, key, holder)


# Stored as message ids with parameters and translated for whoever reads them (stored_message).
_RECONNECT_MESSAGE = stored_message(
    N_("Google no longer accepts GroupSync's access: reconnect your Google account")
)
_ACCEPT_MESSAGE = stored_message(
    N_(
        "Paused: a new version of GroupSync's privacy policy or disclosure is in force. "
        "Review and accept it; the sync then continues by itself."
    )
)
_MESSAGES: dict[type[Exception], tuple[SyncStatus, str]] = {
    GroupDeletedError: (
        SyncStatus.GROUP_DELETED_BY_USER,
        stored_message(
            N_("You deleted this sync's group in Google Contacts; GroupSync stopped. Recreate it to resume.")
        ),
    ),
    NeedsReconnectError: (SyncStatus.NEEDS_RECONNECT, _RECONNECT_MESSAGE),
    PermissionDeniedError: (SyncStatus.NEEDS_RECONNECT, _RECONNECT_MESSAGE),
    ConnectionUnusableError: (SyncStatus.NEEDS_RECONNECT, _RECONNECT_MESSAGE),
    QuotaExceededError: (
        SyncStatus.QUOTA,
        stored_message(
            N_("Google's request quota for your account is used up for now; GroupSync tries again later.")
        ),
    ),
    ContactLimitReachedError: (
        SyncStatus.GOOGLE_CONTACT_LIMIT,
        stored_message(
            N_("Your Google account holds the maximum of 25,000 contacts; GroupSync cannot add more.")
        ),
    ),
}


def _run_holding_lease(
    session: Session,
    sync: ContactSync,
    *,
    connection: GoogleConnection,
    settings: Settings,
    credentials: CredentialsSource,
    people: PeopleFactory,
    opts: RunOptions,
    renew: Callable[[], bool],
) -> SyncRun:
    started = opts.now()
    with unit_of_work(session, expire_on_commit=False):
        session.execute(
            update(SyncRun)
            .where(SyncRun.sync_id == sync.id, SyncRun.outcome == RunOutcome.RUNNING)
            .values(outcome=RunOutcome.INTERRUPTED, finished_at=started)
            .execution_options(synchronize_session=False)
        )
        sync_run = SyncRun(sync_id=sync.id, trigger=opts.trigger.value, started_at=started)
        session.add(sync_run)
        # This run serves the request; one made while it goes sets it again (see below).
        sync.requested_trigger = None

    outcome, status, message = RunOutcome.OK, SyncStatus.OK, ""
    ledger = GoogleRequestLedger(session)
    try:
        client = people(
            settings,
            credentials.credentials_for(connection),
            RequestContext(
                account_id=sync.account_id,
                user_id=connection.user_id,
                google_sub=connection.google_sub or f"connection:{connection.id}",
                trigger=opts.trigger,
                actor=opts.actor,
            ),
            ledger,
        )
        # Its reads end here too: no transaction is open when the first request goes out.
        with unit_of_work(session, expire_on_commit=False):
            source = loaders.ListSource(session, sync)
            base_name = _group_name(session, source.name, sync)
        with client:
            executor.run(
                session,
                sync,
                sync_run=sync_run,
                crm=source,
                base_group_name=base_name,
                ctx=RunContext(
                    client=client,
                    limits=Limits(
                        mass_delete_share=settings.mass_delete_share,
                        mass_delete_minimum=settings.mass_delete_minimum,
                        mass_delete_confirmed=sync.mass_delete_confirmed,
                    ),
                    renew_lease=renew,
                    step=opts.step,
                    now=opts.now,
                    repair_every=timedelta(seconds=settings.sync_repair_interval_seconds),
                ),
            )
    except executor.RunBlockedError as exc:
        outcome, status, message = RunOutcome.BLOCKED, exc.status, str(exc)
    except (
        GroupDeletedError,
        NeedsReconnectError,
        PermissionDeniedError,
        ConnectionUnusableError,
        QuotaExceededError,
        ContactLimitReachedError,
    ) as exc:
        outcome, (status, message) = RunOutcome.FAILED, _MESSAGES[type(exc)]
        if isinstance(exc, NeedsReconnectError | PermissionDeniedError):
            connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
    except (TokenEndpointUnavailableError, PeopleError) as exc:
        # Ambiguous writes, Google unavailable, names all taken...: a later run adopts or retries.
        outcome, status = RunOutcome.FAILED, SyncStatus.FAILED
        message = stored_message(N_("This run did not finish and will be retried: %(error)s"), error=str(exc))
    except LeaseLostError as exc:
        outcome, status = RunOutcome.INTERRUPTED, SyncStatus.FAILED
        message = stored_message(N_("Another run took this Google account over: %(error)s"), error=str(exc))

    finished = opts.now()
    due: datetime | None
    if outcome is RunOutcome.OK:
        due = finished + timedelta(seconds=settings.sync_interval_seconds)
    elif status.halts:
        due = None
    else:
        due = finished + RETRY_AFTER_FAILURE
    with unit_of_work(session):
        sync_run.outcome, sync_run.message, sync_run.finished_at = outcome, message, finished
        # The start, not the end: CRM changes made while the run was going must make the sync due again.
        sync.status, sync.status_detail, sync.last_run_at = status, message, started
        if outcome is RunOutcome.OK:
            sync.last_success_at = finished
        # A "sync now" pressed while this run went keeps its time: another run follows right after.
        pending = ContactSync.requested_trigger.is_(None) if due is not None else ContactSync.id.is_not(None)
        session.execute(
            update(ContactSync)
            .where(ContactSync.id == sync.id, pending)
            .values(next_due_at=due)
            .execution_options(synchronize_session=False)
        )
    return sync_run


def _group_name(session: DbSession, list_name: str, sync: ContactSync) -> str:
    account = session.get(Account, sync.account_id)
    account_name = account.name if account is not None else "GroupSync"
    return f"{account_name} · {list_name}"
