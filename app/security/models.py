"""Tables of the security domain: the account audit chain, per-account policy, second factors, passkeys.

The audit entries carry no foreign keys, like the ledger's: they outlive the people and
memberships they name (a removed member stays as a bare id).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DDL, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

AUDIT_GUARD_DDL = """
CREATE OR REPLACE FUNCTION account_audit_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND coalesce(current_setting('groupsync.ledger_maintenance', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'account_audit_entry is insert-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER account_audit_entry_insert_only_rows
    BEFORE UPDATE OR DELETE ON account_audit_entry
    FOR EACH ROW EXECUTE FUNCTION account_audit_entry_guard();
CREATE TRIGGER account_audit_entry_insert_only_truncate
    BEFORE TRUNCATE ON account_audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION account_audit_entry_guard();
"""
"""The same insert-only guard as the ledger's (same maintenance setting), on the audit table."""

AUDIT_GUARD_SQLITE_DDL = """
CREATE TRIGGER account_audit_entry_insert_only BEFORE UPDATE ON account_audit_entry
BEGIN
    SELECT RAISE(ABORT, 'account_audit_entry is insert-only: UPDATE refused');
END
"""

AUDIT_GUARD_DROP_DDL = """
DROP TRIGGER IF EXISTS account_audit_entry_insert_only_truncate ON account_audit_entry;
DROP TRIGGER IF EXISTS account_audit_entry_insert_only_rows ON account_audit_entry;
DROP FUNCTION IF EXISTS account_audit_entry_guard();
"""


class AuditEntry(Base):
    """One administrative act in an account, hash-chained per account (chain ``audit:<account id>``)."""

    __tablename__ = "account_audit_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(40))
    """``user:<id>``, ``system`` or ``operator``."""
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    """Canonical JSON object: ids and small values, never a secret."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """Last sequence and hash of each audit chain; writers lock it to append."""

    __tablename__ = "account_audit_head"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class SecondFactorRule(StrEnum):
    OFF = "off"
    ADMINS = "admins"
    EVERYONE = "everyone"


class SecurityPolicy(Base):
    """An account's sign-in rules; an account without a row has the defaults."""

    __tablename__ = "security_policy"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    second_factor: Mapped[str] = mapped_column(String(20), default=SecondFactorRule.OFF.value)
    idle_minutes: Mapped[int] = mapped_column(Integer)
    absolute_hours: Mapped[int] = mapped_column(Integer)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    web_networks: Mapped[str] = mapped_column(Text, default="")
    """Allowed address ranges for the web pages, one CIDR a line; empty allows any."""
    api_networks: Mapped[str] = mapped_column(Text, default="")
    web_hours: Mapped[str] = mapped_column(String(11), default="")
    """``HH:MM-HH:MM`` in ``time_zone``; empty allows all day."""
    api_hours: Mapped[str] = mapped_column(String(11), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecondFactor(Base):
    """A TOTP authenticator of one membership; its secret is sealed by the token vault."""

    __tablename__ = "security_second_factor"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default="totp")
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(64))
    last_counter: Mapped[int | None] = mapped_column(Integer)
    """The last accepted time step, so one code is never accepted twice."""
    confirmed_at: Mapped[datetime | None] = mapped_column()
    """``None`` while enrolment waits for a first correct code."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code (SHA-256 of a random 60-bit code; the code is shown once)."""

    __tablename__ = "security_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column()


class Passkey(Base):
    """A WebAuthn credential of one membership, used as its second factor.

    Nothing here is secret: the public key only checks signatures, the credential id is
    sent to every browser asked to sign, so none of it is sealed by the token vault.
    """

    __tablename__ = "security_passkey"
    __table_args__ = (UniqueConstraint("membership_id", "credential_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    """The credential's COSE public key, as the authenticator gave it at registration."""
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    """The authenticator's signature counter; one that goes backwards betrays a cloned key."""
    transports: Mapped[str] = mapped_column(String(120), default="")
    """Comma-separated hints (``internal``, ``usb``, ``hybrid``...) passed back to the browser."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


class PasskeyChallenge(Base):
    """A challenge handed to the browser for one ceremony of one sign-in session: used once, soon stale."""

    __tablename__ = "security_passkey_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    login_session_id: Mapped[int] = mapped_column(
        ForeignKey("login_session.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))
    """``register``, ``sign_in`` or ``confirm`` (an admin's change of the address and hours rules)."""
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column()


class SessionDetail(Base):
    """A sign-in session's second factor: when it was given, and wrong codes so far.

    Written only when a code is entered, so viewing a page never writes here.
    """

    __tablename__ = "security_session_detail"

    login_session_id: Mapped[int] = mapped_column(
        ForeignKey("login_session.id", ondelete="CASCADE"), primary_key=True
    )
    second_factor_at: Mapped[datetime | None] = mapped_column()
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


event.listen(
    AuditEntry.__table__,
    "after_create",
    DDL(AUDIT_GUARD_DDL).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)
event.listen(
    AuditEntry.__table__,
    "after_create",
    DDL(AUDIT_GUARD_SQLITE_DDL).execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
)
