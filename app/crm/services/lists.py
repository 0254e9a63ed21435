"""Contact lists: create, rename, delete and read them, each for one account (tenant)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select

from app.crm.models import ContactList, CrmContact, ListMember
from app.crm.services.common import NameTakenError, NotFoundError, Outcome, Page, page, transaction
from app.crm.validation import FieldError, InputError, check_id, check_name
from app.db import DbSession, utcnow


def live_list(session: DbSession, account_id: int, crm_id: str, field: str = "list_id") -> ContactList:
    """The account's list ``crm_id`` unless deleted; :class:`NotFoundError` naming ``field`` otherwise."""
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
    return live_list(session, account_id, crm_id)


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
    return page(session, stmt, ContactList.id, cursor, limit)


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


def name_key(name: str) -> str:
    """What two list names must differ in: case is ignored, as the unique index on ``lower(name)`` does."""
    return name.casefold()


def _live_named(session: DbSession, account_id: int, name: str) -> ContactList | None:
    """The account's live list whose name equals ``name`` ignoring case, if any.

    Compared in Python with :func:`str.casefold`: SQLite's ``lower()`` folds ASCII only, and an
    account holds few lists. The unique index on ``lower(name)`` stops a concurrent twin.
    """
    wanted = name_key(name)
    rows = session.scalars(
        select(ContactList)
        .where(ContactList.account_id == account_id, ContactList.deleted_at.is_(None))
        .order_by(ContactList.id)
    )
    return next((row for row in rows if name_key(row.name) == wanted), None)


def _refuse_taken(session: DbSession, account_id: int, crm_id: str, name: str) -> None:
    other = _live_named(session, account_id, name)
    if other is not None and other.crm_id != crm_id:
        raise NameTakenError(name, other.name, other.crm_id)


def _save_list(
    session: DbSession, account_id: int, crm_id: str, raw_name: object
) -> tuple[ContactList, Outcome]:
    """Create, rename or bring back the list ``crm_id``; the API and the admin UI both come here.

    A name another live list of the account has (ignoring case) is refused with
    :class:`NameTakenError`: CSV import picks its target list by name.
    """
    name = check_name(raw_name)
    _refuse_taken(session, account_id, crm_id, name)
    with transaction(session):
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
    return row, outcome


def delete_list(session: DbSession, account_id: int, crm_id: str) -> None:
    """Remove every member and mark the list deleted, so syncs of it empty their groups."""
    row = live_list(session, account_id, crm_id)
    with transaction(session):
        now = utcnow()
        session.query(ListMember).filter(ListMember.list_id == row.id).delete(synchronize_session=False)
        row.deleted_at, row.updated_at = now, now
        row.bump(now)


def find_list_by_name(session: DbSession, account_id: int, name: str) -> ContactList | None:
    """The live list called ``name``, ignoring case (CSV import's target), if there is one."""
    return _live_named(session, account_id, check_name(name, "list"))


def find_or_create_list_by_name(session: DbSession, account_id: int, name: str) -> ContactList:
    """The live list called ``name`` (ignoring case) or a new one (CSV import); flushed, not committed."""
    name = check_name(name, "list")
    row = _live_named(session, account_id, name)
    if row is None:
        row = ContactList(account_id=account_id, crm_id=_new_list_id(), name=name)
        session.add(row)
        session.flush()
    return row
