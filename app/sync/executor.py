"""One sync run: read what Google has, plan, apply the plan batch by batch through the People layer.

Order of a run, each step needed by the next:

1. Make sure GroupSync's group exists (create it on the first run; find it by its tag when
   an earlier create went unanswered; stop if the user deleted it). An existing group is
   read once, with its members when the CRM side already shows that the run will need them.
2. List what changed in the Google account since the last run (``connections.list`` with
   the stored sync token, or a full listing on the first run, on ``EXPIRED_SYNC_TOKEN`` and
   every seven days). The layer drops every contact outside the group that is not tagged.
3. Read the contacts this run may touch (only those, with only the fields needed), and,
   when an earlier create may have gone unanswered, the group's unknown members to find
   tagged contacts to adopt.
4. Plan (:mod:`app.sync.planner`), then apply: creates (intent rows committed first),
   adoptions, membership changes, updates, deletes. Every batch is committed as soon as
   Google answered it; the sync token is stored only after the whole plan is applied.

The caller (:mod:`app.sync.services`) holds the per-account lease, builds the client and
maps the layer's typed errors to the sync's status.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, defer, scoped_session

from app.crm.values import ContactData
from app.db import unit_of_work, utcnow
from app.google.errors import GroupDeletedError, GroupNameTakenError, StaleEtagError, SyncTokenExpiredError
from app.google.fields import OWNED_FIELDS
from app.google.people import (
    ClientDataTag,
    ConnectionsResult,
    FetchedPerson,
    GroupContacts,
    GroupScope,
    PeopleClient,
)
from app.sync.mapping import MARKER_KEY, MappedContact, field_hash, map_contact, read_tag
from app.sync.models import ContactSync, SyncedContact, SyncRun, SyncStatus, has_not_carried
from app.sync.planner import (
    CreateOp,
    GoogleFacts,
    Limits,
    MappingEntry,
    Plan,
    RemoteContact,
    RowState,
    UpdateOp,
    plan,
    within_contact_limit,
)

DbSession = Session | scoped_session[Any]
"""A plain session or Flask-SQLAlchemy's ``db.session``: the caller's transaction either way."""

FULL_RESYNC_EVERY = timedelta(days=7)
MAX_GROUP_NAME_TRIES = 20
# Google's own groups; a contact in any other group (besides GroupSync's) is in one the user made.
SYSTEM_GROUP_IDS = frozenset(
    {"myContacts", "starred", "chatBuddies", "friends", "family", "coworkers", "all", "blocked"}
)

Step = Callable[[str], None]
"""Called with a step name at the points where a crash is most dangerous (tests kill runs there)."""


def no_step(_: str) -> None:
    return None


class RunBlockedError(Exception):
    """The plan needs a person first (mass delete) or cannot be applied (contact limit)."""

    def __init__(self, status: SyncStatus, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass
class _Listing:
    full: bool
    changed: dict[str, FetchedPerson]
    deleted: frozenset[str]
    next_sync_token: str | None
    total: int | None
    """The account's contact count, when the listing was a full one."""


@dataclass
class RunContext:
    """What one run works with besides the database session."""

    client: PeopleClient
    limits: Limits
    renew_lease: Callable[[], None]
    """Called after every committed batch; raises when this run no longer holds the account."""
    step: Step = no_step
    now: Callable[[], datetime] = utcnow


