"""CRM rows → the value objects the planner works on, for one sync."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.accounts.models import Membership
from app.crm.models import ContactList
from app.crm.services import list_contents, lists_available_to
from app.crm.values import ContactData
from app.sync.models import ContactSync


def desired_contacts(session: Session, sync: ContactSync) -> list[ContactData]:
    """What the sync's group must hold: the list's live members while the member may still sync it.

    A deleted list, a list withdrawn from the member, or a member who left the account all
    mean an empty group: the planner then removes what GroupSync put there.
    """
    membership = session.get(Membership, sync.membership_id)
    contact_list = session.get(ContactList, sync.list_id)
    if membership is None or contact_list is None:
        return []
    if all(available.id != contact_list.id for available in lists_available_to(session, membership)):
        return []
    return list_contents(session, contact_list)


def list_name(session: Session, sync: ContactSync) -> str:
    contact_list = session.get(ContactList, sync.list_id)
    return contact_list.name if contact_list is not None else ""
