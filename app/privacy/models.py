"""Records of users accepting GroupSync's in-app disclosure about Google data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class DisclosureAcceptance(Base):
    """One affirmative click on the disclosure page; rows are never updated, a new version adds a row."""

    __tablename__ = "disclosure_acceptance"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(40))
    policy_version: Mapped[str] = mapped_column(String(40))
    """The privacy policy version in force when the user accepted; a new policy needs a new acceptance."""
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    """The language of the disclosure text the user read and accepted (its English file if none other)."""


class PausedSync(Base):
    """A sync the person's restriction of processing turned off, so lifting it turns it back on."""

    __tablename__ = "paused_sync"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    sync_id: Mapped[int] = mapped_column(ForeignKey("contact_sync.id", ondelete="CASCADE"), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserNotice(Base):
    """A message shown to one user at sign-in until they dismiss it (a breach notification)."""

    __tablename__ = "user_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dismissed_at: Mapped[datetime | None] = mapped_column()
