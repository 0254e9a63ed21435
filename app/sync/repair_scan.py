"""A repair run's two passes over the whole list, streamed so its memory does not grow with the list.

A repair run (every ``repair_every``) re-maps every CRM contact, so a changed mapping reaches
Google, and compares every member's etag, so edits made in Google are found. Both passes
read the list and the mapping table a chunk at a time and keep only what differs; the run
then goes on with those few, as an ordinary run does with the contacts changed in the CRM
(:mod:`app.sync.candidates`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from app.crm.values import ContactData
from app.db import DbSession, unit_of_work
from app.google.limits import MAX_BATCH_GET
from app.google.people import GroupContacts
from app.sync.mapping import map_contact
from app.sync.models import SyncedContact
from app.sync.planner import RowState

_CHUNK = 500
"""CRM contacts or mapping rows read from the database at a time."""

# One statement for every chunk: a statement built per chunk is garbage in reference cycles,
# and held its chunk's CRM ids until the collector ran (1.4 MiB at 25,000 contacts).
_RECORDED = select(SyncedContact.crm_id, SyncedContact.crm_hash).where(
    SyncedContact.sync_id == bindparam("sync"), SyncedContact.crm_id.in_(bindparam("ids", expanding=True))
)


@dataclass
class Glanced:
    """What comparing etags found: members Google changed (to read in full) and contacts gone."""

    moved: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)


def glance(contacts: GroupContacts, batch: Sequence[str], etag_of: Callable[[str], str | None]) -> Glanced:
    """Read one batch of members with scope fields only and compare each etag with GroupSync's.

    The unchanged are let go at once: the People layer need not remember them.
    """
    seen = contacts.batch_get(batch, ())
    moved = [
        requested
        for requested, person in seen.found.items()
        if person.etag != etag_of(requested) or person.resource_name != requested or not person.in_group
    ]
    contacts.forget(set(seen.found) - set(moved))
    return Glanced(moved, set(seen.missing))


def remapped(
    session: DbSession,
    sync_id: int,
    chunks: Iterable[list[tuple[ContactData, datetime]]],
    skip: Collection[str],
) -> dict[str, datetime]:
    """CRM id → version of the contacts whose mapping now hashes otherwise than GroupSync recorded."""
    found: dict[str, datetime] = {}
    for chunk in chunks:
        ids = [contact.crm_id for contact, _ in chunk if contact.crm_id not in skip]
        recorded = {row[0]: row[1] for row in session.execute(_RECORDED, {"sync": sync_id, "ids": ids})}
        for contact, version in chunk:
            cid = contact.crm_id
            if cid not in skip and map_contact(contact).field_hash != recorded.get(cid):
                found[cid] = version
    return found


def moved_in_google(
    session: DbSession, sync_id: int, contacts: GroupContacts, skip: Collection[str]
) -> tuple[Glanced, list[str]]:
    """Compare the etag of every synced member but ``skip`` (CRM ids) with what Google holds now.

    Returns what was found and the CRM ids of the members to read in full. No transaction is
    open while Google answers: each chunk of rows is read in its own.
    """
    s = SyncedContact
    found = Glanced()
    crm_ids: list[str] = []
    pending: dict[str, tuple[str, str | None]] = {}
    after = 0
    while True:
        with unit_of_work(session, expire_on_commit=False):
            chunk = session.execute(
                select(s.id, s.crm_id, s.resource_name, s.etag)
                .where(
                    s.sync_id == sync_id,
                    s.state == RowState.SYNCED,
                    s.resource_name.is_not(None),
                    s.stop_syncing.is_(False),
                    s.id > after,
                )
                .order_by(s.id)
                .limit(_CHUNK)
            ).all()
        last = not chunk
        for row_id, crm_id, rn, etag in chunk:
            after = row_id
            if crm_id not in skip and rn is not None:
                pending[rn] = (crm_id, etag)
        # Batches of the full size, so the run costs exactly one read per 200 members.
        while len(pending) >= MAX_BATCH_GET or (last and pending):
            batch = list(pending)[:MAX_BATCH_GET]
            glanced = glance(contacts, batch, lambda rn: pending[rn][1])
            found.moved += glanced.moved
            found.missing |= glanced.missing
            crm_ids += [pending[rn][0] for rn in glanced.moved]
            for rn in batch:
                del pending[rn]
        if last:
            return found, crm_ids
