"""Contacts: upsert, delete, read and search, each for one account (tenant)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.contact_fields import CONTACT_FIELDS, ContactData
from app.crm.models import ContactList, CrmContact, ListMember, apply_contact_data, to_contact_data
from app.crm.services.common import (
    ConflictError,
    ItemResult,
    NotFoundError,
    Outcome,
    Page,
    duplicates,
    page,
    transaction,
    unique_ids,
)
from app.crm.services.settings import default_region
from app.crm.validation import FieldError, InputError, check_id, validate_contact
from app.db import DbSession, utcnow

__all__ = [
    "DeletionReach",
    "contact_payload",
    "delete_contact",
    "delete_contacts",
    "delete_with_undo",
    "deletion_reach",
    "get_contact",
    "page_contacts",
    "search_contacts",
    "store_contact_data",
    "to_contact_data",
    "undo_delete",
    "upsert_contact",
    "upsert_contacts",
]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [dataclasses.asdict(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def contact_payload(data: ContactData) -> dict[str, Any]:
    """The API representation of a contact (the inverse of :func:`validate_contact`)."""
    return {"id": data.crm_id, **{spec.name: _jsonable(getattr(data, spec.name)) for spec in CONTACT_FIELDS}}


def _bump_lists_of(session: DbSession, contact_ids: Sequence[int], now: datetime) -> None:
    if not contact_ids:
        return
    member_lists = select(ListMember.list_id).where(ListMember.contact_id.in_(contact_ids))
    session.execute(
        update(ContactList).where(ContactList.id.in_(member_lists)).values(content_changed_at=now)
    )


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
    repeated = duplicates(ids)
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
    with transaction(session):
        outcomes = store_contact_data(session, account_id, list(valid.values()))
    for (index, data), outcome in zip(valid.items(), outcomes, strict=True):
        results[index] = ItemResult(index, data.crm_id, outcome)
    return [r for r in results if r is not None]


def upsert_contact(session: DbSession, account_id: int, crm_id: str, payload: object) -> Outcome:
    """Create or replace one contact; raises :class:`InputError` naming the bad field."""
    check_id(crm_id, "id")
    data = validate_contact(payload, default_region=default_region(session, account_id), crm_id=crm_id)
    with transaction(session):
        (outcome,) = store_contact_data(session, account_id, [data])
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
            apply_contact_data(row, data)
            session.add(row)
            existing[data.crm_id] = row
            outcomes.append(Outcome.CREATED)
            continue
        if not row.deleted and dataclasses.replace(to_contact_data(row), updated_at=None) == data:
            outcomes.append(Outcome.UNCHANGED)
            continue
        apply_contact_data(row, data)
        row.updated_at = now
        # Upserting a contact an admin deleted means the CRM has it again.
        row.deleted, row.deleted_at, row.deleted_by, row.undo_until = False, None, None, None
        changed.append(row.id)
        outcomes.append(Outcome.UPDATED)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError("a concurrent request created the same ids; retry the request") from exc
    _bump_lists_of(session, changed, now)
    return outcomes


def delete_contacts(
    session: DbSession, account_id: int, raw_ids: Sequence[object], actor: str, *, erase: bool = False
) -> list[ItemResult]:
    """Mark contacts deleted (an admin's decision) and bump every list they are in.

    ``erase`` (a data subject's deletion request) also blanks every field and ends an undo
    window an admin's deletion may have opened: the sync then removes the Google copies at its
    next run and nothing is left to restore.
    """
    results, wanted = unique_ids(raw_ids, "ids")
    with transaction(session):
        rows = {
            row.crm_id: row
            for row in session.scalars(
                select(CrmContact).where(
                    CrmContact.account_id == account_id, CrmContact.crm_id.in_(list(wanted))
                )
            )
        }
        now = utcnow()
        changed: list[int] = []
        for ident, index in wanted.items():
            row = rows.get(ident)
            if row is None:
                message = f"no contact has the id '{ident}'"
                results[index] = ItemResult(index, ident, Outcome.ERROR, FieldError(f"ids[{index}]", message))
            elif row.deleted and not erase:
                results[index] = ItemResult(index, ident, Outcome.UNCHANGED)
            else:
                if not row.deleted:
                    row.deleted, row.deleted_at, row.deleted_by = True, now, actor
                if erase:
                    apply_contact_data(row, ContactData(crm_id=row.crm_id))
                    row.undo_until = None
                row.updated_at = now
                changed.append(row.id)
                results[index] = ItemResult(index, ident, Outcome.DELETED)
        _bump_lists_of(session, changed, now)
    return [r for r in results if r is not None]


@dataclasses.dataclass(frozen=True)
class DeletionReach:
    """What deleting a contact touches: the lists holding it and the Google accounts syncing them."""

    lists: list[str]
    google_accounts: int


def deletion_reach(session: DbSession, contact: CrmContact) -> DeletionReach:
    """The live lists holding ``contact`` and how many members' Google accounts sync one of them."""
    from app.sync.models import ContactSync

    lists = list(
        session.scalars(
            select(ContactList)
            .join(ListMember, ListMember.list_id == ContactList.id)
            .where(ListMember.contact_id == contact.id, ContactList.deleted_at.is_(None))
            .order_by(ContactList.name)
        )
    )
    syncing = set(
        session.scalars(
            select(ContactSync.connection_id).where(
                ContactSync.list_id.in_([row.id for row in lists]), ContactSync.enabled.is_(True)
            )
        )
    )
    return DeletionReach([row.name for row in lists], len(syncing))


def delete_with_undo(session: DbSession, contact: CrmContact, actor: str, window: timedelta) -> datetime:
    """An admin's deletion that may be undone for ``window``; returns until when.

    The contact is deleted for the CRM at once (the API says so); the sync treats it as live
    until the window ends, so its Google copies go only once nobody can undo any more.
    """
    now = utcnow()
    with transaction(session):
        if not contact.deleted:
            contact.deleted, contact.deleted_at, contact.deleted_by = True, now, actor
            contact.updated_at = now
        contact.undo_until = now + window
        _bump_lists_of(session, [contact.id], now)
    return contact.undo_until


def undo_delete(session: DbSession, contact: CrmContact) -> bool:
    """Restore a contact deleted on the admin page while its undo window lasts; False after it."""
    now = utcnow()
    if not contact.deleted or contact.undo_until is None or contact.undo_until <= now:
        return False
    with transaction(session):
        contact.deleted, contact.deleted_at, contact.deleted_by, contact.undo_until = False, None, None, None
        contact.updated_at = now
        _bump_lists_of(session, [contact.id], now)
    return True


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


def page_contacts(session: DbSession, account_id: int, cursor: int | None, limit: int) -> Page:
    stmt = select(CrmContact).where(CrmContact.account_id == account_id)
    return page(session, stmt, CrmContact.id, cursor, limit)


def search_contacts(session: DbSession, account_id: int, query: str, cursor: int | None, limit: int) -> Page:
    """Admin UI: live contacts whose id or searchable fields (names, company, e-mails) contain ``query``."""
    stmt = select(CrmContact).where(CrmContact.account_id == account_id, CrmContact.deleted.is_(False))
    if query:
        escaped = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(CrmContact.search_text.like(f"%{escaped}%", escape="\\"))
    return page(session, stmt, CrmContact.id, cursor, limit)
