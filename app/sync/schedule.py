"""When syncs run: the due ones, and the spread-out slots of Workspace users' first runs.

The schedule lives in the syncs' own rows (``next_due_at``), so every web process and worker
reads the same one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.accounts.models import Account
from app.db import DbSession
from app.google.models import GoogleConnection
from app.sync.models import ContactSync, SyncStatus


def due_syncs(session: DbSession, now: datetime, limit: int = 100) -> Sequence[int]:
    """Enabled syncs whose time has come, oldest first; halted ones wait for a person.

    A frozen account's syncs are left out: they stay due and run once an admin unfreezes it.
    """
    halted = [s for s in SyncStatus if s.halts]
    stmt = (
        select(ContactSync.id)
        .join(Account, Account.id == ContactSync.account_id)
        .where(
            ContactSync.enabled.is_(True),
            ContactSync.next_due_at <= now,
            ContactSync.status.not_in(halted) | ContactSync.mass_delete_confirmed.is_(True),
            Account.frozen_at.is_(None),
        )
        .order_by(ContactSync.next_due_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def first_run_slots(session: DbSession, now: datetime, per_minute: int) -> Iterator[datetime]:
    """Free times, from ``now`` on, for first runs of syncs through a Workspace domain, earliest first.

    The times lie on one grid of ``60 / per_minute`` seconds anchored at a fixed epoch, and each
    point carries at most one first run, so any 60 seconds hold at most ``per_minute`` of them.
    The taken points are read from the syncs themselves (enabled, never run, due from ``now``
    on): the rows are the schedule, so a restart, another web process or another worker sees
    the same one. Two admins assigning in the same instant can both take one point; the rows
    still say when each run starts, and nothing else relies on the bound being exact. A first run
    claimed but still queued holds the point of its claim's expiry (``next_due_at`` moved by the
    hold) until it has run: later assignments can only be spread more, never less.
    """
    step = timedelta(minutes=1) / per_minute
    taken: set[int] = set()
    due_times = session.scalars(
        select(ContactSync.next_due_at)
        .join(GoogleConnection, GoogleConnection.id == ContactSync.connection_id)
        .where(
            GoogleConnection.domain_connection_id.is_not(None),
            ContactSync.enabled.is_(True),
            ContactSync.last_run_at.is_(None),
            ContactSync.next_due_at >= now,
        )
    )
    for due in due_times:
        if due is not None:
            taken.add(round((due - _EPOCH) / step))
    # Read now, not at the first next(): the caller's own assignments must not count as taken.
    return _free_points(-(-(now - _EPOCH) // step), step, taken)


def _free_points(first: int, step: timedelta, taken: set[int]) -> Iterator[datetime]:
    point = first  # the first grid point at or after now
    while True:
        if point not in taken:
            yield _EPOCH + point * step
        point += 1
