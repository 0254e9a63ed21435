"""CRM rows → the value objects the planner works on, for one sync.

The engine asks for the list's contact ids with their versions first (one light query) and
then reads in full only the contacts that changed or that a run may write, so an
incremental run's cost follows the number of changes rather than the size of the list.
Contacts are read as plain rows (:func:`app.crm.models.read_contact_row`), never as ORM
objects: no identity map to fill, flush or expire for data a run only reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select

from app.accounts.models import Membership
from app.crm.models import ContactList, CrmContact, ListMember, contact_row_columns, read_contact_row
from app.crm.services import lists_available_to
from app.crm.values import ContactData
from app.db import DbSession, utcnow
from app.sync.models import ContactSync

_CHUNK = 500


class ListSource:
    """What one sync's group must hold: the list's live members while the member may still sync it.

    A deleted list, a list withdrawn from the member, or a member who left the account all
    mean an empty group: the planner then removes what GroupSync put there.
    """

    def __init__(self, session: DbSession, sync: ContactSync) -> None:
        self._session = session
        self._list = session.get(ContactList, sync.list_id)
        membership = session.get(Membership, sync.membership_id)
        self._active = (
            membership is not None
            and self._list is not None
            and any(available.id == self._list.id for available in lists_available_to(session, membership))
        )

    @property
    def name(self) -> str:
        return self._list.name if self._list is not None else ""

    def _members(self) -> tuple[ColumnElement[bool], ...]:
        assert self._list is not None
        # A contact an admin deleted on the page stays until its undo window ends.
        live = or_(CrmContact.deleted.is_(False), CrmContact.undo_until > utcnow())
        # A list holds its own account's contacts. Saying so lets the database walk the account's
        # (account, CRM id) index in order: a chunk of in_chunks then costs its own rows, not a
        # sort of the whole list each time.
        own = CrmContact.account_id == self._list.account_id
        return (ListMember.list_id == self._list.id, own, live)

    def listed(self) -> Select[str, datetime] | None:
        """The query of (CRM id, ``updated_at``) of every contact the group must hold; None for none.

        A run compares it with the mapping table inside the database
        (:mod:`app.sync.candidates`), so only the contacts that differ reach Python.
        """
        if not self._active:
            return None
        return (
            select(CrmContact.crm_id, CrmContact.updated_at)
            .join(ListMember, ListMember.contact_id == CrmContact.id)
            .where(*self._members())
        )

    def versions(self) -> Mapping[str, datetime]:
        """CRM id → ``updated_at`` of every contact the group must hold."""
        listed = self.listed()
        return {} if listed is None else {row[0]: row[1] for row in self._session.execute(listed)}

    def load(self, crm_ids: Collection[str]) -> Iterator[ContactData]:
        """The full contacts among ``crm_ids`` that the group must hold."""
        if not self._active:
            return
        wanted = sorted(crm_ids)
        for start in range(0, len(wanted), _CHUNK):
            stmt = (
                select(*contact_row_columns())
                .join(ListMember, ListMember.contact_id == CrmContact.id)
                .where(*self._members(), CrmContact.crm_id.in_(wanted[start : start + _CHUNK]))
            )
            for row in self._session.execute(stmt):
                yield read_contact_row(row)

    def count(self) -> int:
        """How many contacts the group must hold."""
        if not self._active:
            return 0
        stmt = (
            select(func.count(CrmContact.id))
            .join(ListMember, ListMember.contact_id == CrmContact.id)
            .where(*self._members())
        )
        return int(self._session.scalar(stmt) or 0)

    def in_chunks(self, size: int) -> Iterator[list[tuple[ContactData, datetime]]]:
        """Every contact the group must hold with its version, in CRM-id order, ``size`` at a time.

        Each chunk is its own query (keyset on the CRM id), so a caller that writes between
        chunks holds one chunk at a time.
        """
        if not self._active:
            return
        after = ""
        while True:
            stmt = (
                select(*contact_row_columns())
                .join(ListMember, ListMember.contact_id == CrmContact.id)
                .where(*self._members(), CrmContact.crm_id > after)
                .order_by(CrmContact.crm_id)
                .limit(size)
            )
            # A row's second column is its version (``updated_at``).
            chunk = [(read_contact_row(row), row[1]) for row in self._session.execute(stmt)]
            if not chunk:
                return
            yield chunk
            after = chunk[-1][0].crm_id
