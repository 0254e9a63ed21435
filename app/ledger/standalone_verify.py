"""Verify a GroupSync evidence pack without GroupSync.

This one file is shipped inside every evidence pack as ``verify.py``; FORMAT.md next to it
specifies everything it checks. It needs only Python 3.11+ and the ``cryptography`` package,
or, without that package, the ``openssl`` command (OpenSSL 3). It writes nothing.

    python verify.py PACK.zip --public-key groupsync-ledger.pem
    python verify.py PACK.zip --key-id 3f2a...   (the published key fingerprint)
    python verify.py PACK.zip --integrity-only   (no trusted key: accept an integrity check)

Verdicts, and the exit status:

* ``VERIFIED`` (0): nothing was changed, every entry is chained and covered by a checkpoint
  signed by a trusted key (one given on the command line), and so is the manifest.
* ``INTEGRITY ONLY`` (2, or 0 with ``--integrity-only``): the pack is internally consistent
  but no trusted key vouches for it. Anyone can build such a pack, so it proves nothing about
  where it came from.
* ``FAILED`` (1): something is wrong; each problem is named. With a trusted key, a missing
  or untrusted signature, or an entry no trusted checkpoint covers, is a failure.

GroupSync's own ``groupsync ledger verify`` runs this module too: there is one verifier.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
INSTALLATION_CHAIN = "installation"
PACK_FORMATS = ("groupsync-evidence-pack/1", "groupsync-evidence-pack/2")

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

CHECKPOINT_SIGNED_FIELDS = ("chain", "seq", "head_hash", "created_at", "key_id")
"""What a checkpoint's signature covers (its canonical JSON)."""

PURGE_TAG = "retention.purged"
REQUEST_STARTED_TAG = "google.request_started"
REQUEST_TAG = "google.request"
REQUEST_ID = "request_id"
"""The detail key pairing a Google request's started and outcome entries."""

_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
"""DER of an Ed25519 SubjectPublicKeyInfo up to the 32 raw key bytes (RFC 8410)."""
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----(.+?)-----END PUBLIC KEY-----", re.DOTALL)


def canonical(value: Mapping[str, Any]) -> bytes:
    """Keys sorted, no spaces, non-ASCII kept as UTF-8: the bytes every hash and signature covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    missing = [name for name in HASHED_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"ledger entry lacks fields {', '.join(missing)}")
    return hashlib.sha256(canonical({name: fields[name] for name in HASHED_FIELDS})).hexdigest()


# --- Keys and signatures ---------------------------------------------------------------------


class PublicKeyError(ValueError):
    """A public key file is not an Ed25519 public key in PEM."""


@dataclass(frozen=True)
class PublicKey:
    raw: bytes
    """The 32 bytes of the Ed25519 public key."""

    @property
    def key_id(self) -> str:
        """SHA-256 of the raw 32-byte key, in lower-case hex: the key's fingerprint."""
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        found = _PEM.search(pem)
        if found is None:
            raise PublicKeyError("not a PEM public key (no BEGIN PUBLIC KEY block)")
        try:
            der = base64.b64decode(b"".join(found.group(1).split()), validate=True)
        except binascii.Error as exc:
            raise PublicKeyError(f"PEM public key is not valid base64: {exc}") from exc
        if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
            raise PublicKeyError("the public key is not an Ed25519 key")
        return cls(der[len(_ED25519_SPKI_PREFIX) :])

    def pem(self) -> bytes:
        body = base64.b64encode(_ED25519_SPKI_PREFIX + self.raw)
        return b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n-----END PUBLIC KEY-----\n"

    def verifies(self, signature_b64: str, payload: Mapping[str, Any]) -> bool:
        """Whether ``signature_b64`` (base64 Ed25519) signs the canonical JSON of ``payload``."""
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(signature) != 64:
            return False
        return _ed25519_verify(self, signature, canonical(payload))


