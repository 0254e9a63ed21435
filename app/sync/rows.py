"""The mapping table as one run sees it: plain rows loaded in one query, written back in bulk.

A run touches every mapping row of its sync; as ORM objects they cost an identity map, a
flush that inspects each, and a reload of each after every commit. As slotted rows read
column by column and written with one ``executemany`` statement per batch, they cost a
tuple each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update

from app.db import DbSession, utcnow
from app.sync.mapping import MappedContact
from app.sync.models import ContactAction, RemovalKind, SyncedContact, SyncRemoval
from app.sync.planner import MappingEntry, RowState

_TABLE = cast(Table, SyncedContact.__table__)
_REMOVALS = cast(Table, SyncRemoval.__table__)


@dataclass(slots=True)
class Row:
    """One mapping row; ``stored`` is False until it is first inserted."""

    crm_id: str
    state: RowState
    resource_name: str | None = None
    etag: str | None = None
    field_hash: str | None = None
    crm_hash: str | None = None
    crm_updated_at: datetime | None = None
    stop_syncing: bool = False
    stored: bool = True

    def entry(self) -> MappingEntry:
        return MappingEntry(self.crm_id, self.resource_name, self.field_hash, self.state, self.stop_syncing)


def load(session: DbSession, sync_id: int) -> dict[str, Row]:
    """Every mapping row of the sync, by CRM id."""
    stmt = select(
        SyncedContact.crm_id,
        SyncedContact.state,
        SyncedContact.resource_name,
        SyncedContact.etag,
        SyncedContact.field_hash,
        SyncedContact.crm_hash,
        SyncedContact.crm_updated_at,
        SyncedContact.stop_syncing,
    ).where(SyncedContact.sync_id == sync_id)
    return {r[0]: Row(*r) for r in session.execute(stmt)}


def _crm_values(row: Row, contact: MappedContact | None) -> dict[str, Any]:
    values: dict[str, Any] = {"b_crm_hash": row.crm_hash, "b_crm_updated_at": row.crm_updated_at}
    if contact is not None:
        values["b_not_carried"] = [nc.as_dict() for nc in contact.not_carried]
    return values


def save_google(session: DbSession, sync_id: int, rows: Iterable[Row]) -> None:
    """Write what Google holds (state, resource name, etag, hash) for ``rows``, already stored."""
    params = [
        {
            "b_sync": sync_id,
            "b_crm": r.crm_id,
            "b_state": r.state,
            "b_rn": r.resource_name,
            "b_etag": r.etag,
            "b_hash": r.field_hash,
        }
        for r in rows
    ]
    if params:
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.sync_id == bindparam("b_sync"), _TABLE.c.crm_id == bindparam("b_crm"))
            .values(
                state=bindparam("b_state"),
                resource_name=bindparam("b_rn"),
                etag=bindparam("b_etag"),
                field_hash=bindparam("b_hash"),
            )
        )
        session.execute(stmt, params)


def save_crm(session: DbSession, sync_id: int, rows: Sequence[Row], mapped: dict[str, MappedContact]) -> None:
    """Write what the CRM wants (hash, version, values Google cannot take) for stored ``rows``."""
    params = [
        {"b_sync": sync_id, "b_crm": r.crm_id, **_crm_values(r, mapped.get(r.crm_id))}
        for r in rows
        if r.stored
    ]
    for with_report in (True, False):
        chosen = [p for p in params if ("b_not_carried" in p) is with_report]
        if not chosen:
            continue
        values: dict[str, Any] = {
            "crm_hash": bindparam("b_crm_hash"),
            "crm_updated_at": bindparam("b_crm_updated_at"),
        }
        if with_report:
            values["not_carried"] = bindparam("b_not_carried", type_=_TABLE.c.not_carried.type)
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.sync_id == bindparam("b_sync"), _TABLE.c.crm_id == bindparam("b_crm"))
            .values(**values)
        )
        session.execute(stmt, chosen)


def insert_intents(
    session: DbSession, sync_id: int, rows: Sequence[Row], mapped: dict[str, MappedContact]
) -> None:
    """Store new rows (creates about to be sent) in one statement."""
    now = utcnow()
    params = [
        {
            "sync_id": sync_id,
            "crm_id": r.crm_id,
            "state": r.state,
            "crm_hash": r.crm_hash,
            "crm_updated_at": r.crm_updated_at,
            "not_carried": [nc.as_dict() for nc in mapped[r.crm_id].not_carried],
            "stop_syncing": False,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    if params:
        session.execute(insert(_TABLE), params)
    for r in rows:
        r.stored = True


def mark_deleted_in_google(session: DbSession, sync_id: int, crm_ids: Sequence[str], when: datetime) -> None:
    if crm_ids:
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.sync_id == sync_id, _TABLE.c.crm_id.in_(crm_ids))
            .values(deleted_in_google_at=when)
        )


def forget(session: DbSession, sync_id: int, crm_ids: Sequence[str]) -> None:
    for start in range(0, len(crm_ids), 500):
        session.execute(
            delete(_TABLE).where(
                _TABLE.c.sync_id == sync_id, _TABLE.c.crm_id.in_(crm_ids[start : start + 500])
            )
        )


def note_outcomes(
    session: DbSession, sync_id: int, run_id: int, outcomes: Mapping[str, tuple[ContactAction, str]]
) -> None:
    """Record what run ``run_id`` did with each contact (CRM id → action and Google's words, if any).

    Called in the transaction that records the batch itself, so the page never shows an
    action whose batch was not applied, nor misses one that was.
    """
    params = [
        {"b_sync": sync_id, "b_crm": crm_id, "b_action": action, "b_run": run_id, "b_reason": reason}
        for crm_id, (action, reason) in outcomes.items()
    ]
    if params:
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.sync_id == bindparam("b_sync"), _TABLE.c.crm_id == bindparam("b_crm"))
            .values(
                last_action=bindparam("b_action"),
                last_run_id=bindparam("b_run"),
                last_reason=bindparam("b_reason"),
            )
        )
        session.execute(stmt, params)


def note_removals(
    session: DbSession, sync_id: int, run_id: int, removals: Sequence[tuple[str, RemovalKind]]
) -> None:
    """Record the contacts run ``run_id`` took out of GroupSync's group (by CRM id only)."""
    now = utcnow()
    params = [
        {"sync_id": sync_id, "run_id": run_id, "crm_id": crm_id, "kind": kind, "created_at": now}
        for crm_id, kind in removals
    ]
    if params:
        session.execute(insert(_REMOVALS), params)
