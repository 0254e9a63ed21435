"""The pure planner: CRM state + what GroupSync knows of Google → a :class:`Plan`.

No database, no HTTP, no clock. The executor gathers the facts (mapping rows, what this
run read from Google) and applies the plan; everything that decides *what* to change lives
here, so it can be property-tested.

Rules the plan follows:

* A CRM contact with no Google contact yet is created, unless a contact tagged with this
  sync and its CRM id already sits in GroupSync's group (an earlier create that was applied
  but not confirmed): that one is adopted, and any further twins are deleted.
* A synced contact is updated only when the hash of its owned fields differs from what the
  CRM wants, measured on Google's copy when this run read it and on the last write otherwise.
* A contact the user deleted in Google is re-created (and flagged), unless the user chose to
  stop syncing it: such a mapping row stays as a tombstone and its contact is never touched.
* A contact that leaves the list is deleted, unless the user also put it into one of their
  own groups: then it only leaves GroupSync's group. A leaving contact this run did not
  inspect is left alone rather than deleted blind.
* The plan is *blocked* when it would delete too much of the group (until an admin
  confirms) or, checked by :func:`within_contact_limit` once the account's size is known,
  would take the Google account past its contact limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from app.extensions import N_, stored_message
from app.google.limits import (
    MAX_BATCH_CREATE,
    MAX_BATCH_DELETE,
    MAX_BATCH_UPDATE,
    MAX_CONTACTS_PER_ACCOUNT,
    MAX_MEMBER_CHANGES,
)
from app.sync.mapping import MappedContact, NotCarried

T = TypeVar("T")

CREATE_BATCH = MAX_BATCH_CREATE
UPDATE_BATCH = MAX_BATCH_UPDATE
DELETE_BATCH = MAX_BATCH_DELETE
MEMBERSHIP_BATCH = MAX_MEMBER_CHANGES
GOOGLE_CONTACT_LIMIT = MAX_CONTACTS_PER_ACCOUNT


class RowState(StrEnum):
    INTENDED = "intended"
    """A create was (or is about to be) sent; Google's answer has not been recorded."""
    SYNCED = "synced"


class Blocked(StrEnum):
    MASS_DELETE = "mass_delete"
    CONTACT_LIMIT = "contact_limit"


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One row of the mapping table, as the planner sees it."""

    crm_id: str
    resource_name: str | None
    field_hash: str | None
    state: RowState
    stop_syncing: bool = False


@dataclass(frozen=True, slots=True)
class RemoteContact:
    """A contact as this run read it from Google (group members and inspected mapped contacts)."""

    resource_name: str
    etag: str
    field_hash: str
    in_group: bool
    """Member of GroupSync's group."""
    in_user_groups: bool
    """Member of at least one group the user made (not GroupSync's, not a system group)."""


@dataclass(frozen=True)
class GoogleFacts:
    inspected: Mapping[str, RemoteContact] = field(default_factory=dict)
    """Mapped contacts this run read, by resource name."""
    missing: frozenset[str] = frozenset()
    """Mapped resource names Google reported deleted or not found."""
    strays: Mapping[str, Sequence[RemoteContact]] = field(default_factory=dict)
    """Unmapped contacts inside GroupSync's group tagged with this sync, by their CRM id."""


@dataclass(frozen=True)
class Limits:
    mass_delete_share: float = 0.2
    mass_delete_minimum: int = 50
    contact_limit: int = GOOGLE_CONTACT_LIMIT
    mass_delete_confirmed: bool = False


@dataclass(frozen=True, slots=True)
class CreateOp:
    crm_id: str
    contact: MappedContact
    recreate: bool = False
    """The user deleted GroupSync's copy in Google; it is created again and flagged."""


@dataclass(frozen=True, slots=True)
class UpdateOp:
    crm_id: str
    resource_name: str
    contact: MappedContact


@dataclass(frozen=True, slots=True)
class AdoptOp:
    crm_id: str
    remote: RemoteContact


@dataclass(frozen=True, slots=True)
class DeleteOp:
    resource_name: str
    crm_id: str
    duplicate: bool = False
    """A twin of a contact GroupSync keeps; its mapping row (if any) belongs to the kept one."""


@dataclass(frozen=True, slots=True)
class MembershipOp:
    resource_name: str
    crm_id: str


