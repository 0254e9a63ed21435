"""Verification of the whole ledger (in the database) and of an evidence pack (offline, no database).

Both paths feed plain dicts to the same checks: every chain recomputed from its anchor,
gapless sequences, every checkpoint's Ed25519 signature, and every checkpointed head still
present with the same hash. The whole ledger is also checked for request pairing: every
Google request's outcome must follow its write-ahead entry, and requests whose outcome was
never recorded (the process ended while Google was answering) are listed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from app.ledger import chain
from app.ledger.chain import ChainReport, Problem
from app.ledger.events import EventTag
from app.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerSigningKey
from app.ledger.services import REQUEST_ID, DbSession, checkpoint_fields, entry_fields
from app.ledger.signing import SigningKeyError, key_id, load_public_key, signature_valid

CHECKPOINT_SIGNED_FIELDS = ("chain", "seq", "head_hash", "created_at", "key_id")


@dataclass
class VerificationReport:
    chains: list[ChainReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    checkpoints: int = 0
    key_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [str(p) for p in self.problems],
            "warnings": self.warnings,
            "checkpoints_checked": self.checkpoints,
            "trusted_key_ids": self.key_ids,
            "chains": [
                {
                    "chain": r.chain,
                    "entries": r.entries,
                    "first_seq": r.first_seq,
                    "head_seq": r.head_seq,
                    "head_hash": r.head_hash,
                }
                for r in self.chains
            ],
        }

    def lines(self) -> list[str]:
        entries = sum(r.entries for r in self.chains)
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"ledger verification {verdict}: {len(self.chains)} chains, {entries} entries, "]
        lines[0] += f"{self.checkpoints} checkpoints; trusted keys: {', '.join(self.key_ids) or 'none'}"
        lines += [f"PROBLEM {p}" for p in self.problems]
        lines += [f"warning: {w}" for w in self.warnings]
        return lines


PURGE_GRACE = timedelta(hours=1)
"""How long after a retention cutoff an outcome may still lose its (purged) started entry: far
longer than any one request, pacing wait included."""


@dataclass(frozen=True)
class RequestPairing:
    """How the ledger's Google request entries pair up, by their ``request_id``."""

    unfinished: list[tuple[str, int]]
    """Started entries (chain, seq) without an outcome: Google may have received the request."""
    orphaned: list[tuple[str, int]]
    """Outcome entries (chain, seq) without a started entry."""
    mismatched: list[tuple[str, int]]
    """Outcome entries whose method differs from their started entry's, or that precede it."""


def pair_requests(entries: Iterable[Mapping[str, Any]]) -> RequestPairing:
    """Pair ``google.request_started`` and ``google.request`` entries (exported form) across chains."""
    started: dict[str, Mapping[str, Any]] = {}
    outcomes: list[Mapping[str, Any]] = []
    for entry in entries:
        if entry["tag"] == EventTag.GOOGLE_REQUEST_STARTED:
            started[str(entry["detail"].get(REQUEST_ID))] = entry
        elif entry["tag"] == EventTag.GOOGLE_REQUEST:
            outcomes.append(entry)
    orphaned: list[tuple[str, int]] = []
    mismatched: list[tuple[str, int]] = []
    for outcome in outcomes:
        where = (str(outcome["chain"]), int(outcome["seq"]))
        start = started.pop(str(outcome["detail"].get(REQUEST_ID)), None)
        if start is None:
            orphaned.append(where)
        elif start["method"] != outcome["method"] or start["recorded_at"] > outcome["recorded_at"]:
            mismatched.append(where)
    unfinished = sorted((str(e["chain"]), int(e["seq"])) for e in started.values())
    return RequestPairing(unfinished, orphaned, mismatched)


def _mismatches(pairing: RequestPairing) -> list[Problem]:
    what = "Google request outcome does not match its write-ahead entry"
    return [Problem(name, seq, what) for name, seq in pairing.mismatched]


