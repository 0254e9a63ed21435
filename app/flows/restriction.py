"""Restriction of processing: one switch that pauses every sync of a person, and lifts the pause.

Order: the person is marked restricted and each of their enabled syncs is remembered and
turned off (no further Google request; nothing is deleted), all in one transaction; lifting
turns back on the remembered syncs that may still run, then clears the mark. Nothing is
deleted either way: that is the difference from deleting one's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from app.accounts.models import Membership, User
from app.db import DbSession, unit_of_work, utcnow
from app.privacy.models import PausedSync
from app.sync import services as sync_services
from app.sync.models import ContactSync


def restrict(session: DbSession, user: User) -> int:
    """Pause every enabled sync of ``user`` in every account; returns how many were paused."""
    actor = f"user:{user.id}"
    with unit_of_work(session) as work:
        syncs = list(
            work.scalars(
                select(ContactSync)
                .join(Membership, ContactSync.membership_id == Membership.id)
                .where(Membership.user_id == user.id, ContactSync.enabled.is_(True))
            )
        )
        user.processing_restricted_at = utcnow()
        for sync in syncs:
            work.add(PausedSync(user_id=user.id, sync_id=sync.id))
            work.flush()
            # disable_sync commits; the rows above go with the first of them.
            sync_services.disable_sync(work, sync, actor)
    return len(syncs)


@dataclass(frozen=True)
class Lifted:
    resumed: int
    not_resumed: int
    """Syncs that may no longer run (list withdrawn, Google disconnected): the person turns them on later."""


def lift(session: DbSession, user: User) -> Lifted:
    """End the restriction: turn back on the syncs it paused, where they may still run."""
    paused = list(session.scalars(select(PausedSync).where(PausedSync.user_id == user.id)))
    resumed = failed = 0
    for row in paused:
        sync = session.get(ContactSync, row.sync_id)
        membership = session.get(Membership, sync.membership_id) if sync is not None else None
        if sync is None or membership is None:
            continue
        try:
            sync_services.enable_sync(session, membership, sync.list_id)
            resumed += 1
        except sync_services.SyncNotAllowedError:
            session.rollback()
            failed += 1
    with unit_of_work(session) as work:
        work.execute(delete(PausedSync).where(PausedSync.user_id == user.id))
        user.processing_restricted_at = None
    return Lifted(resumed, failed)
