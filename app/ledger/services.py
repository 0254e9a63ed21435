"""Writing to the ledger: one entry per flow, appended to its chain inside the caller's transaction.

Concurrency: each chain has one :class:`LedgerHead` row. A writer first makes sure the row
exists (``INSERT ... ON CONFLICT DO NOTHING``), then reads it with ``SELECT ... FOR UPDATE``
on PostgreSQL, so a second writer of the same chain waits until the first commits or rolls
back and then sees the new head. SQLite takes its database-wide write lock at that first
INSERT, which serialises writers the same way. The unique constraint on ``(chain, seq)`` is
the last line of defence: should anything slip past, the duplicate fails instead of forking
the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.ledger import chain
from app.ledger.events import Flow
from app.ledger.models import LedgerEntry, LedgerHead

_ACTOR = re.compile(r"system|user:\d+")
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_DETAIL_TEXT = 300


class Pseudonymizer:
    """Keyed hash for Google account ids (HMAC-SHA256; the key never leaves the process)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> Pseudonymizer:
        # A derived key, so the ledger hashes cannot be used to test guesses against the session secret.
        key = hmac.new(settings.secret_key.encode(), b"groupsync/ledger/google-account/v1", hashlib.sha256)
        return cls(key.digest())

    def google_account(self, sub: str) -> str:
        return chain.keyed_hash(self._key, sub)


def _default_pseudonymizer() -> Pseudonymizer:
    settings: Settings = current_app.config["GROUPSYNC"]
    return Pseudonymizer.from_settings(settings)


def _check_detail(detail: Mapping[str, str | int | bool]) -> dict[str, str | int | bool]:
    checked: dict[str, str | int | bool] = {}
    for key, value in detail.items():
        if not _DETAIL_KEY.fullmatch(key):
            raise ValueError(f"ledger detail key {key!r} must be lower_snake_case, at most 40 characters")
        if isinstance(value, str):
            if "@" in value:
                raise ValueError(f"ledger detail {key!r} looks like it holds an e-mail address; store none")
            if len(value) > _MAX_DETAIL_TEXT:
                raise ValueError(f"ledger detail {key!r} is longer than {_MAX_DETAIL_TEXT} characters")
        elif not isinstance(value, int | bool):
            raise ValueError(f"ledger detail {key!r} must be text, a whole number or a boolean")
        checked[key] = value
    return checked


def _check_flow(flow: Flow) -> None:
    if not _ACTOR.fullmatch(flow.actor):
        raise ValueError(f"ledger actor must be 'system' or 'user:<id>' (got {flow.actor!r})")
    if not flow.outcome or len(flow.outcome) > 60:
        raise ValueError("ledger outcome must be 1 to 60 characters")
    if flow.records < 0:
        raise ValueError("ledger records must not be negative")
    if flow.method is not None and len(flow.method) > 120:
        raise ValueError("ledger method must be at most 120 characters")


def _lock_head(session: Session, chain_name: str) -> LedgerHead:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(LedgerHead)
        .values(chain=chain_name, seq=0, hash=chain.GENESIS)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    return session.scalars(
        select(LedgerHead)
        .where(LedgerHead.chain == chain_name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def entry_fields(entry: LedgerEntry) -> dict[str, object]:
    """The exported, hashed form of a stored entry (plus its ``hash``)."""
    return {
        "chain": entry.chain,
        "seq": entry.seq,
        "recorded_at": chain.format_time(entry.recorded_at),
        "tag": entry.tag,
        "account_id": entry.account_id,
        "user_id": entry.user_id,
        "google_account": entry.google_account,
        "kind": entry.kind,
        "purpose": entry.purpose,
        "trigger": entry.trigger,
        "actor": entry.actor,
        "outcome": entry.outcome,
        "destination": entry.destination,
        "method": entry.method,
        "records": entry.records,
        "categories": json.loads(entry.categories),
        "detail": json.loads(entry.detail),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def record(
    session: Session,
    flow: Flow,
    *,
    now: datetime | None = None,
    pseudonymizer: Pseudonymizer | None = None,
) -> LedgerEntry:
    """Append ``flow`` to its account's chain in the caller's transaction; the caller commits.

    Raises ``ValueError`` for a flow that would put something sensitive or malformed in the
    ledger, before anything is written.
    """
    _check_flow(flow)
    detail = _check_detail(flow.detail)
    pseudonyms = pseudonymizer or _default_pseudonymizer()
    chain_name = chain.chain_key(flow.account_id)
    moment = (now or utcnow()).astimezone(UTC)
    # Stored and hashed at the same (microsecond) precision every backend keeps.
    moment = chain.parse_time(chain.format_time(moment))
    head = _lock_head(session, chain_name)
    entry = LedgerEntry(
        chain=chain_name,
        seq=head.seq + 1,
        recorded_at=moment,
        tag=flow.tag.value,
        account_id=flow.account_id,
        user_id=flow.user_id,
        google_account=pseudonyms.google_account(flow.google_account) if flow.google_account else None,
        kind=flow.kind.value,
        purpose=flow.purpose.value,
        trigger=flow.trigger.value,
        actor=flow.actor,
        outcome=flow.outcome,
        destination=flow.destination.value,
        method=flow.method,
        records=flow.records,
        categories=json.dumps(sorted(c.value for c in flow.categories), separators=(",", ":")),
        detail=chain.canonical(detail).decode("utf-8"),
        prev_hash=head.hash,
        hash="",
    )
    fields = entry_fields(entry)
    entry.hash = chain.entry_hash(fields)
    head.seq = entry.seq
    head.hash = entry.hash
    session.add(entry)
    session.flush()
    return entry