@dataclass(frozen=True)
class Plan:
    create_batches: tuple[tuple[CreateOp, ...], ...] = ()
    adoptions: tuple[AdoptOp, ...] = ()
    update_batches: tuple[tuple[UpdateOp, ...], ...] = ()
    readd: tuple[MembershipOp, ...] = ()
    """Synced contacts the user took out of GroupSync's group: put back."""
    release: tuple[MembershipOp, ...] = ()
    """Leaving contacts the user also keeps in an own group: only taken out of GroupSync's group."""
    delete_batches: tuple[tuple[DeleteOp, ...], ...] = ()
    forget: tuple[str, ...] = ()
    """CRM ids whose mapping rows go without any Google request."""
    in_sync: int = 0
    stopped: int = 0
    deferred: int = 0
    """Leaving contacts not inspected this run, so not touched."""
    not_carried: Mapping[str, tuple[NotCarried, ...]] = field(default_factory=dict)
    group_size: int = 0
    blocked: Blocked | None = None
    blocked_detail: str = ""

    @property
    def creates(self) -> int:
        return sum(len(b) for b in self.create_batches)

    @property
    def updates(self) -> int:
        return sum(len(b) for b in self.update_batches)

    @property
    def deletes(self) -> int:
        return sum(len(b) for b in self.delete_batches)

    @property
    def membership_batches(self) -> tuple[tuple[tuple[MembershipOp, ...], tuple[MembershipOp, ...]], ...]:
        """``(add, remove)`` pairs of at most :data:`MEMBERSHIP_BATCH` names each request."""
        return tuple(_membership_batches(self.readd, self.release))

    @property
    def write_requests(self) -> int:
        return (
            len(self.create_batches)
            + len(self.update_batches)
            + len(self.delete_batches)
            + len(self.membership_batches)
        )

    @property
    def contacts_to_write(self) -> int:
        """How many contacts the write requests touch (a contact put back and updated counts once)."""
        return len(self._written_ids())

    def _written_ids(self) -> set[str]:
        ids = {op.crm_id for batch in self.create_batches for op in batch}
        ids.update(op.crm_id for batch in self.update_batches for op in batch)
        ids.update(op.crm_id for batch in self.delete_batches for op in batch)
        ids.update(op.crm_id for op in (*self.readd, *self.release))
        return ids

    @property
    def is_empty(self) -> bool:
        return self.write_requests == 0 and not self.adoptions and not self.forget


def plan(
    desired: Iterable[MappedContact],
    mapping: Iterable[MappingEntry],
    facts: GoogleFacts,
    limits: Limits = Limits(),
    *,
    settled: int = 0,
) -> Plan:
    """Decide every change that makes GroupSync's group equal to ``desired`` (mapped CRM contacts).

    ``settled`` counts synced contacts the caller left out of ``desired`` and ``mapping``
    because nothing about them can change (in sync in the CRM and as last seen in Google):
    they count as in sync and as members of the group.
    """
    rows = {row.crm_id: row for row in mapping}
    creates: list[CreateOp] = []
    adoptions: list[AdoptOp] = []
    updates: list[UpdateOp] = []
    readd: list[MembershipOp] = []
    release: list[MembershipOp] = []
    deletes: list[DeleteOp] = []
    forget: list[str] = []
    not_carried: dict[str, tuple[NotCarried, ...]] = {}
    in_sync, stopped, deferred = settled, 0, 0
    seen: set[str] = set()

    for mapped in desired:
        if mapped.crm_id in seen:
            continue
        seen.add(mapped.crm_id)
        row = rows.get(mapped.crm_id)
        if row is not None and row.stop_syncing:
            stopped += 1
            continue
        if mapped.not_carried:
            not_carried[mapped.crm_id] = mapped.not_carried
        strays = tuple(sorted(facts.strays.get(mapped.crm_id, ()), key=lambda r: r.resource_name))
        current = _current(row, facts)

        if current is None:
            if strays:
                kept, twins = strays[0], strays[1:]
                adoptions.append(AdoptOp(mapped.crm_id, kept))
                if kept.field_hash != mapped.field_hash:
                    updates.append(UpdateOp(mapped.crm_id, kept.resource_name, mapped))
            else:
                twins = ()
                recreate = row is not None and row.resource_name is not None
                creates.append(CreateOp(mapped.crm_id, mapped, recreate=recreate))
            deletes.extend(DeleteOp(t.resource_name, mapped.crm_id, duplicate=True) for t in twins)
            continue

        resource_name, known_hash, remote = current
        deletes.extend(
            DeleteOp(t.resource_name, mapped.crm_id, duplicate=True)
            for t in strays
            if t.resource_name != resource_name
        )
        if remote is not None and not remote.in_group:
            readd.append(MembershipOp(resource_name, mapped.crm_id))
        if known_hash != mapped.field_hash:
            updates.append(UpdateOp(mapped.crm_id, resource_name, mapped))
        else:
            in_sync += 1

    leaving = 0
    for crm_id, row in rows.items():
        if crm_id in seen:
            continue
        if row.stop_syncing:
            # Kept as a tombstone: the user told GroupSync to leave this contact alone for good.
            stopped += 1
            continue
        for stray in facts.strays.get(crm_id, ()):
            if stray.resource_name != row.resource_name:
                deletes.append(DeleteOp(stray.resource_name, crm_id, duplicate=True))
        remote = facts.inspected.get(row.resource_name) if row.resource_name else None
        if row.resource_name is None or row.resource_name in facts.missing:
            forget.append(crm_id)
        elif remote is None:
            deferred += 1
        elif not remote.in_group:
            # The user already took it out of GroupSync's group: no longer GroupSync's to touch.
            forget.append(crm_id)
        elif remote.in_user_groups:
            release.append(MembershipOp(row.resource_name, crm_id))
            forget.append(crm_id)
            leaving += 1
        else:
            deletes.append(DeleteOp(row.resource_name, crm_id))
            forget.append(crm_id)
            leaving += 1

    for crm_id, unwanted in facts.strays.items():
        if crm_id not in seen and crm_id not in rows:
            deletes.extend(DeleteOp(s.resource_name, crm_id) for s in unwanted)

    group_size = settled + sum(
        1
        for row in rows.values()
        if row.state is RowState.SYNCED and row.resource_name and row.resource_name not in facts.missing
    )
    blocked, detail = _mass_delete(leaving, group_size, limits)
    return Plan(
        create_batches=_chunks(creates, CREATE_BATCH),
        adoptions=tuple(adoptions),
        update_batches=_chunks(updates, UPDATE_BATCH),
        readd=tuple(readd),
        release=tuple(release),
        delete_batches=_chunks(deletes, DELETE_BATCH),
        forget=tuple(forget),
        in_sync=in_sync,
        stopped=stopped,
        deferred=deferred,
        not_carried=not_carried,
        group_size=group_size,
        blocked=blocked,
        blocked_detail=detail,
    )


