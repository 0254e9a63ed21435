"""Tenants (CRM accounts), people, their roles, invitations and sign-in sessions."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    REVIEWER = "reviewer"


def new_request_slug() -> str:
    return secrets.token_urlsafe(12)


class Account(Base):
    """A CRM account: the tenant every other row belongs to."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_slug: Mapped[str] = mapped_column(
        String(32), nullable=True, unique=True, index=True, default=new_request_slug
    )
    """The random part of the account's public data-request page address; given at creation so that
    showing the address never writes. Never empty: nullable in the schema only because SQLite cannot
    add a NOT NULL column without rebuilding the account table (see migration 0012)."""
    last_active_at: Mapped[datetime] = mapped_column(nullable=True, default=utcnow)
    """The last sign-in or API call, to the hour (app/accounts/activity.py); syncs do not count.
    Never empty; nullable in the schema for the same reason as ``request_slug`` (migration 0014)."""
    inactivity_warned_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the admins were told the account will be frozen; cleared by activity or unfreezing."""
    frozen_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the account was frozen for inactivity (no syncs, API answers 403); ``None`` when not."""

    memberships: Mapped[list[Membership]] = relationship(back_populates="account")


class User(Base):
    """A person, identified by Google's stable ``sub`` (e-mail addresses can change hands)."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    google_sub: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    name_chosen: Mapped[bool] = mapped_column(default=False)
    """The person set ``name`` themselves, so sign-in no longer replaces it with Google's."""
    notice_email: Mapped[str] = mapped_column(String(320), default="")
    """Where notices go instead of the sign-in address, if set by the person."""
    age_confirmed_at: Mapped[datetime | None] = mapped_column()
    """When the person confirmed being 16 or older (at sign-up)."""
    processing_restricted_at: Mapped[datetime | None] = mapped_column()
    """The person paused all their syncs (right to restriction); ``None`` when not restricted."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    """The interface language the user chose (uk, en, ru); none means the browser's Accept-Language."""
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    """An IANA zone the user chose for displayed times; none means the one the browser reports."""

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


def _role_column() -> Enum:
    return Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_role_column())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class LoginSession(Base):
    """A server-side sign-in session; the browser holds only a random token whose hash is stored here.

    Deleting the row (sign-out, membership removed) ends the session at once, which a
    signed cookie alone cannot do.
    """

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    """Where the session began, so its owner can recognise it in the list of their sessions."""

    membership: Mapped[Membership] = relationship()


class Invitation(Base):
    """An admin's invitation of an e-mail address into an account with a role.

    It is consumed by the first sign-in whose ID token carries this address *verified*;
    the address is stored lower-cased so matching does not depend on how it was typed.
    """

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("account_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[Role] = mapped_column(_role_column())
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship()


class SignInRequest(Base):
    """A sign-in sent to Google and not yet returned: single use, bound to one browser.

    Only hashes are kept: of ``state`` and of a random value in the starting browser's
    session. ``nonce`` and the PKCE verifier are derived from the server's secret key and
    ``state`` (see :mod:`app.auth.services`), so no value that could complete the exchange is
    at rest.
    """

    __tablename__ = "sign_in_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    next_url: Mapped[str] = mapped_column(Text, default="")
    age_confirmed: Mapped[bool] = mapped_column(default=False)
    """The person ticked "I am 16 or older" on the sign-in page (needed to create a new user)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AccountCopy(Base):
    """The sealed copy of an account deleted for inactivity, kept for restoring until ``expires_at``.

    ``blob`` is the account's rows as JSON sealed by the token vault (app/google/vault.py) and
    bound to this row and account; nothing of the account is stored here in clear, not even
    its name. The account row is gone, so ``account_id`` is a plain number.
    """

    __tablename__ = "account_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(unique=True)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    rows: Mapped[int] = mapped_column(default=0)
    key_id: Mapped[str] = mapped_column(String(64), default="")
    blob: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
