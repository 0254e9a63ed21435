"""What a sync did, contact by contact: the rows of the "contacts in this sync" pages and the run progress.

Read-only. The states come from what the executor recorded when it applied each batch
(``SyncedContact.last_action``/``last_run_id``, :class:`SyncRemoval`), never from a guess;
names and addresses come from the CRM, so nothing of Google's contact content is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import String, Subquery, Table, and_, func, literal, null, or_, select, union_all

from app.accounts.models import Membership, User
from app.crm.models import ContactList, CrmContact
from app.db import DbSession, utcnow
from app.natural_order import natural_keys
from app.sync.mapping import NotCarried
from app.sync.models import (
    ContactAction,
    ContactSync,
    RemovalKind,
    RunOutcome,
    SyncedContact,
    SyncRemoval,
    SyncRun,
)
from app.sync.planner import RowState

_CRM = cast(Table, CrmContact.__table__)
"""The CRM's field columns are made from the field table, so they are reached through the table."""
PAGE_SIZE = 50
MAX_QUERY = 100


class ContactState(StrEnum):
    """One contact's state as the page words it (the view holds the words)."""

    IN_SYNC = "in_sync"
    CREATED = "created"
    RECREATED = "recreated"
    ADOPTED = "adopted"
    UPDATED = "updated"
    READDED = "readded"
    DELETED = "deleted"
    RELEASED = "released"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    STOPPED_BY_USER = "stopped_by_user"
    """The user chose "stop syncing this contact"."""
    GOOGLE_REFUSED = "google_refused"
    """Google refused the last write; ``ContactRow.detail`` holds Google's words."""
    NOT_CONFIRMED = "not_confirmed"
    """A create was sent and Google's answer was not recorded; the next run checks."""


_DONE = {
    ContactAction.CREATED: ContactState.CREATED,
    ContactAction.RECREATED: ContactState.RECREATED,
    ContactAction.ADOPTED: ContactState.ADOPTED,
    ContactAction.UPDATED: ContactState.UPDATED,
    ContactAction.READDED: ContactState.READDED,
}
_REMOVED = {RemovalKind.DELETED: ContactState.DELETED, RemovalKind.RELEASED: ContactState.RELEASED}


@dataclass(frozen=True)
class ContactRow:
    crm_id: str
    name: str
    """From the CRM; empty when the CRM no longer holds the contact."""
    email: str
    state: ContactState
    reason: SkipReason | None = None
    detail: str = ""
    """Google's own words when it refused a write."""
    not_carried: tuple[NotCarried, ...] = ()


@dataclass(frozen=True)
class ContactsPage:
    rows: list[ContactRow]
    total: int
    page: int
    pages: int
    query: str
    run: SyncRun | None
    """The run whose actions and removals the states describe (the latest unless one was chosen)."""


def _name(given: str | None, family: str | None) -> str:
    return " ".join(part for part in (given, family) if part)


def _first_email(emails: Any) -> str:
    if isinstance(emails, list) and emails and isinstance(emails[0], dict):
        return str(emails[0].get("value", ""))
    return ""


def _run_of(session: DbSession, sync: ContactSync, run_id: int | None) -> SyncRun | None:
    stmt = select(SyncRun).where(SyncRun.sync_id == sync.id)
    if run_id is not None:
        return session.scalar(stmt.where(SyncRun.id == run_id))
    return session.scalar(stmt.order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(1))


def _entries(sync: ContactSync, run: SyncRun | None) -> Subquery:
    """The contacts to list: every mapping row, and what ``run`` removed (``kind`` set on those)."""
    rows = select(
        SyncedContact.crm_id.label("crm_id"),
        null().cast(String).label("kind"),
        SyncedContact.id.label("row_id"),
    ).where(SyncedContact.sync_id == sync.id)
    if run is None:
        return rows.subquery()
    removed = select(
        SyncRemoval.crm_id.label("crm_id"),
        SyncRemoval.kind.cast(String).label("kind"),
        literal(None).label("row_id"),
    ).where(SyncRemoval.run_id == run.id)
    return union_all(rows, removed).subquery()


