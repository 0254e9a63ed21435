"""User data rights: download everything GroupSync holds about a person, and delete it.

Which rows are "about a person" is derived from the schema rather than listed by hand: the
rows of every table that reference the user by a deleting foreign key (in the accounts the
request covers), the invitations addressed to them, and everything that hangs off those rows
the way the database cascades a delete. Export and deletion therefore cover the same rows,
and a table another domain adds later is covered without a change here.

The ledger has no foreign keys and is never touched: it keeps the numeric user id and the
keyed hash of the Google account, nothing that names the person. Erasing a whole account
(:func:`erase_account`) uses the same machinery, rooted at the account.

Revoking Google access comes first and is not done here: :mod:`app.flows.rights` disconnects,
then calls :func:`erase_user_data` or :func:`erase_account`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Table, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.accounts.models import Account, Invitation, Membership, Role, User
from app.accounts.services import lock_memberships
from app.db import Base, DbSession, plain, unit_of_work, utcnow
from app.extensions import gettext as _
from app.ledger.events import (
    DataCategory,
    Destination,
    EventTag,
    Flow,
    FlowKind,
    HumanViewReason,
    Purpose,
    Trigger,
)
from app.ledger.models import LedgerEntry
from app.ledger.services import entry_fields, record, record_human_view

EXPORT_FORMAT = "groupsync-user-data/1"

_LEDGER_PREFIX = "ledger_"
"""The ledger's tables, by prefix: sorting the metadata at import would need every model loaded."""
_GO_WITH_PARENT = frozenset({"sync_lease"})
"""Tables whose ``SET NULL`` reference is deleted with its parent: a sync's lease is keyed by the
Google account it holds, which must not outlive the sync."""
_SECRET_MARKERS = ("ciphertext", "token", "secret", "verifier", "state_hash", "browser_hash", "code_hash")
"""Columns never exported: credentials, their ciphertext and key ids, and hashes of one-time secrets."""


class RightsError(Exception):
    """A request that cannot be carried out as asked; the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Subject:
    """Whose data, in which accounts, and whether the person as a whole (their user row) is covered."""

    user_id: int
    account_ids: tuple[int, ...]
    whole_person: bool
    actor: str
    """``user:<id>`` of who asked: the person themself or an admin of the account."""

    @property
    def by_self(self) -> bool:
        return self.actor == f"user:{self.user_id}"


def own_request(session: Session, user: User) -> Subject:
    """The person's own request: every account they belong to, and their user row."""
    accounts = session.scalars(select(Membership.account_id).where(Membership.user_id == user.id))
    return Subject(user.id, tuple(sorted(accounts)), True, f"user:{user.id}")


def admin_request(session: Session, membership: Membership, admin: Membership) -> Subject:
    """An admin acting for a member of their own account; other accounts' data stays out of reach.

    The user row goes too only when this account is the last one the person belongs to.
    """
    if admin.role is not Role.ADMIN or admin.account_id != membership.account_id:
        raise RightsError("member", _("Only an admin of the member's own account can do this."))
    elsewhere = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == membership.user_id, Membership.account_id != membership.account_id)
    )
    return Subject(membership.user_id, (membership.account_id,), not elsewhere, f"user:{admin.user_id}")


# --------------------------------------------------------------------------- which rows


def _user_table() -> Table:
    return User.__table__  # type: ignore[return-value]


def _personal_roots(
    user_id: int, email: str, account_ids: Iterable[int]
) -> dict[Table, list[ColumnElement[bool]]]:
    """The person's own rows in ``account_ids``: every row that names them by a deleting reference."""
    accounts = list(account_ids)
    roots: dict[Table, list[ColumnElement[bool]]] = {}
    for table in Base.metadata.sorted_tables:
        if "account_id" not in table.c:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is _user_table() and fk.ondelete == "CASCADE":
                roots.setdefault(table, []).append(
                    and_(fk.parent == user_id, table.c.account_id.in_(accounts))
                )
    invitations: Table = Invitation.__table__  # type: ignore[assignment]
    roots.setdefault(invitations, []).append(
        and_(invitations.c.email == email.lower(), invitations.c.account_id.in_(accounts))
    )
    return roots