def _check_pairing(entries: Mapping[str, Sequence[Mapping[str, Any]]], report: VerificationReport) -> None:
    everything = [entry for rows in entries.values() for entry in rows]
    pairing = pair_requests(everything)
    cutoffs = [str(e["detail"]["cutoff"]) for e in everything if e["tag"] == EventTag.RETENTION_PURGED]
    purged_until = chain.format_time(chain.parse_time(max(cutoffs)) + PURGE_GRACE) if cutoffs else ""
    recorded_at = {(str(e["chain"]), int(e["seq"])): str(e["recorded_at"]) for e in everything}
    for name, seq in pairing.orphaned:
        if recorded_at[(name, seq)] >= purged_until:
            report.problems.append(
                Problem(name, seq, "Google request outcome without its write-ahead entry (entry removed)")
            )
    report.problems.extend(_mismatches(pairing))
    if pairing.unfinished:
        shown = ", ".join(f"{name} seq {seq}" for name, seq in pairing.unfinished[:10])
        more = f" and {len(pairing.unfinished) - 10} more" if len(pairing.unfinished) > 10 else ""
        report.warnings.append(
            f"{len(pairing.unfinished)} Google request(s) started without a recorded outcome "
            f"(the process ended while Google was answering): {shown}{more}"
        )


def _check_slice_pairing(
    entries: Mapping[str, Sequence[Mapping[str, Any]]], report: VerificationReport
) -> None:
    """Pairing within a pack: a slice may cut a pair at its edges, so only a contradiction is a problem."""
    pairing = pair_requests(entry for rows in entries.values() for entry in rows)
    report.problems.extend(_mismatches(pairing))
    if pairing.unfinished:
        report.warnings.append(
            f"{len(pairing.unfinished)} Google request(s) started in this pack have no outcome in it "
            "(recorded after the slice ends, or the process ended while Google was answering)"
        )
    if pairing.orphaned:
        report.warnings.append(
            f"{len(pairing.orphaned)} Google request outcome(s) in this pack have their write-ahead entry "
            "outside it (before the slice starts, or a sign-in's, which starts on the installation chain)"
        )


def verify_records(
    entries: Mapping[str, Sequence[Mapping[str, Any]]],
    checkpoints: Sequence[Mapping[str, Any]],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    partial: bool = False,
) -> VerificationReport:
    report = VerificationReport(key_ids=sorted(keys), checkpoints=len(checkpoints))
    by_chain: dict[str, ChainReport] = {}
    for name in sorted(entries):
        result = chain.verify_chain(name, entries[name], partial=partial)
        by_chain[name] = result
        report.chains.append(result)
        if result.problem is not None:
            report.problems.append(result.problem)
    covered: dict[str, int] = {}
    for checkpoint in sorted(checkpoints, key=lambda c: (str(c["chain"]), int(c["seq"]))):
        name, seq = str(checkpoint["chain"]), int(checkpoint["seq"])
        key = keys.get(str(checkpoint.get("key_id")))
        if key is None:
            report.problems.append(Problem(name, seq, "checkpoint signed by a key that is not trusted"))
            continue
        payload = {f: checkpoint.get(f) for f in CHECKPOINT_SIGNED_FIELDS}
        if not signature_valid(key, payload, str(checkpoint.get("signature", ""))):
            report.problems.append(Problem(name, seq, "checkpoint signature is invalid (checkpoint altered)"))
            continue
        own = by_chain.get(name)
        if own is not None and own.problem is not None:
            continue  # The chain's own first fault is already named.
        problem = chain.check_checkpoint(checkpoint, entries.get(name, ()), partial=partial)
        if problem is not None:
            report.problems.append(problem)
        elif own is not None and seq <= own.head_seq:
            covered[name] = max(covered.get(name, 0), seq)
    for result in report.chains:
        if result.problem is None and result.head_seq > covered.get(result.chain, 0):
            start = max(covered.get(result.chain, 0) + 1, result.first_seq or 1)
            report.warnings.append(
                f"chain {result.chain} seq {start}..{result.head_seq} has no signed checkpoint yet"
            )
    if partial:
        _check_slice_pairing(entries, report)
    else:
        _check_pairing(entries, report)
    return report


