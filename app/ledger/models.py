"""The Limited Use ledger: append-only entries in per-account hash chains, chain heads, signed checkpoints.

Entries carry no foreign keys on purpose: the ledger outlives the tenants and people it
mentions (a deleted user stays as a bare, pseudonymous id).

Insert-only on PostgreSQL: :data:`LEDGER_GUARD_DDL` installs triggers that refuse every
UPDATE of an entry, and every DELETE or TRUNCATE unless the transaction has set
``groupsync.ledger_maintenance = 'on'`` (``SET LOCAL``). Only the retention purge (and the
test fixture that empties tables) sets it. The setting stops application code from changing
history by mistake; it is not a barrier against someone who owns the table. In production
the web role should hold only SELECT and INSERT on ``ledger_entry`` (``docs/ledger.md``);
the hash chain with checkpoints signed by a key outside the database is what exposes
tampering by anyone else. On SQLite (single-machine installs) a trigger refuses UPDATE only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    DDL,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

LEDGER_MAINTENANCE_SETTING = "groupsync.ledger_maintenance"

LEDGER_GUARD_DDL = f"""
CREATE OR REPLACE FUNCTION ledger_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND coalesce(current_setting('{LEDGER_MAINTENANCE_SETTING}', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'ledger_entry is insert-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_entry_insert_only_rows
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_guard();
CREATE TRIGGER ledger_entry_insert_only_truncate
    BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard();
"""
"""PostgreSQL DDL for the insert-only guard; the Alembic migration runs it after creating ``ledger_entry``."""

LEDGER_GUARD_SQLITE_DDL = """
CREATE TRIGGER ledger_entry_insert_only BEFORE UPDATE ON ledger_entry
BEGIN
    SELECT RAISE(ABORT, 'ledger_entry is insert-only: UPDATE refused');
END
"""
"""SQLite's guard (the migration runs it there): UPDATE only, since SQLite has no session setting to
let the retention purge's DELETE through selectively."""

LEDGER_GUARD_DROP_DDL = """
DROP TRIGGER IF EXISTS ledger_entry_insert_only_truncate ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_entry_insert_only_rows ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_guard();
"""
"""Undoes :data:`LEDGER_GUARD_DDL` (the migration's downgrade, before dropping ``ledger_entry``)."""


class LedgerEntry(Base):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_ledger_entry_recorded_at", "recorded_at"),
        Index("ix_ledger_entry_account_id_recorded_at", "account_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    tag: Mapped[str] = mapped_column(String(60))
    account_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    google_account: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 of Google's ``sub``; never the ``sub`` or an e-mail address."""
    kind: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(60))
    destination: Mapped[str] = mapped_column(String(40))
    method: Mapped[str | None] = mapped_column(String(120))
    records: Mapped[int] = mapped_column(Integer, default=0)
    categories: Mapped[str] = mapped_column(Text, default="[]")
    """Canonical JSON list, sorted."""
    detail: Mapped[str] = mapped_column(Text, default="{}")
    """Canonical JSON object of small non-sensitive extras."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """The last sequence and hash of each chain; writers lock this row to append (see ``services.record``)."""

    __tablename__ = "ledger_head"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerCheckpoint(Base):
    """A signed statement "chain C had head hash H at seq N at time T"."""

    __tablename__ = "ledger_checkpoint"
    __table_args__ = (UniqueConstraint("chain", "seq", "key_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the raw public key, so a verifier knows which key signed."""
    signature: Mapped[str] = mapped_column(String(128))
    """Base64 Ed25519 signature over the checkpoint's canonical JSON."""


class LedgerSigningKey(Base):
    """Public keys that have signed checkpoints, so a verifier can name which key it trusts."""

    __tablename__ = "ledger_signing_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PackState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class EvidencePackRequest(Base):
    """A reviewer's request for a signed evidence pack, built by the worker (which holds the key).

    The web process cannot read the ledger signing key, so it only records the request; the
    worker checkpoints the ledger, builds and signs the pack, and stores it here for download.
    """

    __tablename__ = "evidence_pack_request"
    __table_args__ = (Index("ix_evidence_pack_request_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    window_start: Mapped[datetime | None] = mapped_column(default=None)
    window_end: Mapped[datetime | None] = mapped_column(default=None)
    state: Mapped[PackState] = mapped_column(
        Enum(PackState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=PackState.PENDING,
    )
    progress: Mapped[str] = mapped_column(String(120), default="waiting for the worker")
    error: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64), default="")
    """The key that signed the pack (its fingerprint), shown so a reviewer can compare it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


event.listen(
    LedgerEntry.__table__,
    "after_create",
    DDL(LEDGER_GUARD_DDL).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)
event.listen(
    LedgerEntry.__table__,
    "after_create",
    DDL(LEDGER_GUARD_SQLITE_DDL).execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
)
