"""Writing to the ledger: one entry per flow, appended to its chain inside the caller's transaction
(Google requests: in the ledger's own, see :class:`GoogleRequestLedger`).

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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult

from app.config import Settings, current_settings
from app.db import DbSession, plain, unit_of_work, utcnow
from app.ledger import chain
from app.ledger.events import (
    Destination,
    EventTag,
    Flow,
    FlowKind,
    HumanViewReason,
    Purpose,
    Trigger,
)
from app.ledger.models import (
    LEDGER_MAINTENANCE_SETTING,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerSigningKey,
)
from app.ledger.signing import Signer, public_pem

"""A plain session or Flask-SQLAlchemy's ``db.session``: both work as the caller's transaction."""

_ACTOR = re.compile(r"system|user:\d+")
REQUEST_ID = "request_id"
"""The detail key pairing a Google request's started and outcome entries."""
_REQUEST_TAGS = frozenset({EventTag.GOOGLE_REQUEST, EventTag.GOOGLE_REQUEST_STARTED})
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
    return Pseudonymizer.from_settings(current_settings())


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
    if flow.tag in _REQUEST_TAGS and REQUEST_ID not in flow.detail:
        raise ValueError("Google requests are recorded through GoogleRequestLedger, ahead of sending")
    if not _ACTOR.fullmatch(flow.actor):
        raise ValueError(f"ledger actor must be 'system' or 'user:<id>' (got {flow.actor!r})")
    if not flow.outcome or len(flow.outcome) > 60:
        raise ValueError("ledger outcome must be 1 to 60 characters")
    if flow.records < 0:
        raise ValueError("ledger records must not be negative")
    if flow.method is not None and len(flow.method) > 120:
        raise ValueError("ledger method must be at most 120 characters")


_HEADS = cast(Table, LedgerHead.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
# Built once: a ledger entry is written twice per Google request, and building and caching a
# statement anew each time cost more than executing it.
_HEAD_INSERT = {
    name: insert_for(_HEADS)
    .values(chain=bindparam("h_chain"), seq=0, hash=chain.GENESIS)
    .on_conflict_do_nothing(index_elements=["chain"])
    for name, insert_for in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_HEAD_READ = (
    select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.chain == bindparam("h_chain")).with_for_update()
)
_HEAD_MOVE = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("h_chain"))
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"))
)
_ENTRY_INSERT = insert(_ENTRIES)


def _lock_head(session: DbSession | Connection, chain_name: str) -> tuple[int, str]:
    """The chain's head ``(seq, hash)``, its row locked until the caller's transaction ends."""
    bind = session if isinstance(session, Connection) else session.get_bind()
    session.execute(_HEAD_INSERT[bind.dialect.name], {"h_chain": chain_name})
    seq, last = session.execute(_HEAD_READ, {"h_chain": chain_name}).one()
    return int(seq), str(last)


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
    session: DbSession | Connection,
    flow: Flow,
    *,
    now: datetime | None = None,
    pseudonymizer: Pseudonymizer | None = None,
) -> LedgerEntry:
    """Append ``flow`` to its account's chain in the caller's transaction; the caller commits.

    Raises ``ValueError`` for a flow that would put something sensitive or malformed in the
    ledger, before anything is written. The entry and the head are written as plain statements,
    not through the session's unit of work; the returned entry (with its ``id``) is not attached
    to the session.
    """
    _check_flow(flow)
    detail = _check_detail(flow.detail)
    pseudonyms = pseudonymizer or _default_pseudonymizer()
    chain_name = chain.chain_key(flow.account_id)
    moment = (now or utcnow()).astimezone(UTC)
    # Stored and hashed at the same (microsecond) precision every backend keeps.
    moment = chain.parse_time(chain.format_time(moment))
    head_seq, head_hash = _lock_head(session, chain_name)
    entry = LedgerEntry(
        chain=chain_name,
        seq=head_seq + 1,
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
        prev_hash=head_hash,
        hash="",
    )
    entry.hash = chain.entry_hash(entry_fields(entry))
    values = {column.key: getattr(entry, column.key) for column in _ENTRIES.c if column.key != "id"}
    inserted = cast(CursorResult[Any], session.execute(_ENTRY_INSERT, values)).inserted_primary_key
    assert inserted is not None
    entry.id = int(inserted[0])
    session.execute(_HEAD_MOVE, {"h_chain": chain_name, "h_seq": entry.seq, "h_hash": entry.hash})
    return entry