def _person_roots(subject: Subject, email: str) -> dict[Table, list[ColumnElement[bool]]]:
    """The user row, and on the person's own request the invitations addressed to them in any account."""
    users = _user_table()
    roots: dict[Table, list[ColumnElement[bool]]] = {users: [users.c.id == subject.user_id]}
    if subject.by_self:
        invitations: Table = Invitation.__table__  # type: ignore[assignment]
        roots[invitations] = [invitations.c.email == email.lower()]
    return roots


def _closure(roots: Mapping[Table, list[ColumnElement[bool]]]) -> dict[Table, ColumnElement[bool]]:
    """Follow deleting references from ``roots`` (parents come first in ``sorted_tables``)."""
    chosen: dict[Table, ColumnElement[bool]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name.startswith(_LEDGER_PREFIX):
            continue
        conditions = list(roots.get(table, []))
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent in chosen and (fk.ondelete == "CASCADE" or table.name in _GO_WITH_PARENT):
                conditions.append(fk.parent.in_(select(fk.column).where(chosen[parent])))
        if conditions:
            chosen[table] = or_(*conditions)
    return chosen


def _erase(session: Session, chosen: Mapping[Table, ColumnElement[bool]]) -> Counter[str]:
    """Delete ``chosen`` rows, children first, after clearing references kept by rows that stay."""
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent in chosen and fk.ondelete == "SET NULL" and table.name not in _GO_WITH_PARENT:
                session.execute(
                    update(table)
                    .where(fk.parent.in_(select(fk.column).where(chosen[parent])))
                    .values({fk.parent.name: None})
                )
    counts: Counter[str] = Counter()
    for table in reversed(Base.metadata.sorted_tables):
        if table in chosen:
            result = session.execute(delete(table).where(chosen[table]))
            counts[table.name] += int(getattr(result, "rowcount", 0) or 0)
    return +counts


# --------------------------------------------------------------------------- export


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _exportable(table: Table) -> list[Any]:
    return [
        column
        for column in table.columns
        if not isinstance(column.type, LargeBinary) and not any(m in column.name for m in _SECRET_MARKERS)
    ]


def _dump(session: Session, table: Table, condition: ColumnElement[bool]) -> list[dict[str, Any]]:
    columns = _exportable(table)
    order = list(table.primary_key.columns)
    rows = session.execute(select(*columns).where(condition).order_by(*order)).mappings()
    return [{key: _plain(value) for key, value in row.items()} for row in rows]


def _ledger_about(subject: Subject) -> ColumnElement[bool]:
    about = or_(LedgerEntry.user_id == subject.user_id, LedgerEntry.actor == f"user:{subject.user_id}")
    if subject.whole_person:
        return about
    return and_(about, LedgerEntry.account_id.in_(subject.account_ids))


def export(session: Session, subject: Subject, *, reason: HumanViewReason | None = None) -> dict[str, Any]:
    """Everything GroupSync holds about ``subject`` as one JSON-ready document; recorded in the ledger.

    An admin exporting a member's data reads Google-derived data (resource names, etags), so
    ``reason`` is required then and recorded as a human view.
    """
    user = session.get(User, subject.user_id)
    if user is None:
        raise RightsError("member", _("There is no such person (any more)."))
    if not subject.by_self and reason is None:
        raise RightsError("reason", _("Choose the reason you need this member's data."))
    roots = _personal_roots(user.id, user.email, subject.account_ids)
    if subject.whole_person:
        for table, conditions in _person_roots(subject, user.email).items():
            roots.setdefault(table, []).extend(conditions)
    chosen = _closure(roots)
    tables = {
        table.name: rows
        for table, condition in chosen.items()
        if table is not _user_table() and (rows := _dump(session, table, condition))
    }
    ledger = [
        entry_fields(entry)
        for entry in session.scalars(
            select(LedgerEntry).where(_ledger_about(subject)).order_by(LedgerEntry.chain, LedgerEntry.seq)
        )
    ]
    accounts = session.scalars(
        select(Account).where(Account.id.in_(subject.account_ids)).order_by(Account.id)
    )
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": utcnow().isoformat(),
        "requested_by": subject.actor,
        "not_included": "OAuth tokens, their ciphertext and key ids, and hashes of one-time secrets.",
        "profile": _dump(session, _user_table(), _user_table().c.id == user.id)[0],
        "accounts": [{"id": a.id, "name": a.name} for a in accounts],
        "tables": tables,
        "ledger": ledger,
    }
    exported = sum(len(r) for r in tables.values()) + len(ledger) + 1
    with unit_of_work(session):
        trigger = Trigger.USER_ACTION if subject.by_self else Trigger.ADMIN
        actor_id = int(subject.actor.removeprefix("user:"))
        for account_id in subject.account_ids:
            if reason is not None and not subject.by_self:
                record_human_view(
                    session,
                    account_id=account_id,
                    viewer_user_id=actor_id,
                    reason=reason,
                    view="user_data_export",
                    subject_user_id=user.id,
                )
            record(
                session,
                Flow(
                    tag=EventTag.DATA_EXPORTED,
                    account_id=account_id,
                    kind=FlowKind.LIFECYCLE,
                    purpose=Purpose.USER_DATA_RIGHTS,
                    trigger=trigger,
                    actor=subject.actor,
                    outcome="ok",
                    destination=Destination.GROUPSYNC_STORE,
                    user_id=user.id,
                    records=exported,
                    categories=frozenset(
                        {DataCategory.IDENTITY, DataCategory.CONTACT_GROUPS, DataCategory.METADATA}
                    ),
                    detail={"tables": len(tables), "ledger_entries": len(ledger)},
                ),
            )
    return document


