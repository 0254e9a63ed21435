"""The hash chain itself: canonical form of an entry, its hash, and verification of a chain.

The pure parts live in :mod:`app.ledger.standalone_verify`, the single file every evidence
pack ships as ``verify.py``, so GroupSync and a stranger check a ledger with the same code.
This module adds what only GroupSync needs: chain names, time formatting, keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from app.ledger.standalone_verify import (
    GENESIS,
    HASHED_FIELDS,
    INSTALLATION_CHAIN,
    ChainReport,
    Problem,
    canonical,
    check_checkpoint,
    entry_hash,
    group_by_chain,
    verify_chain,
)

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "INSTALLATION_CHAIN",
    "ChainReport",
    "Problem",
    "canonical",
    "chain_key",
    "check_checkpoint",
    "entry_hash",
    "format_time",
    "group_by_chain",
    "keyed_hash",
    "parse_time",
    "verify_chain",
]


def chain_key(account_id: int | None) -> str:
    return INSTALLATION_CHAIN if account_id is None else f"account:{account_id}"


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, so the canonical form never depends on how a backend prints times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def keyed_hash(key: bytes, value: str) -> str:
    """Pseudonymous but linkable: equal inputs match, and without the key no one can test a guess."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