def verify_database(session: DbSession, pinned: Ed25519PublicKey | None = None) -> VerificationReport:
    """Verify every chain in the database; ``pinned`` limits trust to one known public key.

    Heads and checkpoints are read before the entries: a writer appending meanwhile only adds
    entries beyond them, so a live ledger verifies without stopping the app.
    """
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
    if pinned is not None:
        keys = {key_id(pinned): pinned}
    else:
        keys = {
            row.key_id: load_public_key(row.public_pem.encode())
            for row in session.scalars(select(LedgerSigningKey))
        }
    report = verify_records(entries, checkpoints, keys)
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
    return report


class PackError(Exception):
    """The file is not a readable evidence pack."""


def verify_pack(path: Path, pinned: Ed25519PublicKey | None = None) -> VerificationReport:
    """Verify an evidence pack offline: file hashes, manifest signature, chain slice, checkpoints."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackError(f"{path} is not a readable zip file: {exc}") from exc
    with archive:
        names = set(archive.namelist())
        if "manifest.json" not in names:
            raise PackError(f"{path} has no manifest.json: not an evidence pack")
        manifest_bytes = archive.read("manifest.json")
        try:
            manifest = json.loads(manifest_bytes)
        except json.JSONDecodeError as exc:
            raise PackError(f"manifest.json is not JSON ({exc.msg})") from exc
        if not isinstance(manifest, dict):
            raise PackError("manifest.json is not a JSON object")
        problems: list[Problem] = []
        warnings: list[str] = []
        listed: Mapping[str, str] = manifest.get("files", {})
        for name, digest in sorted(listed.items()):
            if name not in names:
                problems.append(Problem("pack", None, f"{name} is listed in the manifest but missing"))
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(
                    Problem("pack", None, f"{name} does not match its hash in the manifest (altered)")
                )
        for name in sorted(names - set(listed) - {"manifest.json", "manifest.sig"}):
            problems.append(Problem("pack", None, f"{name} is not listed in the manifest (added)"))
        keys = _pack_keys(archive, names, pinned, problems)
        if "manifest.sig" in names:
            signed = json.loads(archive.read("manifest.sig"))
            key = keys.get(str(signed.get("key_id")))
            manifest_payload = {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
            if key is None or not signature_valid(key, manifest_payload, str(signed.get("signature", ""))):
                problems.append(Problem("pack", None, "manifest signature is invalid or by an untrusted key"))
        else:
            warnings.append(
                "manifest is unsigned: files other than the ledger rest on the manifest hashes only"
            )
        entries = chain.group_by_chain(_json_lines(archive, "ledger.ndjson", names))
        checkpoints = _json_lines(archive, "checkpoints.jsonl", names)
    report = verify_records(entries, checkpoints, keys, partial=True)
    declared = manifest.get("slice", {})
    for name, rows in entries.items():
        expected = declared.get(name)
        actual = [int(rows[0]["seq"]), int(rows[-1]["seq"])]
        if expected != actual:
            report.problems.append(
                Problem(name, None, f"slice covers seq {actual}, manifest declares {expected}")
            )
    for name in sorted(set(declared) - set(entries)):
        report.problems.append(
            Problem(name, None, "manifest declares entries that the pack does not contain")
        )
    report.problems[:0] = problems
    report.warnings[:0] = warnings
    return report


def _pack_keys(
    archive: zipfile.ZipFile, names: set[str], pinned: Ed25519PublicKey | None, problems: list[Problem]
) -> dict[str, Ed25519PublicKey]:
    if pinned is not None:
        return {key_id(pinned): pinned}
    keys: dict[str, Ed25519PublicKey] = {}
    for name in sorted(n for n in names if n.startswith("public-keys/")):
        try:
            key = load_public_key(archive.read(name))
        except SigningKeyError as exc:
            problems.append(Problem("pack", None, f"{name}: {exc}"))
            continue
        keys[key_id(key)] = key
    return keys


def _json_lines(archive: zipfile.ZipFile, name: str, names: set[str]) -> list[Mapping[str, Any]]:
    if name not in names:
        raise PackError(f"the pack has no {name}")
    try:
        text = archive.read(name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackError(f"{name} is not UTF-8 text") from exc
    rows: list[Mapping[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PackError(f"{name} line {number}: not JSON ({exc.msg})") from exc
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("chain"), str)
            or not isinstance(row.get("seq"), int)
        ):
            raise PackError(f"{name} line {number}: not an object with a text chain and a whole-number seq")
        rows.append(row)
    return rows