def record_human_view(
    session: DbSession,
    *,
    account_id: int,
    viewer_user_id: int,
    reason: HumanViewReason,
    view: str,
    subject_user_id: int | None = None,
) -> LedgerEntry:
    """Record, and commit, that a person is about to read Google-derived data, and why."""
    with unit_of_work(session):
        return record(
            session,
            Flow(
                tag=EventTag.HUMAN_VIEW,
                account_id=account_id,
                kind=FlowKind.READ,
                purpose=_VIEW_PURPOSE[reason],
                trigger=Trigger.USER_ACTION,
                actor=f"user:{viewer_user_id}",
                outcome="shown",
                destination=Destination.GROUPSYNC_STORE,
                user_id=subject_user_id,
                detail={"reason": reason.value, "view": view},
            ),
        )


@dataclass(frozen=True)
class StartedRequest:
    """A request to Google whose write-ahead entry is committed."""

    request_id: str
    """Random; ties the ``google.request_started`` entry to the ``google.request`` entry of its outcome."""
    flow: Flow

    def ended(self, outcome: str, *, records: int | None = None) -> Flow:
        """The outcome entry's flow: the started flow with how the request ended."""
        return replace(self.flow, outcome=outcome, records=self.flow.records if records is None else records)


class UncommittedWorkError(RuntimeError):
    """A caller asked for a Google request while holding database writes it had not committed."""


class GoogleRequestLedger:
    """Write-ahead recording of requests to Google, on the ledger's own database session.

    :meth:`start` appends a ``google.request_started`` entry and commits it before the request
    is sent, so a process killed while the request is in flight still leaves it in the
    ledger; :meth:`finish` appends and commits the outcome. Both are written in a short
    transaction of their own on the caller's engine: the caller's session is never committed,
    flushed or expired here, and no ledger lock outlives the entry. A request started but never
    finished is therefore one whose outcome nobody saw (``ledger verify`` lists them).

    The caller's contract: hold no uncommitted database writes when calling Google — commit
    your own work (:func:`app.db.unit_of_work`) first. Held writes would keep a transaction open
    while Google answers, and on SQLite they hold the database's write lock, which the ledger's
    own connection then waits for; :meth:`start` refuses such a call with
    :class:`UncommittedWorkError` instead of waiting. Objects merely added to the session but not
    yet flushed are not writes yet and do not count.
    """

    def __init__(self, session: DbSession) -> None:
        self._caller = session
        bind = plain(session).get_bind()
        # Its own connections, also when the caller's session is bound to a connection of its own.
        self._engine = bind if isinstance(bind, Engine) else bind.engine

    def start(self, flow: Flow) -> StartedRequest:
        if flow.tag is not EventTag.GOOGLE_REQUEST:
            raise ValueError(f"only Google requests are recorded ahead (got {flow.tag.value})")
        self._check_caller(flow)
        started = StartedRequest(uuid.uuid4().hex, flow)
        detail = {**flow.detail, REQUEST_ID: started.request_id}
        self._write(replace(flow, tag=EventTag.GOOGLE_REQUEST_STARTED, outcome="started", detail=detail))
        return started

    def finish(self, started: StartedRequest, flow: Flow) -> LedgerEntry:
        """Record and commit ``flow`` (normally ``started.ended(...)``) as the request's outcome."""
        self._check_caller(flow)
        return self._write(replace(flow, detail={**flow.detail, REQUEST_ID: started.request_id}))

    def _check_caller(self, flow: Flow) -> None:
        if _holds_uncommitted_writes(self._caller):
            raise UncommittedWorkError(
                f"{flow.method or 'a Google request'}: commit the database work before calling Google"
                " or recording its outcome (the ledger writes on its own connection)"
            )

    def _write(self, flow: Flow) -> LedgerEntry:
        # A plain connection: a session's unit of work would only add bookkeeping to four statements.
        with self._engine.begin() as own:
            return record(own, flow)


def _holds_uncommitted_writes(session: DbSession) -> bool:
    """Whether ``session``'s transaction has written to the database (flushed, not committed)."""
    current = plain(session)
    if not current.in_transaction():
        return False
    connection = current.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # Python's sqlite3 opens a transaction only at the first write.
        return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))
    if dialect == "postgresql":
        # A transaction gets an id only when it writes.
        return connection.exec_driver_sql("SELECT txid_current_if_assigned() IS NOT NULL").scalar() is True
    return False


# Reading a user's data with their consent serves their sync; the other reasons are their own purposes.
_VIEW_PURPOSE = {
    HumanViewReason.USER_CONSENT: Purpose.CONTACT_SYNC,
    HumanViewReason.SECURITY: Purpose.SECURITY,
    HumanViewReason.LEGAL: Purpose.LEGAL,
}


def checkpoint_payload(checkpoint: LedgerCheckpoint) -> dict[str, object]:
    """What the signature covers."""
    return {
        "chain": checkpoint.chain,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": chain.format_time(checkpoint.created_at),
        "key_id": checkpoint.key_id,
    }


