"""A user's connection to their Google account for contact sync, and the receipts of disconnects.

Token columns hold only ciphertext produced by :mod:`app.google.vault`; nothing else reads
or writes them. The connection's :attr:`GoogleConnection.is_usable` is what the sync engine
checks before it asks for credentials.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow
from app.google.endpoints import CONTACTS_SCOPE


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class StatusReason(StrEnum):
    """Why a connection is not (or no longer) usable; the UI explains each one."""

    NONE = ""
    CONTACTS_NOT_GRANTED = "contacts_not_granted"
    CONSENT_DENIED = "consent_denied"
    ACCESS_REVOKED = "access_revoked"
    """Google answered ``invalid_grant``: revoked by the user, expired, or too old."""
    TOKEN_UNREADABLE = "token_unreadable"
    """A stored token could not be decrypted (key missing or ciphertext damaged)."""
    DISCONNECTED_BY_USER = "disconnected_by_user"
    DISCONNECTED_BY_ADMIN = "disconnected_by_admin"
    UNUSED_TOO_LONG = "unused_too_long"
    """Retention: unused for longer than the configured number of days, so disconnected."""
    DOMAIN_FAILING = "domain_failing"
    """Google refused the Workspace domain connection this user's syncs run through."""
    LEFT_DOMAIN = "left_domain"
    """The user is no longer in the Workspace domain (or the account), so handled as a disconnect."""


def _enum(kind: type[StrEnum], length: int) -> Enum:
    return Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class GoogleConnection(Base):
    """One per (account, user): the Google account the user connected for contact sync."""

    __tablename__ = "google_connection"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    status: Mapped[ConnectionStatus] = mapped_column(
        _enum(ConnectionStatus, 20), default=ConnectionStatus.DISCONNECTED
    )
    status_reason: Mapped[StatusReason] = mapped_column(_enum(StatusReason, 40), default=StatusReason.NONE)
    google_sub: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), default="")
    """Shown to the user only ("connected as ..."); never written to the ledger or logs."""
    granted_scopes: Mapped[str] = mapped_column(Text, default="")
    """Space-separated scopes Google reported as granted in the last token response."""

    refresh_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token_key_id: Mapped[str | None] = mapped_column(String(64))
    access_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_key_id: Mapped[str | None] = mapped_column(String(64))
    access_token_expires_at: Mapped[datetime | None] = mapped_column()
    domain_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("domain_connection.id", ondelete="SET NULL"), index=True
    )
    """Set when the user's syncs run through their Workspace domain's connection, not their own grant."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    connected_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    disconnected_at: Mapped[datetime | None] = mapped_column()

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.granted_scopes.split())

    @property
    def has_contacts_scope(self) -> bool:
        return CONTACTS_SCOPE in self.scopes

    @property
    def is_usable(self) -> bool:
        """Whether syncs may run on this connection; anything else means: make no Google request."""
        return (
            self.status is ConnectionStatus.CONNECTED
            and self.has_contacts_scope
            and (self.refresh_token_ciphertext is not None or self.domain_connection_id is not None)
        )

    def mark_needs_reconnect(self, reason: StatusReason) -> None:
        self.status = ConnectionStatus.NEEDS_RECONNECT
        self.status_reason = reason
        self.access_token_ciphertext = None
        self.access_token_key_id = None
        self.access_token_expires_at = None


class DisconnectReceipt(Base):
    """What a disconnect did, kept after the tokens are gone so the user and auditors can see it."""

    __tablename__ = "google_disconnect_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("google_connection.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(40))
    reason: Mapped[StatusReason] = mapped_column(_enum(StatusReason, 40))
    revoke_outcome: Mapped[str] = mapped_column(String(40))
    """``revoked``, ``already_revoked``, ``no_token`` or ``failed:<status>``."""
    tokens_deleted: Mapped[bool] = mapped_column(default=True)
    syncs_stopped: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRequest(Base):
    """A pending request for the contacts scope: single use, bound to one sign-in session and user.

    Only a hash of ``state`` is kept. The PKCE verifier is needed in clear for the exchange,
    so it is sealed by the vault like a token; the OpenID nonce is derived from it.
    """

    __tablename__ = "google_consent_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    """Hash of a random value in the browser's session: the answer must come back to the same session."""
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    verifier_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    verifier_key_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
