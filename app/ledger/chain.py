"""The hash chain itself: canonical form of an entry, its hash, and verification of a chain.

Pure functions over plain dicts, so the same code verifies the live database and an
evidence pack on a machine with no database at all.

An entry's hash is SHA-256 over the canonical JSON of every recorded field *including* the
previous entry's hash, so changing, removing, reordering or inserting any entry breaks every
hash after it. A chain starts at :data:`GENESIS`; after a retention purge it starts at the
anchor (the last purged hash) that the purge entry records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.ledger.events import EventTag

GENESIS = "0" * 64
INSTALLATION_CHAIN = "installation"

HASHED_FIELDS = (
    "chain",
    "seq",
    "recorded_at",
    "tag",
    "account_id",
    "user_id",
    "google_account",
    "kind",
    "purpose",
    "trigger",
    "actor",
    "outcome",
    "destination",
    "method",
    "records",
    "categories",
    "detail",
    "prev_hash",
)
"""Every field an entry's hash covers; an exported entry is these plus ``hash``."""


def chain_key(account_id: int | None) -> str:
    return INSTALLATION_CHAIN if account_id is None else f"account:{account_id}"


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, so the canonical form never depends on how a backend prints times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    missing = [name for name in HASHED_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"ledger entry lacks fields {', '.join(missing)}")
    return hashlib.sha256(canonical({name: fields[name] for name in HASHED_FIELDS})).hexdigest()


def keyed_hash(key: bytes, value: str) -> str:
    """Pseudonymous but linkable: equal inputs match, and without the key no one can test a guess."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a chain, named precisely enough to find the row."""

    chain: str
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"chain {self.chain}" + (f" seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.what}"


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    first_seq: int | None
    head_seq: int
    head_hash: str
    problem: Problem | None


def verify_chain(chain: str, entries: Sequence[Mapping[str, Any]], *, partial: bool = False) -> ChainReport:
    """Check one chain's entries, given in storage order (by ``seq``), and stop at the first fault.

    ``partial`` is for a slice (an evidence pack): its first entry may start anywhere, and
    its ``prev_hash`` is taken as given; checkpoints are what anchor it.
    """

    def report(problem: Problem | None, head_seq: int, head_hash: str) -> ChainReport:
        first = int(entries[0]["seq"]) if entries else None
        return ChainReport(chain, len(entries), first, head_seq, head_hash, problem)

    if not entries:
        return report(None, 0, GENESIS)
    first_seq = int(entries[0]["seq"])
    if first_seq == 1:
        expected_prev: str | None = GENESIS
    elif partial:
        expected_prev = str(entries[0].get("prev_hash"))
    else:
        expected_prev = _purge_anchor(entries, first_seq - 1)
    if expected_prev is None:
        what = f"chain starts at seq {first_seq} but no purge entry covers seq 1..{first_seq - 1}"
        return report(Problem(chain, first_seq, what), 0, GENESIS)
    expected_seq = first_seq
    previous_hash = expected_prev
    for entry in entries:
        seq = int(entry["seq"])
        if entry.get("chain") != chain:
            what = f"entry claims chain {entry.get('chain')!r}"
            return report(Problem(chain, seq, what), expected_seq - 1, previous_hash)
        if seq != expected_seq:
            what = f"sequence gap: expected seq {expected_seq}, found {seq}"
            return report(Problem(chain, expected_seq, what), expected_seq - 1, previous_hash)
        if entry.get("prev_hash") != previous_hash:
            what = "prev_hash does not match the previous entry's hash (entry removed, inserted or reordered)"
            return report(Problem(chain, seq, what), seq - 1, previous_hash)
        try:
            recomputed = entry_hash(entry)
        except ValueError as exc:
            return report(Problem(chain, seq, str(exc)), seq - 1, previous_hash)
        if recomputed != entry.get("hash"):
            what = "content does not match its hash (entry edited)"
            return report(Problem(chain, seq, what), seq - 1, previous_hash)
        previous_hash = recomputed
        expected_seq += 1
    return report(None, expected_seq - 1, previous_hash)


def _purge_anchor(entries: Sequence[Mapping[str, Any]], through_seq: int) -> str | None:
    """The anchor hash a purge entry of this chain recorded for exactly ``1..through_seq``."""
    for entry in reversed(entries):
        detail = entry.get("detail") or {}
        if (
            entry.get("tag") == EventTag.RETENTION_PURGED.value
            and detail.get("purged_through_seq") == through_seq
        ):
            anchor = detail.get("anchor_hash")
            return anchor if isinstance(anchor, str) else None
    return None


def check_checkpoint(
    checkpoint: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *, partial: bool = False
) -> Problem | None:
    """A checkpoint's head must still be in its (verified, gapless) chain: same hash at the same seq.

    Checkpoints older than the chain's first entry were purged by retention (or, for a slice,
    lie before it); for a slice, later ones lie after it.
    """
    chain = str(checkpoint["chain"])
    seq = int(checkpoint["seq"])
    if not rows:
        return Problem(chain, seq, "checkpoint names a chain with no entries (chain deleted)")
    first_seq = int(rows[0]["seq"])
    last_seq = int(rows[-1]["seq"])
    if seq < first_seq - 1 or (partial and seq > last_seq):
        return None
    if seq > last_seq:
        return Problem(
            chain, seq, f"checkpoint at seq {seq} but the chain ends at seq {last_seq} (entries removed)"
        )
    actual = rows[0].get("prev_hash") if seq == first_seq - 1 else rows[seq - first_seq].get("hash")
    if actual != checkpoint.get("head_hash"):
        return Problem(chain, seq, "checkpointed head hash differs from the stored entry (history rewritten)")
    return None


def group_by_chain(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    chains: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        chains.setdefault(str(entry["chain"]), []).append(entry)
    for rows in chains.values():
        rows.sort(key=lambda row: int(row["seq"]))
    return chains