def contacts_of(
    session: DbSession,
    sync: ContactSync,
    *,
    query: str = "",
    page: int = 1,
    run_id: int | None = None,
    page_size: int = PAGE_SIZE,
) -> ContactsPage | None:
    """One page of the sync's contacts with their states; ``None`` when ``run_id`` is not this sync's.

    ``query`` matches the CRM's search text (names, company, e-mails, CRM id), case-folded.
    """
    run = _run_of(session, sync, run_id)
    if run_id is not None and run is None:
        return None
    query = query.strip()[:MAX_QUERY]
    entries = _entries(sync, run)
    crm = and_(CrmContact.account_id == sync.account_id, CrmContact.crm_id == entries.c.crm_id)
    stmt = select(entries.c.crm_id, entries.c.kind, entries.c.row_id).outerjoin(CrmContact, crm)
    if query:
        escaped = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(
                CrmContact.search_text.like(f"%{escaped}%", escape="\\"),
                func.lower(entries.c.crm_id).like(f"%{escaped}%", escape="\\"),
            )
        )
    # Natural order ("Customer 2" before "Customer 10", Ukrainian letters in place) is not an order
    # SQL has on both databases, so the matching entries' names are sorted here and one page's rows
    # are read in full afterwards: a list of 25,000 is a few short columns each (docs/benchmarks.md,
    # "The contacts-in-this-sync page"). A contact the CRM no longer names sorts by its CRM id.
    names = session.execute(stmt.add_columns(_CRM.c.given_name, _CRM.c.family_name)).all()
    keys = natural_keys([_name(r.given_name, r.family_name) or r.crm_id for r in names])
    order = sorted(range(len(names)), key=lambda i: (keys[i], names[i].crm_id, names[i].kind or ""))
    ordered = [names[i] for i in order]
    total = len(ordered)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    listed = ordered[(page - 1) * page_size : page * page_size]
    listed_ids = [r.crm_id for r in listed]
    found = select(CrmContact.crm_id, _CRM.c.emails).where(
        CrmContact.account_id == sync.account_id, CrmContact.crm_id.in_(listed_ids)
    )
    emails: dict[str, Any] = {row.crm_id: row.emails for row in session.execute(found)}
    row_ids = [r.row_id for r in listed if r.row_id is not None]
    mapping = {r.id: r for r in session.scalars(select(SyncedContact).where(SyncedContact.id.in_(row_ids)))}
    result = []
    for r in listed:
        name, email = _name(r.given_name, r.family_name), _first_email(emails.get(r.crm_id))
        if r.kind is not None:
            result.append(ContactRow(r.crm_id, name, email, _REMOVED[RemovalKind(r.kind)]))
        else:
            result.append(_row_state(mapping[r.row_id], name, email, run))
    return ContactsPage(result, total, page, pages, query, run)


def _row_state(row: SyncedContact, name: str, email: str, run: SyncRun | None) -> ContactRow:
    carried = tuple(NotCarried(str(nc.get("field", "")), str(nc.get("reason", ""))) for nc in row.not_carried)
    base = ContactRow(row.crm_id, name, email, ContactState.IN_SYNC, not_carried=carried)
    if row.stop_syncing:
        return _skipped(base, SkipReason.STOPPED_BY_USER)
    if row.last_action is ContactAction.FAILED:
        # Shown until a later run writes the contact: every run tries it again.
        return _skipped(base, SkipReason.GOOGLE_REFUSED, row.last_reason)
    if row.state is RowState.INTENDED:
        return _skipped(base, SkipReason.NOT_CONFIRMED)
    if run is not None and row.last_run_id == run.id and row.last_action in _DONE:
        return ContactRow(row.crm_id, name, email, _DONE[row.last_action], not_carried=carried)
    return base


def _skipped(base: ContactRow, reason: SkipReason, detail: str = "") -> ContactRow:
    return ContactRow(
        base.crm_id, base.name, base.email, ContactState.SKIPPED, reason, detail, base.not_carried
    )


def runs_of(session: DbSession, sync: ContactSync, limit: int = 20) -> list[SyncRun]:
    """The sync's runs, newest first (kept after the sync is turned off)."""
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.sync_id == sync.id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    seconds_left: int | None
    """``None`` until the run has written something to measure its pace by."""


def progress(run: SyncRun, now: datetime | None = None) -> Progress:
    """``run``'s contacts written of those it writes, and, while it runs, the time left at its pace so far."""
    done, total = run.contacts_done, run.contacts_total
    if run.outcome is not RunOutcome.RUNNING or done <= 0 or total <= done:
        return Progress(done, total, None)
    elapsed = max((now or utcnow()) - run.started_at, timedelta(0))
    left = elapsed * (total - done) / done
    return Progress(done, total, int(left.total_seconds()) + 1)


@dataclass(frozen=True)
class AccountSync:
    """One row of the admin's *Syncs* page: the sync with its member and list in words."""

    sync: ContactSync
    member_name: str
    member_email: str
    list_name: str


def account_syncs(session: DbSession, account_id: int) -> list[AccountSync]:
    """Every sync of the account with its member's name and address and its list's name."""
    rows = session.execute(
        select(ContactSync, User.name, User.email, ContactList.name)
        .join(Membership, Membership.id == ContactSync.membership_id)
        .join(User, User.id == Membership.user_id)
        .join(ContactList, ContactList.id == ContactSync.list_id)
        .where(ContactSync.account_id == account_id)
        .order_by(User.email, ContactList.name, ContactSync.id)
    ).all()
    return [AccountSync(sync, name, email, list_name) for sync, name, email, list_name in rows]