def _current(
    row: MappingEntry | None, facts: GoogleFacts
) -> tuple[str, str | None, RemoteContact | None] | None:
    """``(resource name, hash Google holds, what this run read)`` of the live Google copy, if any."""
    if row is None or row.state is RowState.INTENDED or row.resource_name is None:
        return None
    if row.resource_name in facts.missing:
        return None
    remote = facts.inspected.get(row.resource_name)
    known_hash = remote.field_hash if remote is not None else row.field_hash
    return row.resource_name, known_hash, remote


def _mass_delete(leaving: int, group_size: int, limits: Limits) -> tuple[Blocked | None, str]:
    if (
        not limits.mass_delete_confirmed
        and leaving >= limits.mass_delete_minimum
        and leaving > limits.mass_delete_share * group_size
    ):
        return Blocked.MASS_DELETE, stored_message(
            N_(
                "this run would remove %(leaving)s of the %(size)s contacts in the group; "
                "an admin must confirm"
            ),
            leaving=leaving,
            size=group_size,
        )
    return None, ""


def within_contact_limit(the_plan: Plan, account_contacts: int, limits: Limits = Limits()) -> Plan:
    """``the_plan``, blocked if it would take an account of ``account_contacts`` past the limit.

    The run's deletes are sent before its creates, so they make room for them.
    """
    if the_plan.blocked is not None:
        return the_plan
    detail = contact_limit_problem(account_contacts, the_plan.creates, the_plan.deletes, limits)
    if detail is None:
        return the_plan
    return replace(the_plan, blocked=Blocked.CONTACT_LIMIT, blocked_detail=detail)


def contact_limit_problem(
    account_contacts: int, creates: int, deletes: int, limits: Limits = Limits()
) -> str | None:
    """Why ``creates`` (less ``deletes`` sent first) do not fit the account (a stored message, translated
    when shown); ``None`` when they do."""
    after = account_contacts + creates - deletes
    if after <= limits.contact_limit:
        return None
    numbers = {"held": account_contacts, "needed": creates, "limit": limits.contact_limit}
    if deletes:
        return stored_message(
            N_(
                "the Google account holds %(held)s contacts and this list needs %(needed)s more (and frees "
                "%(freed)s); that would pass Google's limit of %(limit)s contacts per account by %(over)s"
            ),
            freed=deletes,
            over=after - limits.contact_limit,
            **numbers,
        )
    return stored_message(
        N_(
            "the Google account holds %(held)s contacts and this list needs %(needed)s more; that would pass "
            "Google's limit of %(limit)s contacts per account by %(over)s"
        ),
        over=after - limits.contact_limit,
        **numbers,
    )


def _chunks(items: Sequence[T], size: int) -> tuple[tuple[T, ...], ...]:
    return tuple(tuple(items[i : i + size]) for i in range(0, len(items), size))


def _membership_batches(
    add: Sequence[MembershipOp], remove: Sequence[MembershipOp]
) -> Iterable[tuple[tuple[MembershipOp, ...], tuple[MembershipOp, ...]]]:
    add_left, remove_left = list(add), list(remove)
    while add_left or remove_left:
        take_add = add_left[:MEMBERSHIP_BATCH]
        take_remove = remove_left[: MEMBERSHIP_BATCH - len(take_add)]
        add_left, remove_left = add_left[len(take_add) :], remove_left[len(take_remove) :]
        yield tuple(take_add), tuple(take_remove)
