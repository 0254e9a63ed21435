"""Verification of the whole ledger (in the database) and of an evidence pack (offline, no database).

Both run :mod:`app.ledger.standalone_verify` (the ``verify.py`` shipped in every pack) over
plain dicts: every chain recomputed from its anchor, gapless sequences, every checkpoint's
Ed25519 signature, every checkpointed head still present with the same hash, and which
entries a checkpoint from a trusted key covers. The whole ledger is also checked for request
pairing: every Google request's outcome must follow its write-ahead entry, and requests whose
outcome was never recorded (the process ended while Google was answering) are listed.

Trust comes only from the person verifying (``--public-key`` or ``--key-id``): keys stored in
the database or carried in a pack are used to check signatures, never to vouch for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.db import DbSession
from app.ledger import chain
from app.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerSigningKey
from app.ledger.services import checkpoint_fields, entry_fields
from app.ledger.signing import SigningKeyError
from app.ledger.standalone_verify import (
    CHECKPOINT_SIGNED_FIELDS,
    PackError,
    Problem,
    PublicKey,
    Report,
    RequestPairing,
    Trust,
    Verdict,
    mismatch_problems,
    pair_requests,
    verify_pack,
    verify_records,
)

__all__ = [
    "CHECKPOINT_SIGNED_FIELDS",
    "PURGE_GRACE",
    "PackError",
    "Report",
    "RequestPairing",
    "Trust",
    "Verdict",
    "VerificationReport",
    "pair_requests",
    "verify_database",
    "verify_pack",
    "verify_records",
]

VerificationReport = Report

PURGE_GRACE = timedelta(hours=1)
"""How long after a retention cutoff an outcome may still lose its (purged) started entry: far
longer than any one request, pacing wait included."""


def _check_pairing(entries: Iterable[Mapping[str, Any]], report: Report) -> None:
    everything = list(entries)
    pairing = pair_requests(everything)
    cutoffs = [str(e["detail"]["cutoff"]) for e in everything if e["tag"] == "retention.purged"]
    purged_until = chain.format_time(chain.parse_time(max(cutoffs)) + PURGE_GRACE) if cutoffs else ""
    recorded_at = {(str(e["chain"]), int(e["seq"])): str(e["recorded_at"]) for e in everything}
    for name, seq in pairing.orphaned:
        if recorded_at[(name, seq)] >= purged_until:
            report.problems.append(
                Problem(name, seq, "Google request outcome without its write-ahead entry (entry removed)")
            )
    report.problems.extend(mismatch_problems(pairing))
    if pairing.unfinished:
        shown = ", ".join(f"{name} seq {seq}" for name, seq in pairing.unfinished[:10])
        more = f" and {len(pairing.unfinished) - 10} more" if len(pairing.unfinished) > 10 else ""
        report.warnings.append(
            f"{len(pairing.unfinished)} Google request(s) started without a recorded outcome "
            f"(the process ended while Google was answering): {shown}{more}"
        )


def verify_database(session: DbSession, trust: Trust | None = None) -> Report:
    """Verify every chain in the database; only ``trust`` (the verifier's own keys) can make it verified.

    Heads and checkpoints are read before the entries: a writer appending meanwhile only adds
    entries beyond them, so a live ledger verifies without stopping the app (the entries
    after the newest checkpoint leave it at "integrity only" until the next checkpoint).
    """
    trust = trust or Trust()
    # Rows already in the session may be stale; verification must read what is stored now.
    fresh = {"populate_existing": True}
    heads = [
        (head.chain, head.seq, head.hash)
        for head in session.scalars(select(LedgerHead).order_by(LedgerHead.chain).execution_options(**fresh))
    ]
    checkpoints = [
        checkpoint_fields(c) for c in session.scalars(select(LedgerCheckpoint).execution_options(**fresh))
    ]
    entries: dict[str, list[Mapping[str, Any]]] = {}
    ordered = select(LedgerEntry).order_by(LedgerEntry.chain, LedgerEntry.seq).execution_options(**fresh)
    for entry in session.scalars(ordered):
        entries.setdefault(entry.chain, []).append(entry_fields(entry))
    keys: dict[str, PublicKey] = {}
    for row in session.scalars(select(LedgerSigningKey)):
        try:
            key = PublicKey.from_pem(row.public_pem.encode())
        except ValueError as exc:
            raise SigningKeyError(f"stored ledger key {row.key_id}: {exc}") from exc
        keys[key.key_id] = key
    keys.update({key.key_id: key for key in trust.keys})
    report = verify_records(entries, checkpoints, keys, trust.ids())
    report.subject = "database ledger"
    _check_pairing((entry for rows in entries.values() for entry in rows), report)
    for chain_name, seq, head_hash in heads:
        stored = {row["seq"]: row["hash"] for row in entries.get(chain_name, [])}
        if seq == 0 or stored.get(seq) == head_hash:
            continue
        if seq in stored:
            what = f"chain head's hash differs from the stored entry at seq {seq} (entry rewritten)"
        else:
            found = f"seq {max(stored)}" if stored else "no entries"
            what = f"chain head says seq {seq} but the chain ends at {found} (newest entries removed)"
        report.problems.append(Problem(chain_name, seq, what))
    if trust.anchored:
        for result in report.chains:
            if result.problem is None and result.entries and result.chain not in report.covered:
                what = "no checkpoint signed by a trusted key covers any of this chain"
                report.problems.append(Problem(result.chain, None, what))
    return report