# --------------------------------------------------------------------------- deletion


@dataclass(frozen=True)
class Receipt:
    """What a deletion did; shown once to whoever asked, and kept as ``user_data.deleted`` ledger entries."""

    user_id: int | None
    """``None`` for a whole account."""
    account_ids: tuple[int, ...]
    deleted_at: datetime
    person_deleted: bool
    rows: dict[str, int]
    revocations: dict[int, str]
    """Account id → how Google's revocation went (``revoked``, ``already_revoked``, ``no_token``...)."""
    ledger: list[dict[str, Any]] = field(default_factory=list)
    """Chain, sequence and hash of each ledger entry recording this deletion."""

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipt": "groupsync-deletion/1",
            "user_id": self.user_id,
            "accounts": list(self.account_ids),
            "deleted_at": self.deleted_at.isoformat(),
            "person_deleted": self.person_deleted,
            "rows_deleted": self.rows,
            "google_access_revoked": {str(k): v for k, v in self.revocations.items()},
            "ledger_entries": self.ledger,
            "contacts_in_google": "Contacts GroupSync wrote to Google Contacts stay there.",
        }


def _sole_admin_of(session: Session, user_id: int, account_ids: tuple[int, ...]) -> list[Account]:
    """Accounts among ``account_ids`` where this person is the only admin (memberships locked till commit)."""
    for account_id in account_ids:
        lock_memberships(session, account_id)
    admins = (
        select(Membership.account_id)
        .where(Membership.role == Role.ADMIN, Membership.account_id.in_(account_ids))
        .group_by(Membership.account_id)
        .having(func.count() == 1)
        .subquery()
    )
    return list(
        session.scalars(
            select(Account)
            .join(Membership, Membership.account_id == Account.id)
            .where(
                Membership.user_id == user_id,
                Membership.role == Role.ADMIN,
                Account.id.in_(select(admins.c.account_id)),
            )
            .order_by(Account.name)
        )
    )


def subject_user(session: DbSession, subject: Subject) -> User:
    user = session.get(User, subject.user_id)
    if user is None:
        raise RightsError("member", _("There is no such person (any more)."))
    return user


def refuse_last_admin(session: DbSession, subject: Subject) -> None:
    """Raise :class:`RightsError` when the person is the last admin of an account in scope."""
    user = subject_user(session, subject)
    sole = _sole_admin_of(plain(session), user.id, subject.account_ids)
    if sole:
        names = ", ".join(a.name for a in sole)
        raise RightsError(
            "member",
            _(
                "%(email)s is the last admin of %(accounts)s: make someone else admin first, then delete.",
                email=user.email,
                accounts=names,
            ),
        )