def checkpoint_fields(checkpoint: LedgerCheckpoint) -> dict[str, object]:
    return {**checkpoint_payload(checkpoint), "signature": checkpoint.signature}


def make_checkpoints(
    session: DbSession, signer: Signer, now: datetime | None = None
) -> list[LedgerCheckpoint]:
    """Sign the head of every chain that moved since this key last signed it, and commit.

    Safe to run from several schedulers at once: the unique (chain, seq, key) makes a
    second run a no-op for heads already signed.
    """
    with unit_of_work(session):
        moment = chain.parse_time(chain.format_time(now or utcnow()))
        if session.get(LedgerSigningKey, signer.key_id) is None:
            session.add(LedgerSigningKey(key_id=signer.key_id, public_pem=public_pem(signer.public_key)))
        signed = {
            (name, seq)
            for name, seq in session.execute(
                select(LedgerCheckpoint.chain, func.max(LedgerCheckpoint.seq))
                .where(LedgerCheckpoint.key_id == signer.key_id)
                .group_by(LedgerCheckpoint.chain)
            )
        }
        created: list[LedgerCheckpoint] = []
        for head in session.scalars(select(LedgerHead).where(LedgerHead.seq > 0).order_by(LedgerHead.chain)):
            if (head.chain, head.seq) in signed:
                continue
            checkpoint = LedgerCheckpoint(
                chain=head.chain, seq=head.seq, head_hash=head.hash, created_at=moment, key_id=signer.key_id
            )
            checkpoint.signature = signer.sign(checkpoint_payload(checkpoint))
            session.add(checkpoint)
            created.append(checkpoint)
    return created


def export_checkpoints(checkpoints: list[LedgerCheckpoint], signer: Signer, directory: Path) -> Path:
    """Write checkpoints as JSON lines (plus the public key) to storage outside the database."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / f"ledger-checkpoints-{stamp}.jsonl"
    lines = [chain.canonical(checkpoint_fields(c)).decode("utf-8") + "\n" for c in checkpoints]
    target.write_text("".join(lines), encoding="utf-8")
    (directory / f"ledger-public-key-{signer.key_id[:16]}.pem").write_text(
        public_pem(signer.public_key), encoding="ascii"
    )
    return target


@dataclass(frozen=True)
class PurgeResult:
    chain: str
    purged: int
    through_seq: int


def purge_ledger(
    session: DbSession, now: datetime, *, retention_days: int | None = None
) -> list[PurgeResult]:
    """Delete each chain's entries older than the retention period and record the purge; commits.

    A chain loses a prefix (everything up to its newest expired entry), and a
    ``retention.purged`` entry records the last purged hash as the chain's new anchor, so
    the remaining chain still verifies and a gap that no purge explains is still caught.
    """
    days = retention_days if retention_days is not None else current_settings().retention_ledger_days
    cutoff = now - timedelta(days=days)
    with unit_of_work(session):
        expired = session.execute(
            select(LedgerEntry.chain, func.max(LedgerEntry.seq))
            .where(LedgerEntry.recorded_at < cutoff)
            .group_by(LedgerEntry.chain)
            .order_by(LedgerEntry.chain)
        ).all()
        results: list[PurgeResult] = []
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL {LEDGER_MAINTENANCE_SETTING} = 'on'"))
        for chain_name, through_seq in expired:
            anchor = session.scalars(
                select(LedgerEntry.hash).where(
                    LedgerEntry.chain == chain_name, LedgerEntry.seq == through_seq
                )
            ).one()
            prefix = (LedgerEntry.chain == chain_name, LedgerEntry.seq <= through_seq)
            purged = session.scalar(select(func.count()).select_from(LedgerEntry).where(*prefix)) or 0
            session.execute(delete(LedgerEntry).where(*prefix))
            record(
                session,
                Flow(
                    tag=EventTag.RETENTION_PURGED,
                    account_id=_account_of(chain_name),
                    kind=FlowKind.LIFECYCLE,
                    purpose=Purpose.RETENTION,
                    trigger=Trigger.SCHEDULE,
                    actor="system",
                    outcome="purged",
                    destination=Destination.GROUPSYNC_STORE,
                    records=purged,
                    detail={
                        "purged_through_seq": through_seq,
                        "anchor_hash": anchor,
                        "cutoff": chain.format_time(cutoff),
                        "retention_days": days,
                    },
                ),
                now=now,
            )
            results.append(PurgeResult(chain_name, purged, through_seq))
    return results


def _account_of(chain_name: str) -> int | None:
    if chain_name == chain.INSTALLATION_CHAIN:
        return None
    return int(chain_name.removeprefix("account:"))
