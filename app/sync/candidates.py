"""The contacts one incremental run must look at, found by comparing the CRM list and the mappings in SQL.

Most runs change a handful of contacts of a long list. Loading every mapping row and every
CRM version into Python to find them made a run's memory grow with the list (34 MiB for a
no-change run at 25,000 contacts); asking the database for the rows that differ keeps it to
the changes. A row is left out only when nothing about it can change this run: synced, in
the list with the version it was last mapped at, and Google last seen holding what the CRM
wants. Such a row is exactly what :func:`app.sync.gather.settled` calls settled, so the
plan is the same as the one made from every row.

The narrowing needs two things the database alone cannot say, so the run falls back to
every row when either fails: no create is awaiting Google's answer (then unknown members of
the group are read, to adopt those carrying this sync's tag), and every synced contact is
still a member of the group (a missing one is put back or let go, and leads to the same
reading of unknown members).

When nothing changed at all, the run does not need the members either: the group's
``memberCount`` equal to the number of synced contacts says none left (see
:func:`app.sync.executor.run`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select

from app.db import DbSession
from app.sync import rows as mapping_rows
from app.sync.models import SyncedContact
from app.sync.planner import RowState
from app.sync.rows import Row

_STREAM = 2000
"""Mapping rows held at a time while the group's members are checked."""


@dataclass
class Candidates:
    rows: dict[str, Row]
    """Mapping rows that may change this run, by CRM id."""
    versions: dict[str, datetime]
    """CRM id → version of the list's contacts that may change this run (new ones included)."""
    settled: int
    """Mapping rows left out: in sync in the CRM and as last seen in Google."""

    def extend(self, session: DbSession, sync_id: int, versions: Mapping[str, datetime]) -> None:
        """Add contacts a repair run's passes found to differ (CRM id → version)."""
        new = mapping_rows.load(session, sync_id, only=set(versions) - self.rows.keys())
        self.rows.update(new)
        self.versions.update(versions)
        self.settled -= len(new)

    @property
    def none(self) -> bool:
        """Nothing changed in the CRM nor is known to differ in Google."""
        return not self.rows and not self.versions


def _unsettled() -> list[ColumnElement[bool]]:
    """SQL tests, any of which puts a mapping row among the candidates whatever the CRM says."""
    s = SyncedContact
    return [
        s.state != RowState.SYNCED,
        s.resource_name.is_(None),
        s.stop_syncing.is_(True),
        s.crm_hash.is_(None),
        s.crm_updated_at.is_(None),
        s.field_hash.is_(None),
        s.field_hash != s.crm_hash,
    ]


def changed(session: DbSession, sync_id: int, listed: Select[str, datetime] | None) -> Candidates | None:
    """The run's candidates; None when a create awaits Google's answer (the run looks at every row).

    The caller must also check :func:`all_members` once it has read the group.
    """
    s = SyncedContact
    pending = select(s.id).where(s.sync_id == sync_id, s.state != RowState.SYNCED).limit(1)
    if session.scalar(pending) is not None:
        return None
    unsettled = or_(*_unsettled())
    versions: dict[str, datetime] = {}
    if listed is None:
        ids = set(session.scalars(select(s.crm_id).where(s.sync_id == sync_id)))
    else:
        lst = listed.subquery()
        changed = (
            select(lst.c.crm_id, lst.c.updated_at)
            .outerjoin(s, and_(s.sync_id == sync_id, s.crm_id == lst.c.crm_id))
            .where(or_(s.id.is_(None), s.crm_updated_at != lst.c.updated_at, unsettled))
        )
        versions = {row[0]: row[1] for row in session.execute(changed)}
        leaving = select(s.crm_id).where(
            s.sync_id == sync_id,
            or_(unsettled, not_(exists().where(lst.c.crm_id == s.crm_id))),
        )
        ids = set(versions) | set(session.scalars(leaving))
    rows = mapping_rows.load(session, sync_id, only=ids)
    total = session.scalar(select(func.count(s.id)).where(s.sync_id == sync_id)) or 0
    return Candidates(rows=rows, versions=versions, settled=int(total) - len(rows))


def versions_of(
    session: DbSession, listed: Select[str, datetime] | None, crm_ids: Collection[str]
) -> dict[str, datetime]:
    """CRM id → version of those of ``crm_ids`` the group must hold."""
    if listed is None or not crm_ids:
        return {}
    lst = listed.subquery()
    wanted = sorted(crm_ids)
    return {
        row[0]: row[1]
        for start in range(0, len(wanted), _STREAM)
        for row in session.execute(select(lst).where(lst.c.crm_id.in_(wanted[start : start + _STREAM])))
    }


def all_members(
    session: DbSession, sync_id: int, members: Collection[str], *, no_strangers: bool = False
) -> bool:
    """Whether every synced contact GroupSync still looks after is a member of the group.

    With ``no_strangers``, also whether every member is one GroupSync knows (a repair run reads
    unknown members to adopt those an interrupted create made; it then looks at every row).
    Streamed: only the resource names are read, a few thousand at a time.
    """
    s = SyncedContact
    stmt = (
        select(s.resource_name, s.stop_syncing)
        .where(s.sync_id == sync_id, s.resource_name.is_not(None))
        .execution_options(yield_per=_STREAM)
    )
    known = 0
    for rn, stopped in session.execute(stmt):
        if rn in members:
            known += 1
        elif not stopped:
            return False
    return not no_strangers or known == len(members)