def _deleted_flow(
    account_id: int | None, subject_user: int | None, actor: str, trigger: Trigger, rows: Mapping[str, int]
) -> Flow:
    return Flow(
        tag=EventTag.DATA_DELETED,
        account_id=account_id,
        kind=FlowKind.DELETE,
        purpose=Purpose.USER_DATA_RIGHTS,
        trigger=trigger,
        actor=actor,
        outcome="ok",
        destination=Destination.GROUPSYNC_STORE,
        user_id=subject_user,
        records=sum(rows.values()),
        detail=dict(sorted(rows.items())),
    )


def erase_user_data(session: DbSession, subject: Subject, revocations: Mapping[int, str]) -> Receipt:
    """Delete the person's rows (all at once, in one transaction) and record it.

    Google access was revoked before (``revocations`` says how, per account). The
    last-admin rule is checked again here, in the deleting transaction, because the
    revocations committed on their own and released the lock.
    """
    with unit_of_work(session) as work:
        refuse_last_admin(work, subject)
        user = subject_user(work, subject)
        trigger = Trigger.USER_ACTION if subject.by_self else Trigger.ADMIN
        user_id, email = user.id, user.email
        total: Counter[str] = Counter()
        entries = []
        for account_id in subject.account_ids:
            rows = _erase(work, _closure(_personal_roots(user_id, email, [account_id])))
            total.update(rows)
            entries.append(record(work, _deleted_flow(account_id, user_id, subject.actor, trigger, rows)))
        if subject.whole_person:
            # Rows of accounts the person already left (an acceptance, a receipt) and the person themself.
            rows = _erase(work, _closure(_person_roots(subject, email)))
            total.update(rows)
            entries.append(record(work, _deleted_flow(None, user_id, subject.actor, trigger, rows)))
    plain(session).expire_all()
    return Receipt(
        user_id=subject.user_id,
        account_ids=subject.account_ids,
        deleted_at=utcnow(),
        person_deleted=subject.whole_person,
        rows=dict(sorted(total.items())),
        revocations=dict(revocations),
        ledger=[{"chain": e.chain, "seq": e.seq, "hash": e.hash} for e in entries],
    )


AccountStep = Callable[[Session, Mapping[Table, ColumnElement[bool]]], None]
"""Work done with the account's rows in the transaction that deletes them (a copy taken first)."""


def account_rows(session: Session, account_id: int) -> dict[Table, ColumnElement[bool]]:
    """Every row of the account, and the people who belong to no other account (the ledger aside)."""
    elsewhere = select(Membership.user_id).where(Membership.account_id != account_id)
    only_here = select(Membership.user_id).where(
        Membership.account_id == account_id, Membership.user_id.not_in(elsewhere)
    )
    users = _user_table()
    accounts: Table = Account.__table__  # type: ignore[assignment]
    roots: dict[Table, list[ColumnElement[bool]]] = {
        accounts: [accounts.c.id == account_id],
        users: [users.c.id.in_(list(session.scalars(only_here)))],
    }
    return _closure(roots)


def erase_account(
    session: DbSession,
    account_id: int,
    actor: str,
    revocations: Mapping[int, str],
    *,
    trigger: Trigger = Trigger.ADMIN,
    before: AccountStep | None = None,
) -> Receipt:
    """Delete every row of the account after its members' Google access was revoked; the ledger stays.

    People who belong to no other account are deleted too; the others keep their user row.
    ``before`` runs in the deleting transaction, so what it keeps and the deletion commit together.
    """
    with unit_of_work(session) as work:
        chosen = account_rows(work, account_id)
        if before is not None:
            before(work, chosen)
        rows = _erase(work, chosen)
        entry = record(work, _deleted_flow(account_id, None, actor, trigger, rows))
    plain(session).expire_all()
    return Receipt(
        user_id=None,
        account_ids=(account_id,),
        deleted_at=utcnow(),
        person_deleted=False,
        rows=dict(sorted(rows.items())),
        revocations=dict(revocations),
        ledger=[{"chain": entry.chain, "seq": entry.seq, "hash": entry.hash}],
    )