class CrmSource(Protocol):
    def versions(self) -> Mapping[str, datetime]:
        """CRM id → version (``updated_at``) of every contact the group must hold."""
        ...

    def load(self, crm_ids: Collection[str]) -> Iterable[ContactData]:
        """The full contacts among ``crm_ids`` that the group must hold."""
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
    created = _create_group_if_missing(session, sync, base_group_name, marker, ctx)
    assert sync.group_resource_name is not None
    scope = GroupScope(sync.group_resource_name, marker)

    # The mapping table is the one thing a run reads in full; columns it rarely needs stay unloaded.
    rows = {
        row.crm_id: row
        for row in session.scalars(
            select(SyncedContact)
            .where(SyncedContact.sync_id == sync.id)
            .options(
                defer(SyncedContact.not_carried),
                defer(SyncedContact.created_at),
                defer(SyncedContact.updated_at),
                defer(SyncedContact.deleted_in_google_at),
            )
        )
    }
    full = (
        sync.sync_token is None
        or sync.last_full_sync_at is None
        or ctx.now() - sync.last_full_sync_at >= FULL_RESYNC_EVERY
    )
    versions = crm.versions()
    # The weekly full resync also re-maps every contact, so a changed mapping reaches Google.
    fresh = [cid for cid, version in versions.items() if full or _stale(rows.get(cid), version)]
    mapped = _mapped(crm.load(fresh))
    stand_ins = versions.keys() - set(fresh)
    for crm_id in stand_ins:
        # Unchanged in the CRM since it was last mapped: its hash stands in for the contact.
        mapped[crm_id] = MappedContact(crm_id, {}, rows[crm_id].crm_hash or "", ())

    members: set[str] | None
    if created:
        # A group this run created is empty: nothing to adopt and nobody to look up.
        contacts, members = ctx.client.contacts(scope), set()
    else:
        # Known before any request: whether this run must look at the group's members.
        wants_members = (
            full
            or any(r.state is RowState.INTENDED for r in rows.values())
            or bool(_candidates(rows, mapped, None))
        )
        contacts, members = _open_group(sync, scope, ctx, with_members=wants_members)

    listing = _list(contacts, None if full else sync.sync_token)
    facts, listing = _gather_facts(contacts, sync.tag, rows, mapped, listing, members=members)
    facts = replace(facts, inspected=_follow_renames(rows, facts))
    sync_run.full_resync = listing.full
    # Whatever the plan may write needs the CRM's full contact, not the stand-in.
    upgraded = [cid for cid in stand_ins if _may_write(rows[cid], facts)]
    mapped.update(_mapped(crm.load(upgraded)))
    full_ids = (set(fresh) | set(upgraded)) & mapped.keys()

    the_plan = plan(mapped.values(), (_entry(r) for r in rows.values()), facts, ctx.limits)
    if the_plan.blocked is None and the_plan.creates:
        # Only creates can reach Google's limit; a full listing already told the account's size.
        if listing.total is None:
            # The ledger records requests on its own connection: no writes may be held across one.
            with unit_of_work(session, expire_on_commit=False):
                pass
        size = listing.total if listing.total is not None else ctx.client.count_contacts()
        the_plan = within_contact_limit(the_plan, size, ctx.limits)
    _remember_etags(rows, facts)
    for crm_id in full_ids & rows.keys():
        _note_crm(rows[crm_id], mapped[crm_id], versions[crm_id])
    sync_run.in_sync = the_plan.in_sync
    sync_run.progress_total = the_plan.write_requests
    session.commit()
    reported = session.scalar(
        select(func.count(SyncedContact.id)).where(SyncedContact.sync_id == sync.id, has_not_carried())
    )
    sync_run.not_carried = int(reported or 0) + sum(1 for cid in the_plan.not_carried if cid not in rows)
    session.commit()
    if the_plan.blocked is not None:
        status = {
            "mass_delete": SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION,
            "contact_limit": SyncStatus.GOOGLE_CONTACT_LIMIT,
        }[the_plan.blocked.value]
        raise RunBlockedError(status, the_plan.blocked_detail)

    applier = _Applier(
        session, sync, sync_run=sync_run, contacts=contacts, rows=rows, crm=(mapped, versions), ctx=ctx
    )
    applier.apply(the_plan)

    if listing.next_sync_token:
        sync.sync_token = listing.next_sync_token
    if listing.full:
        sync.last_full_sync_at = ctx.now()
    sync.mass_delete_confirmed = False
    session.commit()


