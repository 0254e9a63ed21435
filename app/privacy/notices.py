"""Notices a user sees in GroupSync until they dismiss them (breach notifications)."""

from __future__ import annotations

from sqlalchemy import select

from app.db import DbSession, unit_of_work, utcnow
from app.privacy.models import UserNotice

INCIDENT = "incident"


def add(session: DbSession, user_id: int, kind: str, subject: str, body: str) -> UserNotice:
    """Store a notice for the user's next page view; the caller commits."""
    notice = UserNotice(user_id=user_id, kind=kind, subject=subject, body=body)
    session.add(notice)
    session.flush()
    return notice


def pending(session: DbSession, user_id: int) -> list[UserNotice]:
    return list(
        session.scalars(
            select(UserNotice)
            .where(UserNotice.user_id == user_id, UserNotice.dismissed_at.is_(None))
            .order_by(UserNotice.id)
        )
    )


def dismiss(session: DbSession, user_id: int, notice_id: int) -> bool:
    """Mark the user's own notice read; ``False`` (nothing changed) if not theirs or already dismissed."""
    with unit_of_work(session) as work:
        notice = work.get(UserNotice, notice_id)
        if notice is None or notice.user_id != user_id or notice.dismissed_at is not None:
            return False
        notice.dismissed_at = utcnow()
    return True
