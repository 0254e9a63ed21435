"""Use cases of the CRM domain. Each public function owns its transaction (commits or rolls back).

Callers pass the session and the tenant (``account_id``) explicitly: the API resolves the
account from the API key, the admin views from :func:`app.accounts.tenancy.current_account`.
Every query here is restricted to that account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.accounts.models import Membership
from app.crm.models import ApiKey, ContactList, CrmContact, CrmSettings, ListAccess, ListMember
from app.crm.validation import (
    FieldError,
    InputError,
    batch_items,
    check_id,
    check_name,
    check_region,
    validate_contact,
)
from app.crm.values import Birthday, ContactData, Messenger, PostalAddress, TypedValue
from app.db import utcnow

DbSession = Session | scoped_session[Any]
Record = Callable[[Session], None] | None
"""Written in the same transaction as the change it records (the account audit log's entry)."""


def _record(session: DbSession, record: Record) -> None:
    if record is not None:
        record(session() if isinstance(session, scoped_session) else session)


API_KEY_PREFIX = "gsk_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    ADDED = "added"
    REMOVED = "removed"
    ERROR = "error"


@dataclass(frozen=True)
class ItemResult:
    index: int
    id: str | None
    status: Outcome
    error: FieldError | None = None


class NotFoundError(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ConflictError(Exception):
    """Another transaction wrote the same CRM ids at the same moment; retrying is safe."""


# ----------------------------------------------------------------------------- rows <-> values


def to_contact_data(row: CrmContact) -> ContactData:
    """The value object the sync engine works on (never the ORM row)."""
    birthday = None
    if row.birthday_month is not None and row.birthday_day is not None:
        birthday = Birthday(month=row.birthday_month, day=row.birthday_day, year=row.birthday_year)
    return ContactData(
        crm_id=row.crm_id,
        prefix=row.prefix,
        given_name=row.given_name,
        middle_name=row.middle_name,
        family_name=row.family_name,
        suffix=row.suffix,
        job_title=row.job_title,
        company=row.company,
        emails=tuple(TypedValue(**item) for item in row.emails),
        phones=tuple(TypedValue(**item) for item in row.phones),
        birthday=birthday,
        notes=row.notes,
        addresses=tuple(PostalAddress(**item) for item in row.addresses),
        messengers=tuple(Messenger(**item) for item in row.messengers),
        urls=tuple(TypedValue(**item) for item in row.urls),
        updated_at=row.updated_at,
    )


def _dicts(values: Iterable[TypedValue | PostalAddress | Messenger]) -> list[dict[str, Any]]:
    return [asdict(value) for value in values]


def _apply(row: CrmContact, data: ContactData) -> None:
    row.prefix, row.given_name, row.middle_name = data.prefix, data.given_name, data.middle_name
    row.family_name, row.suffix = data.family_name, data.suffix
    row.job_title, row.company, row.notes = data.job_title, data.company, data.notes
    row.emails, row.phones, row.urls = _dicts(data.emails), _dicts(data.phones), _dicts(data.urls)
    row.birthday_year = data.birthday.year if data.birthday else None
    row.birthday_month = data.birthday.month if data.birthday else None
    row.birthday_day = data.birthday.day if data.birthday else None
    row.addresses, row.messengers = _dicts(data.addresses), _dicts(data.messengers)
    words = [data.crm_id, data.given_name, data.middle_name, data.family_name, data.company]
    row.search_text = " ".join([*words, *(e.value for e in data.emails)]).casefold()


def contact_payload(data: ContactData) -> dict[str, Any]:
    """The API representation of a contact (the inverse of :func:`validate_contact`)."""
    return {
        "id": data.crm_id,
        "prefix": data.prefix,
        "given_name": data.given_name,
        "middle_name": data.middle_name,
        "family_name": data.family_name,
        "suffix": data.suffix,
        "job_title": data.job_title,
        "company": data.company,
        "emails": _dicts(data.emails),
        "phones": _dicts(data.phones),
        "birthday": asdict(data.birthday) if data.birthday else None,
        "notes": data.notes,
        "addresses": _dicts(data.addresses),
        "messengers": _dicts(data.messengers),
        "urls": _dicts(data.urls),
    }


# ----------------------------------------------------------------------------- settings


def default_region(session: DbSession, account_id: int) -> str | None:
    settings = session.get(CrmSettings, account_id)
    return settings.default_phone_region if settings else None


def set_default_region(session: DbSession, account_id: int, value: str) -> str | None:
    """Set (or clear, with an empty value) the region used for numbers without a leading +."""
    region = check_region(value) if value.strip() else None
    settings = session.get(CrmSettings, account_id) or CrmSettings(account_id=account_id)
    settings.default_phone_region = region
    session.add(settings)
    session.commit()
    return region


# ----------------------------------------------------------------------------- contacts


def _bump_lists_of(session: DbSession, contact_ids: Sequence[int], now: datetime) -> None:
    if not contact_ids:
        return
    member_lists = select(ListMember.list_id).where(ListMember.contact_id.in_(contact_ids))
    session.execute(
        update(ContactList).where(ContactList.id.in_(member_lists)).values(content_changed_at=now)
    )


def commit(session: DbSession) -> None:
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError("a concurrent request wrote the same ids; retry the request") from exc


def _duplicates(ids: Sequence[str | None]) -> dict[int, int]:
    """Index of each repeated id -> index of its first occurrence."""
    first: dict[str, int] = {}
    repeated: dict[int, int] = {}
    for index, ident in enumerate(ids):
        if ident is None:
            continue
        if ident in first:
            repeated[index] = first[ident]
            repeated.setdefault(first[ident], first[ident])
        else:
            first[ident] = index
    return repeated


def _raw_id(payload: object) -> str | None:
    """The item's id when it is a valid one (only those are echoed back or compared)."""
    if not isinstance(payload, dict):
        return None
    try:
        return check_id(payload.get("id"), "id")
    except InputError:
        return None


def upsert_contacts(session: DbSession, account_id: int, payloads: Sequence[object]) -> list[ItemResult]:
    """Validate each payload and store the good ones in one transaction; report each item.

    An id given twice in one request is ambiguous, so every occurrence is rejected.
    """
    region = default_region(session, account_id)
    ids = [_raw_id(p) for p in payloads]
    repeated = _duplicates(ids)
    results: list[ItemResult | None] = [None] * len(payloads)
    valid: dict[int, ContactData] = {}
    for index, payload in enumerate(payloads):
        where = f"contacts[{index}]."
        if index in repeated:
            first = repeated[index]
            results[index] = ItemResult(
                index,
                ids[index],
                Outcome.ERROR,
                FieldError(
                    f"{where}id", f"'{ids[index]}' appears more than once (first at contacts[{first}])"
                ),
            )
            continue
        try:
            valid[index] = validate_contact(payload, default_region=region, prefix=where)
        except InputError as exc:
            results[index] = ItemResult(index, ids[index], Outcome.ERROR, exc.errors[0])
    outcomes = store_contact_data(session, account_id, list(valid.values()))
    commit(session)
    for (index, data), outcome in zip(valid.items(), outcomes, strict=True):
        results[index] = ItemResult(index, data.crm_id, outcome)
    return [r for r in results if r is not None]


def upsert_contact(session: DbSession, account_id: int, crm_id: str, payload: object) -> Outcome:
    """Create or replace one contact; raises :class:`InputError` naming the bad field."""
    check_id(crm_id, "id")
    data = validate_contact(payload, default_region=default_region(session, account_id), crm_id=crm_id)
    (outcome,) = store_contact_data(session, account_id, [data])
    commit(session)
    return outcome


def store_contact_data(session: DbSession, account_id: int, items: Sequence[ContactData]) -> list[Outcome]:
    """Store validated contacts with unique ids in the caller's transaction; bumps their lists."""
    if not items:
        return []
    now = utcnow()
    existing = {
        row.crm_id: row
        for row in session.scalars(
            select(CrmContact).where(
                CrmContact.account_id == account_id, CrmContact.crm_id.in_([d.crm_id for d in items])
            )
        )
    }
    outcomes: list[Outcome] = []
    changed: list[int] = []
    for data in items:
        row = existing.get(data.crm_id)
        if row is None:
            row = CrmContact(account_id=account_id, crm_id=data.crm_id, created_at=now, updated_at=now)
            _apply(row, data)
            session.add(row)
            existing[data.crm_id] = row
            outcomes.append(Outcome.CREATED)
            continue
        if not row.deleted and replace(to_contact_data(row), updated_at=None) == data:
            outcomes.append(Outcome.UNCHANGED)
            continue
        _apply(row, data)
        row.updated_at = now
        # Upserting a contact an admin deleted means the CRM has it again.
        row.deleted, row.deleted_at, row.deleted_by = False, None, None
        changed.append(row.id)
        outcomes.append(Outcome.UPDATED)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError("a concurrent request created the same ids; retry the request") from exc
    _bump_lists_of(session, changed, now)
    return outcomes


def _unique_ids(raw_ids: Sequence[object], name: str) -> tuple[list[ItemResult | None], dict[str, int]]:
    """Check each id; an id given twice is refused at every occurrence, like in a bulk upsert.

    Returns the results filled in for refused items and the accepted ids with their index.
    """
    results: list[ItemResult | None] = [None] * len(raw_ids)
    idents: list[str | None] = []
    for index, raw in enumerate(raw_ids):
        try:
            idents.append(check_id(raw, f"{name}[{index}]"))
        except InputError as exc:
            idents.append(None)
            results[index] = ItemResult(index, None, Outcome.ERROR, exc.errors[0])
    repeated = _duplicates(idents)
    wanted: dict[str, int] = {}
    for index, ident in enumerate(idents):
        if ident is None:
            continue
        if index in repeated:
            message = f"'{ident}' appears more than once (first at {name}[{repeated[index]}])"
            results[index] = ItemResult(index, ident, Outcome.ERROR, FieldError(f"{name}[{index}]", message))
        else:
            wanted[ident] = index
    return results, wanted


def delete_contacts(
    session: DbSession, account_id: int, raw_ids: Sequence[object], actor: str
) -> list[ItemResult]:
    """Mark contacts deleted (an admin's decision) and bump every list they are in."""
    results, wanted = _unique_ids(raw_ids, "ids")
    rows = {
        row.crm_id: row
        for row in session.scalars(
            select(CrmContact).where(CrmContact.account_id == account_id, CrmContact.crm_id.in_(list(wanted)))
        )
    }
    now = utcnow()
    changed: list[int] = []
    for ident, index in wanted.items():
        row = rows.get(ident)
        if row is None:
            results[index] = ItemResult(
                index, ident, Outcome.ERROR, FieldError(f"ids[{index}]", f"no contact has the id '{ident}'")
            )
        elif row.deleted:
            results[index] = ItemResult(index, ident, Outcome.UNCHANGED)
        else:
            row.deleted, row.deleted_at, row.deleted_by = True, now, actor
            row.updated_at = now
            changed.append(row.id)
            results[index] = ItemResult(index, ident, Outcome.DELETED)
    _bump_lists_of(session, changed, now)
    commit(session)
    return [r for r in results if r is not None]


def delete_contact(session: DbSession, account_id: int, crm_id: str, actor: str) -> Outcome:
    (result,) = delete_contacts(session, account_id, [crm_id], actor)
    if result.error is not None:
        raise NotFoundError("id", f"no contact has the id '{crm_id}'")
    return result.status


def get_contact(session: DbSession, account_id: int, crm_id: str) -> CrmContact:
    row = session.scalar(
        select(CrmContact).where(CrmContact.account_id == account_id, CrmContact.crm_id == crm_id)
    )
    if row is None:
        raise NotFoundError("id", f"no contact has the id '{crm_id}'")
    return row


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def _page(session: DbSession, stmt: Select[Any], key: Any, cursor: int | None, limit: int) -> Page:
    if cursor is not None:
        stmt = stmt.where(key > cursor)
    rows = list(session.scalars(stmt.order_by(key).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


def page_contacts(session: DbSession, account_id: int, cursor: int | None, limit: int) -> Page:
    stmt = select(CrmContact).where(CrmContact.account_id == account_id)
    return _page(session, stmt, CrmContact.id, cursor, limit)


def search_contacts(session: DbSession, account_id: int, query: str, cursor: int | None, limit: int) -> Page:
    """Admin UI: live contacts whose id, names, company or e-mails contain ``query`` (any case)."""
    stmt = select(CrmContact).where(CrmContact.account_id == account_id, CrmContact.deleted.is_(False))
    if query:
        escaped = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(CrmContact.search_text.like(f"%{escaped}%", escape="\\"))
    return _page(session, stmt, CrmContact.id, cursor, limit)


# ----------------------------------------------------------------------------- lists


def _list(session: DbSession, account_id: int, crm_id: str, field: str = "list_id") -> ContactList:
    row = session.scalar(
        select(ContactList).where(
            ContactList.account_id == account_id,
            ContactList.crm_id == crm_id,
            ContactList.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFoundError(field, f"no list has the id '{crm_id}'")
    return row


def get_list(session: DbSession, account_id: int, crm_id: str) -> ContactList:
    return _list(session, account_id, crm_id)


def list_sizes(session: DbSession, list_ids: Sequence[int]) -> dict[int, int]:
    """Live (not deleted) members per list."""
    if not list_ids:
        return {}
    stmt = (
        select(ListMember.list_id, func.count())
        .join(CrmContact, CrmContact.id == ListMember.contact_id)
        .where(ListMember.list_id.in_(list_ids), CrmContact.deleted.is_(False))
        .group_by(ListMember.list_id)
    )
    counts: dict[int, int] = dict(session.execute(stmt).all())
    return {list_id: counts.get(list_id, 0) for list_id in list_ids}


def page_lists(session: DbSession, account_id: int, cursor: int | None, limit: int) -> Page:
    stmt = select(ContactList).where(ContactList.account_id == account_id, ContactList.deleted_at.is_(None))
    return _page(session, stmt, ContactList.id, cursor, limit)


def put_list(
    session: DbSession, account_id: int, crm_id: str, payload: object
) -> tuple[ContactList, Outcome]:
    """Create a list, rename it, or bring back a deleted one with the same CRM id."""
    check_id(crm_id, "list_id")
    if not isinstance(payload, dict):
        raise InputError([FieldError("body", "must be a JSON object with a name")])
    unknown = [key for key in payload if key not in {"id", "name"}]
    if unknown:
        raise InputError([FieldError(unknown[0], "is not a known field")])
    if "id" in payload and payload["id"] != crm_id:
        raise InputError([FieldError("id", "differs from the id in the URL")])
    return _save_list(session, account_id, crm_id, payload.get("name"))


def create_list(session: DbSession, account_id: int, name: str) -> ContactList:
    """A new list an admin names in the UI; GroupSync makes up its CRM id."""
    row, _ = _save_list(session, account_id, _new_list_id(), name)
    return row


def rename_list(session: DbSession, contact_list: ContactList, name: str) -> Outcome:
    """Rename a live list from the admin UI: ``UPDATED``, or ``UNCHANGED`` when it had that name."""
    if contact_list.deleted_at is not None:
        # Saving under a deleted list's id would bring it back, which a rename must not do.
        raise NotFoundError("list", f"no list has the id '{contact_list.crm_id}'")
    _, outcome = _save_list(session, contact_list.account_id, contact_list.crm_id, name)
    return outcome


def _new_list_id() -> str:
    """A CRM id for a list created in GroupSync (admin UI, CSV import) rather than by the CRM."""
    return f"gs-{secrets.token_hex(8)}"


def _save_list(
    session: DbSession, account_id: int, crm_id: str, raw_name: object
) -> tuple[ContactList, Outcome]:
    """Create, rename or bring back the list ``crm_id``; the API and the admin UI both come here."""
    name = check_name(raw_name)
    row = session.scalar(
        select(ContactList).where(ContactList.account_id == account_id, ContactList.crm_id == crm_id)
    )
    now = utcnow()
    if row is None:
        row = ContactList(account_id=account_id, crm_id=crm_id, name=name, content_changed_at=now)
        session.add(row)
        outcome = Outcome.CREATED
    elif row.deleted_at is not None:
        row.name, row.deleted_at, row.updated_at = name, None, now
        row.bump(now)
        outcome = Outcome.CREATED
    elif row.name != name:
        # A rename changes no member, so the sync engine has nothing to redo: the name only
        # names a Google group when one is created, and existing groups keep theirs.
        row.name, row.updated_at = name, now
        outcome = Outcome.UPDATED
    else:
        outcome = Outcome.UNCHANGED
    commit(session)
    return row, outcome


def delete_list(session: DbSession, account_id: int, crm_id: str) -> None:
    """Remove every member and mark the list deleted, so syncs of it empty their groups."""
    row = _list(session, account_id, crm_id)
    now = utcnow()
    session.query(ListMember).filter(ListMember.list_id == row.id).delete(synchronize_session=False)
    row.deleted_at, row.updated_at = now, now
    row.bump(now)
    commit(session)


def change_members(
    session: DbSession, account_id: int, list_crm_id: str, payload: object, *, add: bool
) -> list[ItemResult]:
    """Add contacts to a list or remove them from it; each id is answered on its own."""
    contact_list = _list(session, account_id, list_crm_id)
    raw_ids = batch_items(payload, "contact_ids")
    results, wanted = _unique_ids(raw_ids, "contact_ids")
    contacts = {
        row.crm_id: row
        for row in session.scalars(
            select(CrmContact).where(CrmContact.account_id == account_id, CrmContact.crm_id.in_(list(wanted)))
        )
    }
    present = set(
        session.scalars(
            select(ListMember.contact_id).where(
                ListMember.list_id == contact_list.id,
                ListMember.contact_id.in_([c.id for c in contacts.values()]),
            )
        )
    )
    changed = False
    for ident, index in wanted.items():
        field = f"contact_ids[{index}]"
        contact = contacts.get(ident)
        if contact is None:
            results[index] = ItemResult(
                index, ident, Outcome.ERROR, FieldError(field, f"no contact has the id '{ident}'")
            )
        elif add and contact.deleted:
            message = f"contact '{ident}' was deleted; upsert it again before adding it to a list"
            results[index] = ItemResult(index, ident, Outcome.ERROR, FieldError(field, message))
        elif add == (contact.id in present):
            results[index] = ItemResult(index, ident, Outcome.UNCHANGED)
        elif add:
            session.add(ListMember(list_id=contact_list.id, contact_id=contact.id))
            results[index] = ItemResult(index, ident, Outcome.ADDED)
            changed = True
        else:
            session.query(ListMember).filter_by(list_id=contact_list.id, contact_id=contact.id).delete()
            results[index] = ItemResult(index, ident, Outcome.REMOVED)
            changed = True
    if changed:
        contact_list.bump()
    commit(session)
    return [r for r in results if r is not None]


def add_contacts_to_list(
    session: DbSession, contact_list: ContactList, contacts: Iterable[CrmContact]
) -> int:
    """Add live contacts to a list in the caller's transaction (CSV import, demo data); bumps if any."""
    present = set(session.scalars(select(ListMember.contact_id).where(ListMember.list_id == contact_list.id)))
    added = 0
    for contact in contacts:
        if contact.id not in present and not contact.deleted:
            session.add(ListMember(list_id=contact_list.id, contact_id=contact.id))
            present.add(contact.id)
            added += 1
    if added:
        contact_list.bump()
    return added


def page_members(
    session: DbSession, account_id: int, list_crm_id: str, cursor: int | None, limit: int
) -> Page:
    contact_list = _list(session, account_id, list_crm_id)
    stmt = (
        select(CrmContact)
        .join(ListMember, ListMember.contact_id == CrmContact.id)
        .where(ListMember.list_id == contact_list.id)
    )
    return _page(session, stmt, CrmContact.id, cursor, limit)


def find_or_create_list_by_name(session: DbSession, account_id: int, name: str) -> ContactList:
    """The live list called ``name`` or a new one (CSV import); flushed, not committed."""
    name = check_name(name, "list")
    row = session.scalar(
        select(ContactList)
        .where(
            ContactList.account_id == account_id, ContactList.name == name, ContactList.deleted_at.is_(None)
        )
        .order_by(ContactList.id)
    )
    if row is None:
        row = ContactList(account_id=account_id, crm_id=_new_list_id(), name=name)
        session.add(row)
        session.flush()
    return row


# ----------------------------------------------------------------------------- access


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
    now = utcnow()
    if access is not None and access.revoked_at is None:
        return False
    if access is None:
        access = ListAccess(list_id=contact_list.id, membership_id=membership.id, granted_by=actor)
        session.add(access)
    access.granted_at, access.granted_by, access.revoked_at, access.revoked_by = now, actor, None, None
    contact_list.bump(now)
    _record(session, record)
    commit(session)
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
    now = utcnow()
    access.revoked_at, access.revoked_by = now, actor
    contact_list.bump(now)
    _record(session, record)
    commit(session)
    return True


def withdraw_all_access(session: DbSession, membership_id: int, actor: str) -> int:
    """A member is leaving the account: withdraw every list, in the caller's transaction.

    Call it before deleting the membership, inside the same transaction, so the bump and
    the withdrawal are recorded together; it does not commit.
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
        access.contact_list.bump(now)
    session.flush()
    return len(grants)


# ----------------------------------------------------------------------------- API keys


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class FormAlreadyUsedError(Exception):
    """The create-key form was sent before and its key exists: a reload or a double click."""


def create_api_key(
    session: DbSession,
    account_id: int,
    name: str,
    created_by: int | None,
    form_token: str | None = None,
    *,
    record: Record = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned once and only its hash is stored.

    ``form_token`` is the creating form's single-use token (the admin UI's); the unique index
    on its hash makes a second sending of that form fail with :class:`FormAlreadyUsedError`,
    even when both arrive at the same instant.
    """
    label = check_name(name, "name", max_length=100)
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        account_id=account_id,
        name=label,
        prefix=secret[:12],
        secret_hash=_hash_secret(secret),
        created_by=created_by,
        form_token_hash=_hash_secret(form_token) if form_token is not None else None,
    )
    session.add(key)
    try:
        _record(session, record)
        session.commit()
    except IntegrityError:
        session.rollback()
        form_used = key.form_token_hash is not None and session.scalar(
            select(ApiKey.id).where(ApiKey.form_token_hash == key.form_token_hash)
        )
        if not form_used:
            raise
        raise FormAlreadyUsedError from None
    return key, secret


def revoke_api_key(session: DbSession, key: ApiKey, *, record: Record = None) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        _record(session, record)
        session.commit()


def authenticate_api_key(session: DbSession, secret: str) -> ApiKey | None:
    """The live key whose secret this is; records its use at most once a minute."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == _hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
        key.last_used_at = now
        session.commit()
    return key


def api_keys(session: DbSession, account_id: int) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at.desc())
        )
    )