def _create_group_if_missing(
    session: DbSession, sync: ContactSync, base_name: str, marker: ClientDataTag, ctx: RunContext
) -> bool:
    """Create the group on the first run (or find the one an unanswered create made); True if created."""
    client = ctx.client
    if sync.group_resource_name is None and sync.group_create_sent:
        found = client.find_tagged_groups(marker)
        if found:
            sync.group_resource_name, sync.group_etag, sync.group_name = (
                found[0].resource_name,
                found[0].etag,
                found[0].name,
            )
        sync.group_create_sent = False
        session.commit()
    if sync.group_resource_name is None:
        for attempt in range(1, MAX_GROUP_NAME_TRIES + 1):
            name = base_name if attempt == 1 else f"{base_name} ({attempt})"
            sync.group_create_sent = True
            session.commit()
            try:
                info = client.create_group(name, marker)
            except GroupNameTakenError:
                sync.group_create_sent = False
                session.commit()
                continue
            sync.group_resource_name, sync.group_etag, sync.group_name = (
                info.resource_name,
                info.etag,
                info.name,
            )
            sync.group_create_sent = False
            session.commit()
            return True
        raise GroupNameTakenError("contactGroups.create", f"every name like {base_name!r} is taken")
    return False


def _open_group(
    sync: ContactSync, scope: GroupScope, ctx: RunContext, *, with_members: bool
) -> tuple[GroupContacts, set[str] | None]:
    """Read the existing group (one request, with its members when the run will need them)."""
    members: set[str] | None = None
    if with_members:
        contacts, info = ctx.client.open_group(scope)
        members = set(info.member_resource_names)
    else:
        current = ctx.client.get_group(scope.group_resource_name, scope.marker)
        if current is None:
            raise GroupDeletedError("contactGroups.get", f"{scope.group_resource_name} no longer exists")
        contacts, info = ctx.client.contacts(scope), current
    # A rename by the user is kept: GroupSync follows the group, not its name.
    sync.group_name, sync.group_etag = info.name, info.etag
    return contacts, members


def _list(contacts: GroupContacts, sync_token: str | None) -> _Listing:
    try:
        result = contacts.list_connections((), sync_token)
    except SyncTokenExpiredError:
        result = contacts.list_connections(())
        sync_token = None
    return _from_result(result, full=sync_token is None)


def _from_result(result: ConnectionsResult, *, full: bool) -> _Listing:
    return _Listing(
        full=full,
        changed={p.resource_name: p for p in result.people},
        deleted=frozenset(result.deleted),
        next_sync_token=result.next_sync_token,
        total=result.total,
    )


def _gather_facts(
    contacts: GroupContacts,
    tag: str,
    rows: Mapping[str, SyncedContact],
    mapped: Mapping[str, MappedContact],
    listing: _Listing,
    *,
    members: set[str] | None,
) -> tuple[GoogleFacts, _Listing]:
    """What the planner must know, read with as few requests and fields as the layer allows."""
    by_rn = {r.resource_name: r for r in rows.values() if r.resource_name and r.state is RowState.SYNCED}
    needs_adoption_scan = listing.full or any(r.state is RowState.INTENDED for r in rows.values())
    candidates = _candidates(rows, mapped, listing)
    if members is None and (needs_adoption_scan or any(rn not in listing.changed for rn in candidates)):
        members = set(contacts.list_members().member_resource_names)
    if members is not None and not listing.full:
        unexplained = [
            rn
            for rn in by_rn
            if rn not in members and rn not in listing.changed and rn not in listing.deleted
        ]
        if unexplained:
            # Gone from the group but not (yet) in the incremental listing: only a full one says why.
            listing = _from_result(contacts.list_connections(()), full=True)
            needs_adoption_scan = True
            candidates = _candidates(rows, mapped, listing)

    missing = {rn for rn in by_rn if rn in listing.deleted}
    if listing.full:
        missing |= {
            rn for rn in by_rn if rn not in listing.changed and (members is None or rn not in members)
        }
    readable = [rn for rn in candidates if rn not in missing]
    inspected: dict[str, RemoteContact] = {}
    if readable:
        result = contacts.batch_get(readable, OWNED_FIELDS)
        missing |= set(result.missing)
        inspected = {rn: _remote(contacts, p, with_hash=True) for rn, p in result.found.items()}

    strays: dict[str, list[RemoteContact]] = {}
    if needs_adoption_scan and members is not None:
        unknown = sorted(members - by_rn.keys())
        if unknown:
            # Scope fields only: a member the user put in by hand is not read any further.
            for person in contacts.batch_get(unknown, ()).found.values():
                tagged = read_tag(person.person)
                if tagged is not None and tagged[0] == tag and person.in_group:
                    strays.setdefault(tagged[1], []).append(_remote(contacts, person, with_hash=False))
    return GoogleFacts(inspected=inspected, missing=frozenset(missing), strays=strays), listing


