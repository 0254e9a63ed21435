"""The dashboard's getting-started checklist, read from real state (nothing is stored about it).

An admin of a new account: bring contacts in (the CRM through an API key, or a CSV import),
create a list, make it available to members, invite members. A member: connect Google, choose
a list, watch it fill. Each step is done when the records say so; once all are, the checklist
is gone. The page texts live in the template; this module only says which step is done and
where its page is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, func, select

from app.accounts.models import Invitation, Membership, Role
from app.crm.models import ContactList, CrmContact, ListAccess
from app.crm.services import lists_available_to
from app.db import DbSession
from app.google.models import GoogleConnection
from app.sync.models import ContactSync


@dataclass(frozen=True)
class Step:
    key: str
    done: bool
    endpoint: str
    """The page where the step is done."""
    arguments: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def current(self) -> Step | None:
        """The first step not done yet: the one the page offers as "do this now"."""
        return next((step for step in self.steps if not step.done), None)

    def after(self, step: Step) -> Step | None:
        """The step that follows ``step``: a finished step links on to it."""
        index = self.steps.index(step)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None


def _any(session: DbSession, *conditions: object) -> bool:
    return bool(session.scalar(select(exists().where(*conditions))))  # type: ignore[arg-type]


def for_admin(session: DbSession, account_id: int) -> Checklist:
    has_contacts = _any(session, CrmContact.account_id == account_id, CrmContact.deleted.is_(False))
    has_list = _any(session, ContactList.account_id == account_id, ContactList.deleted_at.is_(None))
    shared = _any(
        session,
        ListAccess.list_id == ContactList.id,
        ContactList.account_id == account_id,
        ListAccess.revoked_at.is_(None),
    )
    others = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.account_id == account_id)
    )
    invited = (others or 0) > 1 or _any(session, Invitation.account_id == account_id)
    return Checklist(
        [
            Step("contacts", has_contacts, "crm.import_form"),
            Step("list", has_list, "crm.overview"),
            Step("share", shared, "crm.overview"),
            Step("invite", invited, "accounts.members"),
        ]
    )


def for_member(session: DbSession, membership: Membership) -> Checklist:
    connection = session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == membership.account_id,
            GoogleConnection.user_id == membership.user_id,
        )
    )
    syncs = list(
        session.scalars(
            select(ContactSync)
            .where(ContactSync.membership_id == membership.id, ContactSync.enabled.is_(True))
            .order_by(ContactSync.id)
        )
    )
    filled = next((s for s in syncs if s.last_success_at is not None), None)
    watch = Step("watch", filled is not None, "sync.overview")
    if syncs:
        shown = filled or syncs[0]
        watch = Step("watch", filled is not None, "sync.detail", {"sync_id": shown.id})
    return Checklist(
        [
            Step("connect", connection is not None and connection.is_usable, "google.connection"),
            Step("choose", bool(syncs), "sync.overview"),
            watch,
        ]
    )


def for_membership(session: DbSession, membership: Membership) -> Checklist | None:
    """The checklist this person sees on the dashboard; ``None`` when there is none or it is finished."""
    if membership.role is Role.ADMIN:
        checklist = for_admin(session, membership.account_id)
    elif membership.role is Role.MEMBER:
        checklist = for_member(session, membership)
    else:
        return None
    return None if checklist.complete else checklist


def lists_waiting(session: DbSession, membership: Membership) -> int:
    """How many lists an admin has made available to this member (0: the member must ask for one)."""
    return len(lists_available_to(session, membership))
