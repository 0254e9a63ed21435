"""The mapping table as one run sees it: plain rows loaded in one query, written back in bulk.

A run touches every mapping row of its sync; as ORM objects they cost an identity map, a
flush that inspects each, and a reload of each after every commit. As slotted rows read
column by column and written with one ``executemany`` statement per batch, they cost a
tuple each.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.types import TypeEngine

from app.db import DbSession, utcnow
from app.sync.bulk import BulkWrite
from app.sync.mapping import MappedContact
from app.sync.models import ContactAction, RemovalKind, SyncedContact, SyncRemoval
from app.sync.planner import MappingEntry, RowState

_TABLE = cast(Table, SyncedContact.__table__)
_REMOVALS = cast(Table, SyncRemoval.__table__)
_IN_CHUNK = 500
"""CRM ids per ``IN (...)``: well under SQLite's and PostgreSQL's limits on bound parameters."""


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


def load(session: DbSession, sync_id: int, *, only: Collection[str] | None = None) -> dict[str, Row]:
    """The mapping rows of the sync by CRM id: every one, or ``only`` those of these CRM ids."""
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
    if only is None:
        return {r[0]: Row(*r) for r in session.execute(stmt)}
    wanted = sorted(only)
    return {
        r[0]: Row(*r)
        for start in range(0, len(wanted), _IN_CHUNK)
        for r in session.execute(stmt.where(SyncedContact.crm_id.in_(wanted[start : start + _IN_CHUNK])))
    }


def _types(binds: Mapping[str, str]) -> dict[str, TypeEngine[Any]]:
    """Bind name → the type of its column, from column → bind name."""
    return {name: _TABLE.c[column].type for column, name in binds.items()}


def _update(per_row: Mapping[str, str], shared: Mapping[str, str] | None = None) -> BulkWrite:
    """An UPDATE of one mapping row per parameter row (column → bind name in both mappings).

    Shared: the sync, ``shared``, and ``updated_at`` (what its ``onupdate`` would set); then per
    row: the CRM id and ``per_row``.
    """
    changed = {**(shared or {}), "updated_at": "b_updated", **per_row}
    statement = (
        update(_TABLE)
        .where(_TABLE.c.sync_id == bindparam("b_sync"), _TABLE.c.crm_id == bindparam("b_crm"))
        .values({column: bindparam(name) for column, name in changed.items()})
    )
    shared = {"sync_id": "b_sync", **(shared or {}), "updated_at": "b_updated"}
    per_row = {"crm_id": "b_crm", **per_row}
    return BulkWrite(statement, _types(shared), _types(per_row))


_SAVE_GOOGLE = _update(
    {"state": "b_state", "resource_name": "b_rn", "etag": "b_etag", "field_hash": "b_hash"}
)
_CRM = {"crm_hash": "b_crm_hash", "crm_updated_at": "b_crm_updated_at"}
_SAVE_CRM = _update(_CRM)
_SAVE_CRM_REPORT = _update({**_CRM, "not_carried": "b_nc"})
_OUTCOME = {"last_action": "b_action", "last_reason": "b_reason"}
_NOTE_OUTCOMES = _update(_OUTCOME, {"last_run_id": "b_run"})
_SAVE_ANSWER = _update(
    {"state": "b_state", "resource_name": "b_rn", "etag": "b_etag", "field_hash": "b_hash", **_OUTCOME},
    {"last_run_id": "b_run"},
)
_INSERT_INTENTS = BulkWrite(
    # inline(): no RETURNING of the new ids, which nothing reads.
    insert(_TABLE).inline(),
    _types({c: c for c in ("sync_id", "stop_syncing", "last_reason", "created_at", "updated_at")}),
    _types({c: c for c in ("crm_id", "state", "crm_hash", "crm_updated_at", "not_carried")}),
)


def save_google(session: DbSession, sync_id: int, rows: Iterable[Row]) -> None:
    """Write what Google holds (state, resource name, etag, hash) for ``rows``, already stored."""
    _SAVE_GOOGLE.run(
        session,
        (sync_id, utcnow()),
        [(r.crm_id, r.state, r.resource_name, r.etag, r.field_hash) for r in rows],
    )


def save_crm(session: DbSession, sync_id: int, rows: Sequence[Row], mapped: dict[str, MappedContact]) -> None:
    """Write what the CRM wants (hash, version, values Google cannot take) for stored ``rows``."""
    plain_rows: list[tuple[Any, ...]] = []
    with_report: list[tuple[Any, ...]] = []
    for r in rows:
        if not r.stored:
            continue
        contact = mapped.get(r.crm_id)
        if contact is None:
            plain_rows.append((r.crm_id, r.crm_hash, r.crm_updated_at))
        else:
            report = [nc.as_dict() for nc in contact.not_carried]
            with_report.append((r.crm_id, r.crm_hash, r.crm_updated_at, report))
    now = utcnow()
    _SAVE_CRM_REPORT.run(session, (sync_id, now), with_report)
    _SAVE_CRM.run(session, (sync_id, now), plain_rows)


def insert_intents(
    session: DbSession, sync_id: int, rows: Sequence[Row], mapped: dict[str, MappedContact]
) -> None:
    """Store new rows (creates about to be sent) in one statement."""
    now = utcnow()
    _INSERT_INTENTS.run(
        session,
        (sync_id, False, "", now, now),
        [
            (
                r.crm_id,
                r.state,
                r.crm_hash,
                r.crm_updated_at,
                [nc.as_dict() for nc in mapped[r.crm_id].not_carried],
            )
            for r in rows
        ],
    )
    for r in rows:
        r.stored = True


def save_answers(
    session: DbSession,
    sync_id: int,
    run_id: int,
    rows: Iterable[Row],
    outcomes: Mapping[str, tuple[ContactAction, str]],
) -> None:
    """:func:`save_google` of ``rows`` and :func:`note_outcomes` of ``outcomes`` together.

    A row with an outcome (every contact a create or an update wrote) is updated once, not once
    for each: half the statements for a batch Google answered.
    """
    both: list[tuple[Any, ...]] = []
    google_only: list[tuple[Any, ...]] = []
    for r in rows:
        noted = outcomes.get(r.crm_id)
        if noted is None:
            google_only.append((r.crm_id, r.state, r.resource_name, r.etag, r.field_hash))
        else:
            both.append((r.crm_id, r.state, r.resource_name, r.etag, r.field_hash, *noted))
    now = utcnow()
    _SAVE_ANSWER.run(session, (sync_id, run_id, now), both)
    _SAVE_GOOGLE.run(session, (sync_id, now), google_only)
    answered = {row[0] for row in both}
    _NOTE_OUTCOMES.run(
        session,
        (sync_id, run_id, now),
        [(crm_id, action, reason) for crm_id, (action, reason) in outcomes.items() if crm_id not in answered],
    )


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
    _NOTE_OUTCOMES.run(
        session,
        (sync_id, run_id, utcnow()),
        [(crm_id, action, reason) for crm_id, (action, reason) in outcomes.items()],
    )


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