def _candidates(
    rows: Mapping[str, SyncedContact], mapped: Mapping[str, MappedContact], listing: _Listing | None
) -> list[str]:
    """Synced contacts this run may write: changed in the CRM, changed in Google (when listed), or leaving."""
    wanted: set[str] = set()
    for row in rows.values():
        rn = row.resource_name
        if rn is None or row.state is not RowState.SYNCED or row.stop_syncing:
            continue
        contact = mapped.get(row.crm_id)
        crm_changed = contact is None or contact.field_hash != row.field_hash
        seen = listing.changed.get(rn) if listing is not None else None
        google_changed = seen is not None and (seen.etag != row.etag or not seen.in_group)
        if crm_changed or google_changed:
            wanted.add(rn)
    return sorted(wanted)


def _remote(contacts: GroupContacts, person: FetchedPerson, *, with_hash: bool) -> RemoteContact:
    ours = contacts.scope.group_resource_name
    own_groups = [
        g for g in person.group_memberships if g != ours and g.rsplit("/", 1)[-1] not in SYSTEM_GROUP_IDS
    ]
    return RemoteContact(
        resource_name=person.resource_name,
        etag=person.etag,
        field_hash=field_hash(person.person) if with_hash else "",
        in_group=person.in_group,
        in_user_groups=bool(own_groups),
    )


def _follow_renames(rows: Mapping[str, SyncedContact], facts: GoogleFacts) -> dict[str, RemoteContact]:
    """Google may give a contact a new resource name; the mapping follows it before anything is planned."""
    by_rn = {row.resource_name: row for row in rows.values() if row.resource_name}
    inspected: dict[str, RemoteContact] = {}
    for requested, remote in facts.inspected.items():
        if remote.resource_name != requested and requested in by_rn:
            by_rn[requested].resource_name = remote.resource_name
        inspected[remote.resource_name] = remote
    return inspected


def _entry(row: SyncedContact) -> MappingEntry:
    return MappingEntry(row.crm_id, row.resource_name, row.field_hash, row.state, row.stop_syncing)


def _remember_etags(rows: Mapping[str, SyncedContact], facts: GoogleFacts) -> None:
    """Google changes etags for edits outside the owned fields too; remember them to skip re-reads."""
    for row in rows.values():
        remote = facts.inspected.get(row.resource_name or "")
        if remote is not None:
            row.etag = remote.etag
            row.field_hash = remote.field_hash


def _mapped(contacts: Iterable[ContactData]) -> dict[str, MappedContact]:
    mapped: dict[str, MappedContact] = {}
    for contact in contacts:
        mapped.setdefault(contact.crm_id, map_contact(contact))
    return mapped


def _stale(row: SyncedContact | None, version: datetime) -> bool:
    """Whether the CRM contact must be read and mapped again (new, changed, or never confirmed)."""
    return (
        row is None or row.state is RowState.INTENDED or row.crm_hash is None or row.crm_updated_at != version
    )


def _may_write(row: SyncedContact, facts: GoogleFacts) -> bool:
    rn = row.resource_name
    return (
        rn is None
        or rn in facts.missing
        or rn in facts.inspected
        or row.crm_id in facts.strays
        or row.field_hash != row.crm_hash
    )


def _note_crm(row: SyncedContact, contact: MappedContact, version: datetime) -> None:
    """Remember what the CRM wants for this contact, so an unchanged contact is not re-read next run."""
    row.crm_hash, row.crm_updated_at = contact.field_hash, version
    reported = [nc.as_dict() for nc in contact.not_carried]
    if row.not_carried != reported:
        row.not_carried = reported


