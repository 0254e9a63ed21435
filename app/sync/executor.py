"""One sync run: read GroupSync's group, plan, apply the plan batch by batch through the People layer.

Nothing outside the group is read. Order of a run, each step needed by the next:

1. Make sure GroupSync's group exists. It is created on the first run; a name Google
   refuses with 409 ALREADY_EXISTS gets a suffix. An existing group is read by its resource
   name with its members' resource names (``contactGroups.get``), which also tells whether
   the user deleted it. Only the rows the database finds changed are loaded
   (:mod:`app.sync.candidates`); when there are none, the group is read without its members
   and its ``memberCount`` compared with the synced contacts first.
2. Compare members with the mapping table. A mapped contact no longer a member is put back
   with ``members:modify`` (Google names those the user deleted: they are re-created), unless
   it left the CRM list too (then GroupSync lets it go). Members GroupSync does not know are
   read (scope fields only) when an earlier create may have gone unanswered or a mapped
   contact went missing, to adopt contacts carrying this sync's tag.
3. Read (``people:batchGet``) only the members this run may write: changed in the CRM or
   leaving the list. A *repair run* (every ``repair_every``) also reads every other member
   with scope fields only and compares etags; those Google changed are read in full, so
   edits made in Google are found and undone.
4. Plan (:mod:`app.sync.planner`), check Google's contact limit with the count of
   ``contactGroups/myContacts`` (this run's deletes netted), then apply: adoptions, membership
   changes, deletes, creates (intent rows committed first), updates (:mod:`app.sync.applier`).

No transaction is open while Google answers: every database step is its own
:func:`~app.db.unit_of_work`, finished before the next request. The caller
(:mod:`app.sync.services`) holds the per-account lease, builds the client and maps the
layer's typed errors to the sync's status.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Protocol

from sqlalchemy import Select, func, select

from app.crm.values import ContactData
from app.db import DbSession, unit_of_work
from app.google.people import (
    ClientDataTag,
    GroupContacts,
    GroupScope,
)
from app.sync import candidates, group, repair_scan
from app.sync import rows as mapping_rows
from app.sync.applier import Applier, RunContext
from app.sync.gather import Gatherer, idle
from app.sync.gather import settled as settled_now
from app.sync.mapping import MARKER_KEY, MappedContact, map_contact
from app.sync.models import (
    ContactSync,
    SyncedContact,
    SyncRun,
    SyncStatus,
    has_not_carried,
)
from app.sync.planner import (
    CREATE_BATCH,
    CreateOp,
    GoogleFacts,
    RowState,
    contact_limit_problem,
    plan,
    within_contact_limit,
)
from app.sync.rows import Row


class RunBlockedError(Exception):
    """The plan needs a person first (mass delete) or cannot be applied (contact limit)."""

    def __init__(self, status: SyncStatus, message: str) -> None:
        self.status = status
        super().__init__(message)


class CrmSource(Protocol):
    def listed(self) -> Select[str, datetime] | None:
        """The query of (CRM id, version) of every contact the group must hold; None for none."""
        ...

    def versions(self) -> Mapping[str, datetime]:
        """CRM id → version (``updated_at``) of every contact the group must hold."""
        ...

    def load(self, crm_ids: Collection[str]) -> Iterable[ContactData]:
        """The full contacts among ``crm_ids`` that the group must hold."""
        ...

    def count(self) -> int:
        """How many contacts the group must hold."""
        ...

    def in_chunks(self, size: int) -> Iterable[list[tuple[ContactData, datetime]]]:
        """Every contact the group must hold with its version, ``size`` at a time."""
        ...


def run(
    session: DbSession,
    sync: ContactSync,
    *,
    sync_run: SyncRun,
    crm: CrmSource,
    base_group_name: str,
    ctx: RunContext,
) -> None:
    """Bring ``sync``'s group in line with the CRM; raises the layer's typed errors unchanged."""
    marker = ClientDataTag(MARKER_KEY, sync.tag)
    created = group.create_if_missing(session, sync, base_group_name, marker, ctx.client)
    assert sync.group_resource_name is not None
    scope = GroupScope(sync.group_resource_name, marker)
    members: AbstractSet[str]
    if created and not _has_rows(session, sync):
        _fill(session, sync, sync_run=sync_run, contacts=ctx.client.contacts(scope), crm=crm, ctx=ctx)
        return
    started = ctx.now()
    repair = not created and (
        sync.last_full_sync_at is None or started - sync.last_full_sync_at >= ctx.repair_every
    )
    # An ordinary run looks only at the rows the database finds changed; the others are counted.
    narrowed = None if created else candidates.changed(session, sync.id, crm.listed())
    if created:
        # A group this run created is empty: nothing to adopt and nobody to read.
        contacts, members = ctx.client.contacts(scope), frozenset()
    elif (
        not repair
        and narrowed is not None
        and narrowed.none
        and group.none_left(session, sync, scope, ctx.client, narrowed.settled)
    ):
        with unit_of_work(session, expire_on_commit=False):
            _record_counts(session, sync, sync_run, in_sync=narrowed.settled)
            sync.mass_delete_confirmed = False
        return
    else:
        contacts, members = group.open_members(session, sync, scope, ctx.client)
        if narrowed is not None and not candidates.all_members(
            session, sync.id, members, no_strangers=repair
        ):
            narrowed = None
    if narrowed is not None and repair:
        # Streamed: contacts the current mapping hashes otherwise join the run's candidates.
        chunks = crm.in_chunks(CREATE_BATCH)
        narrowed.extend(session, sync.id, repair_scan.remapped(session, sync.id, chunks, narrowed.rows))
    if narrowed is None:
        rows, versions = mapping_rows.load(session, sync.id), crm.versions()
    else:
        # Extended in place by a repair run's passes below.
        rows, versions = narrowed.rows, narrowed.versions
    # A repair run also re-maps every contact, so a changed mapping reaches Google.
    fresh = [cid for cid, version in versions.items() if repair or _stale(rows.get(cid), version)]
    mapped, light = _map_keeping_needed(crm.load(fresh), rows)

    def wanted(crm_id: str) -> str | None:
        """The hash of what the CRM wants for ``crm_id``; ``None`` when it leaves the group."""
        contact = mapped.get(crm_id)
        if contact is not None:
            return contact.field_hash
        if crm_id not in versions:
            return None
        # Unchanged in the CRM since it was last mapped: its stored hash stands in for the contact.
        row = rows.get(crm_id)
        return (row.crm_hash if row else None) or ""

    glanced = None
    if narrowed is not None and repair:
        # Every other member's etag is compared a batch at a time; those Google changed join too.
        reading = {cid for cid, row in rows.items() if row.stop_syncing or wanted(cid) != row.field_hash}
        idle(session)
        glanced, moved = repair_scan.moved_in_google(session, sync.id, contacts, reading)
        narrowed.extend(session, sync.id, candidates.versions_of(session, crm.listed(), moved))
    gatherer = Gatherer(session, sync, contacts, rows)
    gathered = gatherer.gather(wanted, members, repair=repair and narrowed is None, glanced=glanced)
    facts = gathered.facts
    # What the run reads was read: the other members' names need not outlive the gathering.
    del members
    contacts.forget_unread()
    # Contacts nothing can change this run stay out of the plan; they are only counted.
    settled = {cid for cid, row in rows.items() if settled_now(row, wanted(cid), facts)}
    stand_ins = [cid for cid in versions if cid not in mapped and cid not in settled]
    # Whatever the plan may write needs the CRM's full contact, not the stand-in.
    upgraded = [cid for cid in (*stand_ins, *light) if cid in rows and _may_write(rows[cid], facts)]
    mapped.update(_mapped(crm.load(upgraded)))
    full_ids = (set(fresh) | set(upgraded)) & mapped.keys()
    desired = [
        mapped.get(cid) or MappedContact(cid, {}, wanted(cid) or "", ())
        for cid in versions
        if cid not in settled
    ]
    entries = [row.entry() for cid, row in rows.items() if cid not in settled]
    the_plan = plan(
        desired, entries, facts, ctx.limits, settled=len(settled) + (narrowed.settled if narrowed else 0)
    )
    if the_plan.blocked is None and the_plan.creates:
        # Only creates can reach Google's limit; the count reads no person.
        idle(session)
        the_plan = within_contact_limit(the_plan, ctx.client.count_contacts(), ctx.limits)

    noted = []
    for crm_id in full_ids & rows.keys():
        row = rows[crm_id]
        row.crm_hash, row.crm_updated_at = mapped[crm_id].field_hash, versions[crm_id]
        noted.append(row)
    with unit_of_work(session, expire_on_commit=False):
        mapping_rows.save_google(session, sync.id, gathered.changed_rows)
        mapping_rows.save_crm(session, sync.id, noted, mapped)
        sync_run.readded += gathered.readded
        _record_counts(
            session,
            sync,
            sync_run,
            in_sync=the_plan.in_sync,
            repair=repair,
            write_requests=the_plan.write_requests,
            to_write=the_plan.contacts_to_write,
            not_carried_new=sum(1 for cid in the_plan.not_carried if cid not in rows),
        )
    if the_plan.blocked is not None:
        status = {
            "mass_delete": SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION,
            "contact_limit": SyncStatus.GOOGLE_CONTACT_LIMIT,
        }[the_plan.blocked.value]
        raise RunBlockedError(status, the_plan.blocked_detail)

    applier = Applier(
        session, sync, sync_run=sync_run, contacts=contacts, rows=rows, crm=(mapped, versions), ctx=ctx
    )
    applier.apply(the_plan)

    with unit_of_work(session, expire_on_commit=False):
        if repair or created:
            # Every member was compared (or there were none): the next repair is due from now.
            sync.last_full_sync_at = started
        sync.mass_delete_confirmed = False


def _record_counts(
    session: DbSession,
    sync: ContactSync,
    sync_run: SyncRun,
    *,
    in_sync: int,
    repair: bool = False,
    write_requests: int = 0,
    to_write: int = 0,
    not_carried_new: int = 0,
) -> None:
    """The run's counts before anything is written, in the caller's transaction."""
    sync_run.full_resync = repair
    sync_run.in_sync = in_sync
    sync_run.progress_total = write_requests
    sync_run.contacts_total = to_write
    session.flush()
    reported = session.scalar(
        select(func.count(SyncedContact.id)).where(SyncedContact.sync_id == sync.id, has_not_carried())
    )
    sync_run.not_carried = int(reported or 0) + not_carried_new


def _has_rows(session: DbSession, sync: ContactSync) -> bool:
    return (
        session.scalar(select(SyncedContact.id).where(SyncedContact.sync_id == sync.id).limit(1)) is not None
    )


def _fill(
    session: DbSession,
    sync: ContactSync,
    *,
    sync_run: SyncRun,
    contacts: GroupContacts,
    crm: CrmSource,
    ctx: RunContext,
) -> None:
    """The first run into a new, empty group: every list contact is a create, streamed a batch at a time.

    Nothing is planned as a whole: each batch of the list is loaded, mapped and sent before
    the next is read (the next is read once the batch is answered, so that its intents are
    committed with that batch's answers), so the first contact reaches Google at once and
    memory stays that of two batches whatever the list's size.
    """
    started = ctx.now()
    total = crm.count()
    if total:
        idle(session)
        # The whole list is created; the account's own contacts count against the same limit.
        problem = contact_limit_problem(ctx.client.count_contacts(), total, 0, ctx.limits)
        if problem is not None:
            raise RunBlockedError(SyncStatus.GOOGLE_CONTACT_LIMIT, problem)
    with unit_of_work(session, expire_on_commit=False):
        sync_run.full_resync = True
        sync_run.progress_total = -(-total // CREATE_BATCH)
        sync_run.contacts_total = total
    mapped: dict[str, MappedContact] = {}
    versions: dict[str, datetime] = {}
    applier = Applier(
        session, sync, sync_run=sync_run, contacts=contacts, rows={}, crm=(mapped, versions), ctx=ctx
    )

    def take(chunk: Sequence[tuple[ContactData, datetime]]) -> list[CreateOp]:
        """The creates of ``chunk``, its contacts added to what the applier holds."""
        fresh = _mapped(contact for contact, _ in chunk)
        mapped.update(fresh)
        versions.update((contact.crm_id, version) for contact, version in chunk)
        sync_run.not_carried += sum(1 for m in fresh.values() if m.not_carried)
        return [CreateOp(crm_id, contact) for crm_id, contact in fresh.items()]

    chunks = iter(crm.in_chunks(CREATE_BATCH))
    batch: Sequence[CreateOp] = take(next(chunks, []))
    recorded = False
    while batch:
        # The next batch is read and mapped once this one is answered, before it is recorded as
        # done: its intents go into that same transaction (one commit fewer per batch).
        following = applier.create(batch, recorded=recorded, then=lambda: take(next(chunks, [])))
        # Nothing later in this run writes these contacts again.
        answered = [applier.rows.pop(op.crm_id) for op in batch]
        for op in batch:
            del mapped[op.crm_id], versions[op.crm_id]
            applier.touched.discard(op.crm_id)
        contacts.forget(row.resource_name for row in answered if row.resource_name)
        batch, recorded = following, True
    with unit_of_work(session, expire_on_commit=False):
        sync.last_full_sync_at = started
        sync.mass_delete_confirmed = False


def _map_keeping_needed(
    contacts: Iterable[ContactData], rows: Mapping[str, Row]
) -> tuple[dict[str, MappedContact], set[str]]:
    """Map and hash ``contacts``; keep the fields only of those that differ from what Google holds.

    The others (``light``: hash and report only) are loaded again if this run turns out to
    write them, so a repair run that re-maps the whole list holds one batch of fields at a time.
    """
    mapped: dict[str, MappedContact] = {}
    light: set[str] = set()
    for contact in contacts:
        if contact.crm_id in mapped:
            continue
        full = map_contact(contact)
        row = rows.get(contact.crm_id)
        if row is not None and row.state is RowState.SYNCED and full.field_hash == row.field_hash:
            mapped[contact.crm_id] = MappedContact(full.crm_id, {}, full.field_hash, full.not_carried)
            light.add(contact.crm_id)
        else:
            mapped[contact.crm_id] = full
    return mapped, light


def _mapped(contacts: Iterable[ContactData]) -> dict[str, MappedContact]:
    mapped: dict[str, MappedContact] = {}
    for contact in contacts:
        if contact.crm_id not in mapped:
            mapped[contact.crm_id] = map_contact(contact)
    return mapped


def _stale(row: Row | None, version: datetime) -> bool:
    """Whether the CRM contact must be read and mapped again (new, changed, or never confirmed)."""
    return (
        row is None or row.state is RowState.INTENDED or row.crm_hash is None or row.crm_updated_at != version
    )


def _may_write(row: Row, facts: GoogleFacts) -> bool:
    rn = row.resource_name
    return (
        rn is None
        or rn in facts.missing
        or rn in facts.inspected
        or row.crm_id in facts.strays
        or row.field_hash != row.crm_hash
    )
