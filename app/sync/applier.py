"""Applying a sync run's plan: adoptions, membership changes, deletes, creates and updates.

Each batch is sent, then Google's answer, the run's progress and the lease's renewal are
recorded in one transaction (see :meth:`Applier._batch_done`); a create's intent is durable
before the create is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import DbSession, unit_of_work, utcnow
from app.google.errors import StaleEtagError
from app.google.fields import OWNED_FIELDS
from app.google.people import GroupContacts, PeopleClient
from app.sync import rows as mapping_rows
from app.sync.mapping import MappedContact, read_tag
from app.sync.models import ContactAction, ContactSync, RemovalKind, SyncRun
from app.sync.planner import CreateOp, Limits, Plan, RowState, UpdateOp
from app.sync.rows import Row

REPAIR_EVERY = timedelta(hours=4)

Step = Callable[[str], None]
"""Called with a step name at the points where a crash is most dangerous (tests kill runs there)."""


def no_step(_: str) -> None:
    return None


class LeaseLostError(Exception):
    """Another run took this Google account over (this one stalled past its lease)."""


@dataclass
class RunContext:
    """What one run works with besides the database session."""

    client: PeopleClient
    limits: Limits
    renew_lease: Callable[[], bool]
    """Extends the run's lease inside every batch's transaction; False when this run no longer
    holds the account (the batch is still committed, then the run stops with
    :class:`LeaseLostError`)."""
    step: Step = no_step
    now: Callable[[], datetime] = utcnow
    repair_every: timedelta = REPAIR_EVERY
    """How often a run reads every member of the group to find edits made in Google."""


class Applier:
    """Applies a plan batch by batch, recording each batch's answers in one transaction."""

    def __init__(
        self,
        session: DbSession,
        sync: ContactSync,
        *,
        sync_run: SyncRun,
        contacts: GroupContacts,
        rows: dict[str, Row],
        crm: tuple[dict[str, MappedContact], Mapping[str, datetime]],
        ctx: RunContext,
    ) -> None:
        self.session = session
        self.sync = sync
        self.run = sync_run
        self.contacts = contacts
        self.rows = rows
        self.mapped, self.versions = crm
        self.ctx = ctx
        self.touched: set[str] = set()
        """CRM ids a batch of this run wrote, so a contact written twice counts once in the progress."""

    def _batch_done(
        self,
        contacts: Iterable[str],
        changed: Iterable[Row] = (),
        outcomes: Mapping[str, tuple[ContactAction, str]] | None = None,
        removals: Sequence[tuple[str, RemovalKind]] = (),
        intents: Sequence[CreateOp] = (),
    ) -> None:
        """Record an applied batch: what Google holds, what it did per contact, and the progress.

        One transaction, so an interrupted run never shows an outcome without its batch. What
        Google answered is committed even when the lease turns out lost: it is true either way
        (and so are the ``intents`` of the next creates, recorded here too: an intent whose
        create is never sent is what a crash before sending leaves, which the next run finishes).
        """
        fresh = set(contacts) - self.touched
        self.touched |= fresh
        with unit_of_work(self.session, expire_on_commit=False):
            mapping_rows.save_answers(self.session, self.sync.id, self.run.id, changed, outcomes or {})
            mapping_rows.note_removals(self.session, self.sync.id, self.run.id, removals)
            self._record_intents(intents)
            self.run.progress_done += 1
            self.run.contacts_done += len(fresh)
            held = self.ctx.renew_lease()
        if not held:
            raise LeaseLostError("the lease on this Google account was taken over by another run")

    def apply(self, the_plan: Plan) -> None:
        adopted = [self._row(adopt.crm_id) for adopt in the_plan.adoptions]
        for row, adopt in zip(adopted, the_plan.adoptions, strict=True):
            row.state, row.resource_name = RowState.SYNCED, adopt.remote.resource_name
            row.etag, row.field_hash = adopt.remote.etag, adopt.remote.field_hash
        with unit_of_work(self.session, expire_on_commit=False):
            new = [row for row in adopted if not row.stored]
            mapping_rows.insert_intents(self.session, self.sync.id, new, self.mapped)
            mapping_rows.save_google(self.session, self.sync.id, adopted)
            mapping_rows.note_outcomes(
                self.session,
                self.sync.id,
                self.run.id,
                {row.crm_id: (ContactAction.ADOPTED, "") for row in adopted},
            )
            self.run.adopted += len(adopted)
        for add, remove in the_plan.membership_batches:
            self.contacts.modify_members(
                [op.resource_name for op in add], [op.resource_name for op in remove]
            )
            self.run.readded += len(add)
            self.run.released += len(remove)
            self._batch_done(
                [op.crm_id for op in (*add, *remove)],
                outcomes={op.crm_id: (ContactAction.READDED, "") for op in add},
                removals=[(op.crm_id, RemovalKind.RELEASED) for op in remove],
            )
        # Deletes before creates: the contact limit was checked with this run's deletes netted.
        for delete_batch in the_plan.delete_batches:
            self.contacts.batch_delete([op.resource_name for op in delete_batch])
            gone = [op.crm_id for op in delete_batch if not op.duplicate]
            self.run.deleted += len(gone)
            # A duplicate's twin stays, so only whole contacts are recorded as removed.
            self._batch_done(
                [op.crm_id for op in delete_batch], removals=[(cid, RemovalKind.DELETED) for cid in gone]
            )
        for batch in the_plan.create_batches:
            self.create(batch)
        for update_batch in the_plan.update_batches:
            self._update(update_batch)
        if the_plan.forget:
            with unit_of_work(self.session, expire_on_commit=False):
                mapping_rows.forget(self.session, self.sync.id, list(the_plan.forget))

    def _row(self, crm_id: str) -> Row:
        """The mapping row of ``crm_id``, a new (not yet stored) one when it has none."""
        row = self.rows.get(crm_id)
        if row is None:
            contact = self.mapped[crm_id]
            row = Row(
                crm_id,
                RowState.INTENDED,
                crm_hash=contact.field_hash,
                crm_updated_at=self.versions[crm_id],
                stored=False,
            )
            self.rows[crm_id] = row
        return row

    def _record_intents(self, batch: Sequence[CreateOp]) -> None:
        """Write ``batch``'s rows as intents (about to be created), in the caller's transaction."""
        if not batch:
            return
        batch_rows = [self._row(op.crm_id) for op in batch]
        new = [row for row in batch_rows if not row.stored]
        existing = [row for row in batch_rows if row.stored]
        for row in batch_rows:
            row.state, row.resource_name, row.etag, row.field_hash = RowState.INTENDED, None, None, None
        mapping_rows.insert_intents(self.session, self.sync.id, new, self.mapped)
        mapping_rows.save_google(self.session, self.sync.id, existing)
        recreated = [op.crm_id for op in batch if op.recreate]
        mapping_rows.mark_deleted_in_google(self.session, self.sync.id, recreated, self.ctx.now())

    def create(
        self,
        batch: Sequence[CreateOp],
        *,
        recorded: bool = False,
        then: Callable[[], Sequence[CreateOp]] = tuple,
    ) -> Sequence[CreateOp]:
        """Create ``batch`` in Google; ``recorded``: its intents were committed with the batch before.

        Once Google has answered, ``then`` gives the next batch, whose intents are recorded in
        this batch's closing transaction; it is returned, to be created with ``recorded``.
        """
        group = self.contacts.scope.group_resource_name
        if not recorded:
            # The intent must be durable before Google can act on the create.
            with unit_of_work(self.session, expire_on_commit=False):
                self._record_intents(batch)
        self.ctx.step("intents_recorded")
        results = self.contacts.batch_create([op.contact.create_body(group, self.sync.tag) for op in batch])
        self.ctx.step("batch_created")
        # Read before this batch's counters change: the read would flush them, holding the
        # database's write lock while the next batch is mapped.
        following = then()
        by_crm_id = {op.crm_id: op for op in batch}
        done: list[Row] = []
        outcomes: dict[str, tuple[ContactAction, str]] = {}
        for result in results:
            tagged = read_tag(result.person.person) if result.person is not None else None
            answered = by_crm_id.get(tagged[1]) if tagged is not None else None
            if result.person is None or answered is None:
                # Left as an intent: the next run adopts it if Google did create it.
                if result.person is None and 0 <= result.index < len(batch):
                    outcomes[batch[result.index].crm_id] = (ContactAction.FAILED, result.message)
                continue
            row = self.rows[answered.crm_id]
            row.state, row.resource_name = RowState.SYNCED, result.person.resource_name
            row.etag, row.field_hash = result.person.etag, answered.contact.field_hash
            done.append(row)
            action = ContactAction.RECREATED if answered.recreate else ContactAction.CREATED
            outcomes[answered.crm_id] = (action, "")
        # Counted once per batch: each change of the run's counters is a tracked ORM attribute change.
        made_again = sum(1 for row in done if by_crm_id[row.crm_id].recreate)
        self.run.failed += len(results) - len(done)
        self.run.recreated += made_again
        self.run.created += len(done) - made_again
        self._batch_done([op.crm_id for op in batch], done, outcomes, intents=following)
        return following

    def _update(self, batch: Sequence[UpdateOp]) -> None:
        bodies = {op.resource_name: op.contact.update_body() for op in batch}
        try:
            results = self.contacts.batch_update(bodies, OWNED_FIELDS)
        except StaleEtagError:
            # Edited in Google between our read and this write: read again, then write once more.
            self.contacts.batch_get(list(bodies), ())
            results = self.contacts.batch_update(bodies, OWNED_FIELDS)
        done: list[Row] = []
        outcomes: dict[str, tuple[ContactAction, str]] = {}
        for result, op in zip(results, batch, strict=True):
            row = self.rows[op.crm_id]
            if result.person is None:
                self.run.failed += 1
                outcomes[op.crm_id] = (ContactAction.FAILED, result.message)
                continue
            row.etag, row.field_hash = result.person.etag, op.contact.field_hash
            done.append(row)
            self.run.updated += 1
            outcomes[op.crm_id] = (ContactAction.UPDATED, "")
        self._batch_done([op.crm_id for op in batch], done, outcomes)