class _Applier:
    def __init__(
        self,
        session: DbSession,
        sync: ContactSync,
        *,
        sync_run: SyncRun,
        contacts: GroupContacts,
        rows: dict[str, SyncedContact],
        crm: tuple[Mapping[str, MappedContact], Mapping[str, datetime]],
        ctx: RunContext,
    ) -> None:
        self.session = session
        self.sync = sync
        self.run = sync_run
        self.contacts = contacts
        self.rows = rows
        self.mapped, self.versions = crm
        self.ctx = ctx

    def _batch_done(self) -> None:
        self.run.progress_done += 1
        self.session.commit()
        self.ctx.renew_lease()

    def apply(self, the_plan: Plan) -> None:
        for batch in the_plan.create_batches:
            self._create(batch)
        for adopt in the_plan.adoptions:
            row = self._row(adopt.crm_id)
            row.state, row.resource_name = RowState.SYNCED, adopt.remote.resource_name
            row.etag, row.field_hash = adopt.remote.etag, adopt.remote.field_hash
            self.run.adopted += 1
        self.session.commit()
        for add, remove in the_plan.membership_batches:
            self.contacts.modify_members(
                [op.resource_name for op in add], [op.resource_name for op in remove]
            )
            self.run.readded += len(add)
            self.run.released += len(remove)
            self._batch_done()
        for update_batch in the_plan.update_batches:
            self._update(update_batch)
        for delete_batch in the_plan.delete_batches:
            self.contacts.batch_delete([op.resource_name for op in delete_batch])
            self.run.deleted += sum(1 for op in delete_batch if not op.duplicate)
            self._batch_done()
        if the_plan.forget:
            self.session.execute(
                delete(SyncedContact).where(
                    SyncedContact.sync_id == self.sync.id, SyncedContact.crm_id.in_(the_plan.forget)
                )
            )
        self.session.commit()

    def _row(self, crm_id: str) -> SyncedContact:
        row = self.rows.get(crm_id)
        if row is None:
            row = SyncedContact(sync_id=self.sync.id, crm_id=crm_id, state=RowState.INTENDED)
            _note_crm(row, self.mapped[crm_id], self.versions[crm_id])
            self.session.add(row)
            self.rows[crm_id] = row
        return row

    def _create(self, batch: Sequence[CreateOp]) -> None:
        group = self.contacts.scope.group_resource_name
        now = self.ctx.now()
        for op in batch:
            row = self._row(op.crm_id)
            row.state, row.resource_name, row.etag, row.field_hash = RowState.INTENDED, None, None, None
            if op.recreate:
                row.deleted_in_google_at = now
        # The intent must be durable before Google can act on the create.
        self.session.commit()
        self.ctx.step("intents_recorded")
        results = self.contacts.batch_create([op.contact.create_body(group, self.sync.tag) for op in batch])
        self.ctx.step("batch_created")
        by_crm_id = {op.crm_id: op for op in batch}
        for result in results:
            tagged = read_tag(result.person.person) if result.person is not None else None
            created = by_crm_id.get(tagged[1]) if tagged is not None else None
            if result.person is None or created is None:
                # Left as an intent: the next run adopts it if Google did create it.
                self.run.failed += 1
                continue
            op = created
            row = self.rows[op.crm_id]
            row.state, row.resource_name = RowState.SYNCED, result.person.resource_name
            row.etag, row.field_hash = result.person.etag, op.contact.field_hash
            if op.recreate:
                self.run.recreated += 1
            else:
                self.run.created += 1
        self._batch_done()

    def _update(self, batch: Sequence[UpdateOp]) -> None:
        bodies = {op.resource_name: op.contact.update_body() for op in batch}
        try:
            results = self.contacts.batch_update(bodies, OWNED_FIELDS)
        except StaleEtagError:
            # Edited in Google between our read and this write: read again, then write once more.
            self.contacts.batch_get(list(bodies), ())
            results = self.contacts.batch_update(bodies, OWNED_FIELDS)
        for result, op in zip(results, batch, strict=True):
            row = self.rows[op.crm_id]
            if result.person is None:
                self.run.failed += 1
                continue
            row.etag, row.field_hash = result.person.etag, op.contact.field_hash
            self.run.updated += 1
        self._batch_done()
