"""The account audit log: who did what to an account's administration, hash-chained per account.

It is kept apart from the Google-data ledger (own tables, chain ``audit:<account id>``) but
chained the same way: each entry is mapped onto the ledger's hashed fields and hashed by
:func:`app.ledger.chain.entry_hash`, so :func:`app.ledger.chain.verify_chain` checks it with
the very code that checks the ledger. The fields that mean nothing here carry fixed values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import DbSession, utcnow
from app.ledger import chain
from app.ledger.chain import ChainReport
from app.security.models import AuditEntry, AuditHead

AUDIT_KIND = "administration"
"""The fixed ``kind`` (and ``purpose``) of every audit entry in its hashed form."""

_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ACTOR = re.compile(r"system|operator|user:\d+")


class AuditAction(StrEnum):
    MEMBER_INVITED = "member.invited"
    INVITATION_WITHDRAWN = "member.invitation_withdrawn"
    ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    LIST_ACCESS_GRANTED = "list.access_granted"
    LIST_ACCESS_WITHDRAWN = "list.access_withdrawn"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    POLICY_CHANGED = "security.policy_changed"
    FACTOR_ENROLLED = "security.factor_enrolled"
    FACTOR_REMOVED = "security.factor_removed"
    FACTOR_RESET = "security.factor_reset_by_admin"
    RECOVERY_CODE_USED = "security.recovery_code_used"
    RECOVERY_CODES_RENEWED = "security.recovery_codes_renewed"
    SIGN_IN_REFUSED = "security.second_factor_refused"
    SESSIONS_ENDED = "security.sessions_ended"
    ACCESS_RULES_CHANGED = "security.access_rules_changed"
    ACCESS_REFUSED = "security.access_refused"
    DATA_REQUEST_RECEIVED = "data_request.received"
    DATA_REQUEST_VERIFIED = "data_request.verified"
    DATA_REQUEST_VIEWED = "data_request.viewed"
    DATA_REQUEST_FULFILLED = "data_request.fulfilled"
    DATA_REQUEST_REJECTED = "data_request.rejected"
    DATA_REQUEST_REMINDED = "data_request.reminded"
    DATA_REQUEST_OVERDUE = "data_request.overdue"
    ACCOUNT_INACTIVITY_WARNED = "account.inactivity_warned"
    ACCOUNT_FROZEN = "account.frozen"
    ACCOUNT_UNFROZEN = "account.unfrozen"
    ACCOUNT_DELETED_INACTIVE = "account.deleted_for_inactivity"
    ACCOUNT_COPY_DESTROYED = "account.copy_destroyed"
    ACCOUNT_RESTORED = "account.restored"


Detail = Mapping[str, str | int | bool | None]
AuditStep = Callable[[Session], None]
"""Writes an audit entry inside another domain's transaction (see :func:`step`)."""


def chain_name(account_id: int) -> str:
    return f"audit:{account_id}"


def actor_of(user_id: int | None) -> str:
    return "system" if user_id is None else f"user:{user_id}"


def hashed_form(entry: AuditEntry) -> dict[str, object]:
    """The entry as the ledger's chain code hashes it (plus ``hash``)."""
    return {
        "chain": entry.chain,
        "seq": entry.seq,
        "recorded_at": chain.format_time(entry.recorded_at),
        "tag": entry.action,
        "account_id": entry.account_id,
        "user_id": entry.actor_user_id,
        "google_account": None,
        "kind": AUDIT_KIND,
        "purpose": AUDIT_KIND,
        "trigger": "user_action" if entry.actor.startswith("user:") else entry.actor,
        "actor": entry.actor,
        "outcome": entry.outcome,
        "destination": "groupsync",
        "method": None,
        "records": 0,
        "categories": [],
        "detail": json.loads(entry.detail),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _check_detail(detail: Detail) -> dict[str, str | int | bool | None]:
    checked: dict[str, str | int | bool | None] = {}
    for key, value in detail.items():
        if not _DETAIL_KEY.fullmatch(key):
            raise ValueError(f"audit detail key {key!r} must be lower_snake_case, at most 40 characters")
        if isinstance(value, str) and len(value) > 300:
            raise ValueError(f"audit detail {key!r} is longer than 300 characters")
        if value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"audit detail {key!r} must be text, a whole number, a boolean or empty")
        checked[key] = value
    return checked


