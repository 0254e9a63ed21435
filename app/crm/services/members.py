"""List membership: which contacts a list holds."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from app.crm.models import ContactList, CrmContact, ListMember
from app.crm.services.common import ItemResult, Outcome, Page, page, transaction, unique_ids
from app.crm.services.lists import live_list
from app.crm.validation import FieldError, batch_items
from app.db import DbSession


def change_members(
    session: DbSession, account_id: int, list_crm_id: str, payload: object, *, add: bool
) -> list[ItemResult]:
    """Add contacts to a list or remove them from it; each id is answered on its own."""
    contact_list = live_list(session, account_id, list_crm_id)
    raw_ids = batch_items(payload, "contact_ids")
    results, wanted = unique_ids(raw_ids, "contact_ids")
    with transaction(session):
        contacts = {
            row.crm_id: row
            for row in session.scalars(
                select(CrmContact).where(
                    CrmContact.account_id == account_id, CrmContact.crm_id.in_(list(wanted))
                )
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
    contact_list = live_list(session, account_id, list_crm_id)
    stmt = (
        select(CrmContact)
        .join(ListMember, ListMember.contact_id == CrmContact.id)
        .where(ListMember.list_id == contact_list.id)
    )
    return page(session, stmt, CrmContact.id, cursor, limit)
