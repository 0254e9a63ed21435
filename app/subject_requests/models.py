"""Tables of data-subject requests: each account's public request page and the requests made on it.

A request holds the requester's e-mail address and their own words only while it is open: the
admins need them to find the person's contacts and answer. Closing a request (fulfilled or
rejected) blanks both; an unconfirmed request is deleted once its link has expired.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class RequestKind(StrEnum):
    ACCESS = "access"
    CORRECTION = "correction"
    DELETION = "deletion"


class RequestState(StrEnum):
    UNCONFIRMED = "unconfirmed"
    OPEN = "open"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class SubjectRequest(Base):
    __tablename__ = "subject_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=RequestState.UNCONFIRMED.value, index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    """Blank once the request is closed."""
    details: Mapped[str] = mapped_column(Text, default="")
    """The requester's own words; blank once the request is closed."""
    language: Mapped[str] = mapped_column(String(8), default="en")
    """The language of the page the person used: the e-mails to them are in it."""
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    """SHA-256 of the single-use confirmation link's token; empty once used."""
    token_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    """30 days after the address was confirmed."""
    reminded_week_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_day_at: Mapped[datetime | None] = mapped_column(default=None)
    overdue_flagged_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """``user:<id>`` of the admin who fulfilled or rejected it."""
    contacts_affected: Mapped[int] = mapped_column(default=0)
    """How many CRM contacts the answer covered (sent, corrected or deleted)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    """The admin's note: why it was rejected, or what was corrected (sent to the requester)."""