def _lock_head(session: DbSession, name: str) -> AuditHead:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(AuditHead)
        .values(chain=name, seq=0, hash=chain.GENESIS)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    return session.scalars(
        select(AuditHead)
        .where(AuditHead.chain == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def record(
    session: DbSession,
    account_id: int,
    action: AuditAction,
    *,
    actor_user_id: int | None,
    actor: str | None = None,
    outcome: str = "ok",
    detail: Detail | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry to the account's audit chain in the caller's transaction; the caller commits."""
    who = actor or actor_of(actor_user_id)
    if not _ACTOR.fullmatch(who):
        raise ValueError(f"audit actor must be 'system', 'operator' or 'user:<id>' (got {who!r})")
    if not outcome or len(outcome) > 60:
        raise ValueError("audit outcome must be 1 to 60 characters")
    checked = _check_detail(detail or {})
    moment = chain.parse_time(chain.format_time((now or utcnow()).astimezone(UTC)))
    name = chain_name(account_id)
    head = _lock_head(session, name)
    entry = AuditEntry(
        chain=name,
        seq=head.seq + 1,
        recorded_at=moment,
        account_id=account_id,
        actor_user_id=actor_user_id,
        actor=who,
        action=action.value,
        outcome=outcome,
        detail=chain.canonical(checked).decode("utf-8"),
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = chain.entry_hash(hashed_form(entry))
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


def step(
    account_id: int, action: AuditAction, *, actor_user_id: int | None, detail: Detail | None = None
) -> AuditStep:
    """An entry to write inside a domain service's transaction: the change and its record commit together."""

    def write(session: Session) -> None:
        record(session, account_id, action, actor_user_id=actor_user_id, detail=detail)

    return write


def entries_of(session: DbSession, account_id: int, *, limit: int = 200) -> list[AuditEntry]:
    """The account's newest entries first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.chain == chain_name(account_id))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class AuditVerification:
    chains: list[ChainReport]

    @property
    def ok(self) -> bool:
        return all(report.problem is None for report in self.chains)

    def lines(self) -> list[str]:
        entries = sum(report.entries for report in self.chains)
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"account audit log verification {verdict}: {len(self.chains)} chains, {entries} entries"]
        lines += [f"PROBLEM {report.problem}" for report in self.chains if report.problem is not None]
        return lines


def verify_audit(session: DbSession) -> AuditVerification:
    """Recompute every account's audit chain and compare it with its head row."""
    rows = [hashed_form(entry) for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    grouped = chain.group_by_chain(rows)
    heads = {head.chain: head for head in session.scalars(select(AuditHead))}
    reports: list[ChainReport] = []
    for name in sorted(set(grouped) | set(heads)):
        report = chain.verify_chain(name, grouped.get(name, []))
        head = heads.get(name)
        if (
            report.problem is None
            and head is not None
            and (head.seq, head.hash)
            != (
                report.head_seq,
                report.head_hash,
            )
        ):
            what = f"head row says seq {head.seq}, the chain ends at seq {report.head_seq} (entries removed)"
            report = ChainReport(
                name,
                report.entries,
                report.first_seq,
                report.head_seq,
                report.head_hash,
                chain.Problem(name, head.seq, what),
            )
        reports.append(report)
    return AuditVerification(reports)


def detail_items(entry: AuditEntry) -> list[tuple[str, object]]:
    """The entry's detail as sorted (name, value) pairs for display."""
    detail = json.loads(entry.detail)
    return sorted(detail.items()) if isinstance(detail, dict) else []