def _ed25519_verify(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return _openssl_verify(key, signature, message)
    try:
        Ed25519PublicKey.from_public_bytes(key.raw).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _openssl_verify(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """Fallback without ``cryptography``: OpenSSL 3's ``pkeyutl`` (temporary files, removed after)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("checking signatures needs the cryptography package or the openssl command")
    with tempfile.TemporaryDirectory(prefix="groupsync-verify-") as scratch:
        folder = Path(scratch)
        (folder / "key.pem").write_bytes(key.pem())
        (folder / "sig").write_bytes(signature)
        (folder / "msg").write_bytes(message)
        args = [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "key.pem",
            "-rawin",
            "-in",
            "msg",
            "-sigfile",
            "sig",
        ]
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [openssl, *args], cwd=folder, capture_output=True, check=False
        )
    return done.returncode == 0


# --- Chains ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong, named precisely enough to find the row."""

    chain: str
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = "pack" if self.chain == "pack" else f"chain {self.chain}"
        where += f" seq {self.seq}" if self.seq is not None else ""
        return f"{where}: {self.what}"


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    first_seq: int | None
    head_seq: int
    head_hash: str
    problem: Problem | None
    redacted: int = 0
    """Entries present only as (seq, prev_hash, hash): another account's installation entries."""


def verify_chain(chain: str, entries: Sequence[Mapping[str, Any]], *, partial: bool = False) -> ChainReport:
    """Check one chain's entries, given in order of ``seq``, and stop at the first fault.

    ``partial`` is for a slice (an evidence pack): its first entry may start anywhere, its
    ``prev_hash`` is taken as given (checkpoints anchor it), and on the installation chain an
    entry may be redacted to ``{"chain", "seq", "prev_hash", "hash", "redacted": true}``.
    """
    redacted = 0

    def report(problem: Problem | None, head_seq: int, head_hash: str) -> ChainReport:
        first = int(entries[0]["seq"]) if entries else None
        return ChainReport(chain, len(entries), first, head_seq, head_hash, problem, redacted)

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
        if entry.get("redacted") is True:
            if not (partial and chain == INSTALLATION_CHAIN):
                what = "redacted entry: only another account's installation entries may be redacted"
                return report(Problem(chain, seq, what), seq - 1, previous_hash)
            recomputed = str(entry.get("hash"))
            if not _HEX64.fullmatch(recomputed):
                return report(Problem(chain, seq, "redacted entry has no valid hash"), seq - 1, previous_hash)
            redacted += 1
        else:
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
        if entry.get("tag") == PURGE_TAG and detail.get("purged_through_seq") == through_seq:
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
        if partial:
            return None
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


@dataclass(frozen=True)
class RequestPairing:
    """How Google request entries pair up, by their ``request_id``."""

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
        if entry.get("tag") == REQUEST_STARTED_TAG:
            started[str(entry["detail"].get(REQUEST_ID))] = entry
        elif entry.get("tag") == REQUEST_TAG:
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


def check_slice_pairing(entries: Mapping[str, Sequence[Mapping[str, Any]]], report: Report) -> None:
    """Pairing within a pack: a slice may cut a pair at its edges, so only a contradiction is a problem."""
    pairing = pair_requests(e for rows in entries.values() for e in rows if e.get("redacted") is not True)
    report.problems.extend(mismatch_problems(pairing))
    if pairing.unfinished:
        report.warnings.append(
            f"{len(pairing.unfinished)} Google request(s) started in this pack have no outcome in it "
            "(recorded after the slice ends, or the process ended while Google was answering)"
        )
    if pairing.orphaned:
        report.warnings.append(
            f"{len(pairing.orphaned)} Google request outcome(s) in this pack have their write-ahead entry "
            "outside it (before the slice starts)"
        )


def mismatch_problems(pairing: RequestPairing) -> list[Problem]:
    what = "Google request outcome does not match its write-ahead entry"
    return [Problem(name, seq, what) for name, seq in pairing.mismatched]


# --- Verdicts --------------------------------------------------------------------------------


class Verdict(Enum):
    VERIFIED = "verified"
    INTEGRITY_ONLY = "integrity only"
    FAILED = "failed"


EXIT_VERIFIED = 0
EXIT_FAILED = 1
EXIT_INTEGRITY_ONLY = 2


@dataclass
class Report:
    """What verification found; :attr:`verdict` is the one thing to read."""

    chains: list[ChainReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checkpoints: int = 0
    key_ids: list[str] = field(default_factory=list)
    """Keys whose signatures were checked."""
    trusted_key_ids: list[str] = field(default_factory=list)
    """Keys the verifier was told to trust; empty means no trust anchor."""
    covered: dict[str, int] = field(default_factory=dict)
    """Per chain, the highest seq covered by a valid checkpoint from a trusted key."""
    subject: str = "ledger"

    @property
    def ok(self) -> bool:
        """No integrity problem (whether or not anything vouches for the data)."""
        return not self.problems

    @property
    def verdict(self) -> Verdict:
        if self.problems:
            return Verdict.FAILED
        if not self.trusted_key_ids or any(self.uncovered()):
            return Verdict.INTEGRITY_ONLY
        return Verdict.VERIFIED

    def uncovered(self) -> list[tuple[str, int, int]]:
        """(chain, first, last) of entries no trusted checkpoint covers."""
        gaps = []
        for result in self.chains:
            if result.entries == 0 or result.problem is not None:
                continue
            covered = self.covered.get(result.chain, 0)
            if covered < result.head_seq:
                gaps.append((result.chain, max(covered + 1, result.first_seq or 1), result.head_seq))
        return gaps

    def exit_code(self, *, accept_integrity_only: bool = False) -> int:
        verdict = self.verdict
        if verdict is Verdict.VERIFIED:
            return EXIT_VERIFIED
        if verdict is Verdict.INTEGRITY_ONLY:
            return EXIT_VERIFIED if accept_integrity_only else EXIT_INTEGRITY_ONLY
        return EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "ok": self.ok,
            "problems": [str(p) for p in self.problems],
            "warnings": self.warnings,
            "checkpoints_checked": self.checkpoints,
            "key_ids": self.key_ids,
            "trusted_key_ids": self.trusted_key_ids,
            "chains": [
                {
                    "chain": r.chain,
                    "entries": r.entries,
                    "redacted": r.redacted,
                    "first_seq": r.first_seq,
                    "head_seq": r.head_seq,
                    "head_hash": r.head_hash,
                    "covered_through_seq": self.covered.get(r.chain, 0),
                }
                for r in self.chains
            ],
        }

    def lines(self) -> list[str]:
        entries = sum(r.entries for r in self.chains)
        verdict = self.verdict.value.upper()
        trusted = ", ".join(self.trusted_key_ids) or "none given"
        lines = [
            f"{verdict}: {self.subject}: {len(self.chains)} chains, {entries} entries, "
            f"{self.checkpoints} checkpoints; trusted keys: {trusted}"
        ]
        lines += [f"PROBLEM {p}" for p in self.problems]
        if self.verdict is Verdict.INTEGRITY_ONLY:
            if not self.trusted_key_ids:
                lines.append(
                    "not trusted: no public key or key id was given, so nothing shows who made this; "
                    "pass --public-key FILE or --key-id HEX (the published GroupSync ledger key)"
                )
            for name, first, last in self.uncovered():
                lines.append(f"not trusted: chain {name} seq {first}..{last} has no trusted checkpoint")
        lines += [f"warning: {w}" for w in self.warnings]
        return lines


def verify_records(
    entries: Mapping[str, Sequence[Mapping[str, Any]]],
    checkpoints: Sequence[Mapping[str, Any]],
    keys: Mapping[str, PublicKey],
    trusted: Iterable[str] = (),
    *,
    partial: bool = False,
) -> Report:
    """Chains, checkpoint signatures (by any of ``keys``) and heads; coverage by ``trusted`` keys.

    A checkpoint by a key not in ``keys`` is a problem; one by a known but untrusted key is
    checked, yet covers nothing.
    """
    trusted_ids = sorted(set(trusted))
    report = Report(key_ids=sorted(keys), trusted_key_ids=trusted_ids, checkpoints=len(checkpoints))
    by_chain: dict[str, ChainReport] = {}
    for name in sorted(entries):
        result = verify_chain(name, entries[name], partial=partial)
        by_chain[name] = result
        report.chains.append(result)
        if result.problem is not None:
            report.problems.append(result.problem)
    for checkpoint in sorted(checkpoints, key=lambda c: (str(c["chain"]), int(c["seq"]))):
        name, seq = str(checkpoint["chain"]), int(checkpoint["seq"])
        signer = str(checkpoint.get("key_id"))
        key = keys.get(signer)
        if key is None:
            report.problems.append(Problem(name, seq, "checkpoint signed by a key that is not known"))
            continue
        payload = {f: checkpoint.get(f) for f in CHECKPOINT_SIGNED_FIELDS}
        if not key.verifies(str(checkpoint.get("signature", "")), payload):
            report.problems.append(Problem(name, seq, "checkpoint signature is invalid (checkpoint altered)"))
            continue
        own = by_chain.get(name)
        if own is not None and own.problem is not None:
            continue  # The chain's own first fault is already named.
        problem = check_checkpoint(checkpoint, entries.get(name, ()), partial=partial)
        if problem is not None:
            report.problems.append(problem)
        elif own is not None and seq <= own.head_seq and signer in trusted_ids:
            report.covered[name] = max(report.covered.get(name, 0), seq)
    return report


# --- Packs -----------------------------------------------------------------------------------


class PackError(Exception):
    """The file is not a readable evidence pack."""


@dataclass(frozen=True)
class Trust:
    """What the person verifying trusts: public keys they hold, or published key fingerprints."""

    keys: tuple[PublicKey, ...] = ()
    key_ids: tuple[str, ...] = ()

    @property
    def anchored(self) -> bool:
        return bool(self.keys or self.key_ids)

    def ids(self) -> set[str]:
        return {k.key_id for k in self.keys} | {k.lower() for k in self.key_ids}


def verify_pack(path: Path, trust: Trust = Trust()) -> Report:
    """Verify an evidence pack: file hashes, manifest signature, chains, checkpoints, coverage.

    Raises :class:`PackError` for a file that is not a pack, or one whose contents do not have
    the shapes FORMAT.md gives (a forger's malformed field is a clear failure, not a crash).
    """
    try:
        return _verify_pack(path, trust)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PackError(f"{path.name} is malformed: {type(exc).__name__}: {exc}") from exc


def _verify_pack(path: Path, trust: Trust) -> Report:
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
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise PackError("manifest.json is not a JSON object with a files list")
        problems: list[Problem] = []
        warnings: list[str] = []
        if manifest.get("format") not in PACK_FORMATS:
            problems.append(Problem("pack", None, f"unknown pack format {manifest.get('format')!r}"))
        listed: Mapping[str, Any] = manifest["files"]
        for name, digest in sorted(listed.items()):
            if name not in names:
                problems.append(Problem("pack", None, f"{name} is listed in the manifest but missing"))
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(
                    Problem("pack", None, f"{name} does not match its hash in the manifest (altered)")
                )
        for name in sorted(names - set(listed) - {"manifest.json", "manifest.sig"}):
            problems.append(Problem("pack", None, f"{name} is not listed in the manifest (added)"))
        keys = _pack_keys(archive, names, trust, problems)
        trusted = trust.ids()
        manifest_trusted = _check_manifest_signature(
            archive, names=names, manifest_bytes=manifest_bytes, keys=keys, trusted=trusted, problems=problems
        )
        if not manifest_trusted and "manifest.sig" not in names:
            warnings.append("manifest is unsigned: nothing but the hashes in it vouches for the files")
        entries = group_by_chain(_json_lines(archive, "ledger.ndjson", names))
        checkpoints = _json_lines(archive, "checkpoints.jsonl", names)
    report = verify_records(entries, checkpoints, keys, trusted, partial=True)
    report.subject = f"evidence pack {path.name}"
    _check_slice(manifest, entries, report)
    check_slice_pairing(entries, report)
    if trust.anchored:
        # With a key to trust, anything it does not vouch for is a failure, not a caveat.
        if not manifest_trusted:
            problems.append(Problem("pack", None, "manifest is not signed by a trusted key"))
        for name, first, last in report.uncovered():
            what = f"seq {first}..{last} not covered by a checkpoint signed by a trusted key"
            report.problems.append(Problem(name, None, what))
        if not trusted & set(keys):
            problems.append(Problem("pack", None, "no key in the pack matches the trusted key id(s)"))
    report.problems[:0] = problems
    report.warnings[:0] = warnings
    return report


def _check_manifest_signature(
    archive: zipfile.ZipFile,
    *,
    names: set[str],
    manifest_bytes: bytes,
    keys: Mapping[str, PublicKey],
    trusted: set[str],
    problems: list[Problem],
) -> bool:
    """Whether a trusted key signed the manifest; an invalid signature is a problem either way."""
    if "manifest.sig" not in names:
        return False
    try:
        signed = json.loads(archive.read("manifest.sig"))
    except json.JSONDecodeError:
        signed = None
    if not isinstance(signed, dict):
        problems.append(Problem("pack", None, "manifest.sig is not a JSON object"))
        return False
    key = keys.get(str(signed.get("key_id")))
    payload = {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
    if key is None or not key.verifies(str(signed.get("signature", "")), payload):
        problems.append(Problem("pack", None, "manifest signature is invalid or by an unknown key"))
        return False
    return key.key_id in trusted


def _check_slice(manifest: Mapping[str, Any], entries: Mapping[str, Sequence[Any]], report: Report) -> None:
    """The chains are the ones the manifest declares: this account's, and the installation chain."""
    declared = manifest.get("slice") or {}
    account = manifest.get("account_id")
    own = f"account:{account}"
    for name, rows in entries.items():
        if name not in {own, INSTALLATION_CHAIN}:
            report.problems.append(Problem(name, None, f"chain of another account in a pack for {own}"))
            continue
        expected = declared.get(name)
        actual = [int(rows[0]["seq"]), int(rows[-1]["seq"])]
        if expected != actual:
            report.problems.append(
                Problem(name, None, f"slice covers seq {actual}, manifest declares {expected}")
            )
        if name == own:
            for row in rows:
                if row.get("account_id") != account:
                    what = f"entry names account {row.get('account_id')!r} in {own}'s chain"
                    report.problems.append(Problem(name, int(row["seq"]), what))
                    break
    for name in sorted(set(declared) - set(entries)):
        report.problems.append(
            Problem(name, None, "manifest declares entries that the pack does not contain")
        )


def _pack_keys(
    archive: zipfile.ZipFile, names: set[str], trust: Trust, problems: list[Problem]
) -> dict[str, PublicKey]:
    keys: dict[str, PublicKey] = {}
    for name in sorted(n for n in names if n.startswith("public-keys/")):
        try:
            key = PublicKey.from_pem(archive.read(name))
        except PublicKeyError as exc:
            problems.append(Problem("pack", None, f"{name}: {exc}"))
            continue
        if name != f"public-keys/{key.key_id}.pem":
            problems.append(Problem("pack", None, f"{name} holds key {key.key_id}, not the one it names"))
        keys[key.key_id] = key
    for key in trust.keys:
        keys[key.key_id] = key
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
            or isinstance(row.get("seq"), bool)
        ):
            raise PackError(f"{name} line {number}: not an object with a text chain and a whole-number seq")
        if "detail" in row and not isinstance(row["detail"], dict):
            raise PackError(f"{name} line {number}: detail is not an object")
        rows.append(row)
    return rows


# --- Command line ----------------------------------------------------------------------------


def trust_from_args(public_keys: Sequence[Path], key_ids: Sequence[str]) -> Trust:
    """The trust anchors a person named; raises ``ValueError`` naming a bad one."""
    keys = []
    for path in public_keys:
        try:
            keys.append(PublicKey.from_pem(path.read_bytes()))
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror})") from exc
        except PublicKeyError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    for key_id in key_ids:
        if not _HEX64.fullmatch(key_id.lower()):
            raise ValueError(f"key id {key_id!r} is not 64 hexadecimal digits (a SHA-256 fingerprint)")
    return Trust(tuple(keys), tuple(k.lower() for k in key_ids))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify.py", description="Verify a GroupSync evidence pack (see FORMAT.md)."
    )
    parser.add_argument("pack", type=Path, help="the evidence pack (.zip)")
    parser.add_argument(
        "--public-key", type=Path, action="append", default=[], help="trust this Ed25519 public key (PEM)"
    )
    parser.add_argument(
        "--key-id", action="append", default=[], help="trust the key with this fingerprint (SHA-256 hex)"
    )
    parser.add_argument(
        "--integrity-only",
        action="store_true",
        help="exit 0 for an intact pack that no trusted key vouches for (the verdict still says so)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        trust = trust_from_args(args.public_key, args.key_id)
        report = verify_pack(args.pack, trust)
    except (ValueError, PackError, RuntimeError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)  # noqa: T201 - a command-line tool
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))  # noqa: T201
    else:
        for line in report.lines():
            print(line)  # noqa: T201
    return report.exit_code(accept_integrity_only=args.integrity_only)


if __name__ == "__main__":
    sys.exit(main())
