"""Realistic evidence packs, and the ways a forger might rewrite one (the tamper suite)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from app.db import utcnow
from app.extensions import db
from app.ledger import chain
from app.ledger.events import FlowKind, Purpose, Trigger
from app.ledger.pack import signed_evidence_pack
from app.ledger.services import GoogleRequestLedger
from app.ledger.signing import Signer, public_pem
from app.ledger.standalone_verify import CHECKPOINT_SIGNED_FIELDS, Verdict
from tests.ledger.helpers import fill
from tests.ledger.test_requests import request_flow

Files = dict[str, bytes]
Entry = dict[str, Any]


def _request(account_id: int | None, method: str, *, finish_on: int | None = None, user_id: int = 7) -> None:
    ledger = GoogleRequestLedger(db.session)
    started = ledger.start(request_flow(account_id, method=method, kind=FlowKind.DELETE, user_id=user_id))
    ended = started.ended("200", records=2)
    if finish_on is not None:  # a sign-in: started on the installation chain, ended on the account's
        ended = replace(ended, account_id=finish_on)
    ledger.finish(started, ended)
    db.session.commit()


def populate() -> None:
    """Two accounts' chains with Google request pairs (one a batch delete), and a sign-in that
    starts on the installation chain; another person's sign-in there too."""
    now = utcnow()
    fill(1, 2, now=now - timedelta(days=2))
    _request(None, "oauth2.token.authorization_code", finish_on=1)
    _request(None, "oauth2.token.authorization_code", finish_on=2, user_id=99)
    _request(1, "people.connections.list")
    _request(1, "people.batchDeleteContacts")
    _request(1, "people.batchCreateContacts")
    fill(2, 3)
    fill(1, 1, purpose=Purpose.USER_DATA_RIGHTS, trigger=Trigger.USER_ACTION)


def build(app: Flask, tmp_path: Path, account_id: int = 1, name: str = "pack.zip") -> Path:
    settings = app.config["GROUPSYNC"]
    data = signed_evidence_pack(
        db.session, settings, account_id=account_id, start=None, end=None, now=utcnow()
    )
    path = tmp_path / name
    path.write_bytes(data)
    return path


def published_key(app: Flask, tmp_path: Path) -> Path:
    path = tmp_path / "published-ledger-key.pem"
    path.write_text(public_pem(Signer.for_settings(app.config["GROUPSYNC"]).public_key))
    return path


def read(path: Path) -> Files:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write(files: Files, path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    path.write_bytes(buffer.getvalue())
    return path


def lines(files: Files, name: str = "ledger.ndjson") -> list[Entry]:
    return [json.loads(line) for line in files[name].decode().splitlines() if line]


def set_lines(files: Files, rows: list[Entry], name: str = "ledger.ndjson") -> None:
    files[name] = b"".join(chain.canonical(row) + b"\n" for row in rows)


def rechain(rows: list[Entry]) -> list[Entry]:
    """Renumber and re-hash every chain from its first entry: a consistent forgery."""
    by_chain: dict[str, list[Entry]] = {}
    for row in rows:
        by_chain.setdefault(row["chain"], []).append(row)
    for chain_rows in by_chain.values():
        if any(row.get("redacted") for row in chain_rows):
            continue  # Redacted entries cannot be re-hashed; the forgeries leave that chain alone.
        first_seq, previous = chain_rows[0]["seq"], chain_rows[0]["prev_hash"]
        for offset, row in enumerate(chain_rows):
            row["seq"], row["prev_hash"] = first_seq + offset, previous
            row["hash"] = previous = chain.entry_hash(row)
    return rows


def refresh_manifest(files: Files, *, drop_signature: bool = True) -> None:
    """Recompute the manifest's hashes and slice, as a forger would (and lose its signature)."""
    manifest = json.loads(files["manifest.json"])
    rows = lines(files)
    manifest["slice"] = {}
    for row in rows:
        manifest["slice"].setdefault(row["chain"], [row["seq"], row["seq"]])[1] = row["seq"]
    manifest["files"] = {
        n: hashlib.sha256(c).hexdigest()
        for n, c in files.items()
        if n not in {"manifest.json", "manifest.sig"}
    }
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    if drop_signature:
        files.pop("manifest.sig", None)


def _own(files: Files) -> list[Entry]:
    return [row for row in lines(files) if row["chain"] == "account:1"]


def edit_entry(files: Files) -> None:
    rows = lines(files)
    rows[1]["outcome"] = "500"
    set_lines(files, rows)


def edit_entry_and_manifest(files: Files) -> None:
    edit_entry(files)
    refresh_manifest(files, drop_signature=False)


def edit_and_rechain(files: Files) -> None:
    rows = lines(files)
    rows[2]["records"] = 0
    set_lines(files, rechain(rows))
    refresh_manifest(files)


def delete_entry(files: Files) -> None:
    rows = lines(files)
    del rows[3]
    set_lines(files, rows)
    refresh_manifest(files)


def reorder_entries(files: Files) -> None:
    rows = lines(files)
    rows[2], rows[3] = rows[3], rows[2]
    rows[2]["seq"], rows[3]["seq"] = rows[3]["seq"], rows[2]["seq"]
    set_lines(files, rows)
    refresh_manifest(files)


def insert_entry(files: Files) -> None:
    rows = lines(files)
    forged = {**rows[1], "outcome": "shown", "tag": "access.human_view"}
    rows.insert(2, forged)
    set_lines(files, rechain(rows))
    refresh_manifest(files)


def truncate_tail(files: Files) -> None:
    rows = lines(files)
    own = [r for r in rows if r["chain"] == "account:1"]
    drop = {own[-1]["seq"], own[-2]["seq"]}
    set_lines(files, [r for r in rows if not (r["chain"] == "account:1" and r["seq"] in drop)])
    refresh_manifest(files)


def drop_signature(files: Files) -> None:
    del files["manifest.sig"]


def drop_checkpoints(files: Files) -> None:
    files["checkpoints.jsonl"] = b""
    refresh_manifest(files)


def _without_batch_delete(files: Files) -> list[Entry]:
    """The issue's forgery: remove the people.batchDeleteContacts request pair and re-chain."""
    rows = [r for r in lines(files) if r.get("method") != "people.batchDeleteContacts"]
    return rechain(rows)


def forge_request_pair_removal(files: Files) -> None:
    set_lines(files, _without_batch_delete(files))
    files["checkpoints.jsonl"] = b""
    refresh_manifest(files)


def resign_with_another_key(files: Files) -> None:
    """The same forgery, with checkpoints and manifest signed by the forger's own key."""
    forger = Signer(Ed25519PrivateKey.generate())
    rows = _without_batch_delete(files)
    set_lines(files, rows)
    checkpoints = []
    for name in sorted({r["chain"] for r in rows}):
        head = [r for r in rows if r["chain"] == name][-1]
        checkpoint: Entry = {
            "chain": name,
            "seq": head["seq"],
            "head_hash": head["hash"],
            "created_at": chain.format_time(utcnow()),
            "key_id": forger.key_id,
        }
        checkpoint["signature"] = forger.sign({f: checkpoint[f] for f in CHECKPOINT_SIGNED_FIELDS})
        checkpoints.append(checkpoint)
    set_lines(files, checkpoints, "checkpoints.jsonl")
    for name in [n for n in files if n.startswith("public-keys/")]:
        del files[name]
    files[f"public-keys/{forger.key_id}.pem"] = public_pem(forger.public_key).encode()
    refresh_manifest(files)
    digest = hashlib.sha256(files["manifest.json"]).hexdigest()
    signature = {"key_id": forger.key_id, "signature": forger.sign({"manifest_sha256": digest})}
    files["manifest.sig"] = json.dumps(signature).encode()


def swap_in_another_accounts_chain(files: Files, other: Files) -> None:
    """Account 2's genuine, signed chain presented as account 1's evidence."""
    files["ledger.ndjson"] = other["ledger.ndjson"]
    files["checkpoints.jsonl"] = other["checkpoints.jsonl"]
    refresh_manifest(files)


def relabel_another_accounts_chain(files: Files, other: Files) -> None:
    """Account 2's entries renamed to account 1 and re-chained."""
    rows = [r for r in lines(other) if r["chain"] == "account:2"]
    for row in rows:
        row["chain"], row["account_id"] = "account:1", 1
    set_lines(files, rechain(rows))
    files["checkpoints.jsonl"] = b""
    refresh_manifest(files)


def redact_own_entry(files: Files) -> None:
    rows = lines(files)
    target = next(i for i, r in enumerate(rows) if r.get("method") == "people.batchDeleteContacts")
    rows[target] = {k: rows[target][k] for k in ("chain", "seq", "prev_hash", "hash")} | {"redacted": True}
    set_lines(files, rows)
    refresh_manifest(files)


def edit_policy(files: Files) -> None:
    files["documents/privacy-policy-v1.md"] += b"\nWe sell data.\n"
    refresh_manifest(files, drop_signature=False)


def add_file(files: Files) -> None:
    files["documents/extra.md"] = b"not from GroupSync"


def substitute_key_file(files: Files) -> None:
    name = next(n for n in files if n.startswith("public-keys/"))
    files[name] = public_pem(Ed25519PrivateKey.generate().public_key()).encode()
    refresh_manifest(files, drop_signature=False)


def edit_checkpoint(files: Files) -> None:
    rows = lines(files, "checkpoints.jsonl")
    rows[0]["seq"] -= 1
    set_lines(files, rows, "checkpoints.jsonl")
    refresh_manifest(files)


@dataclass(frozen=True)
class Tamper:
    name: str
    change: Callable[..., None]
    unpinned: Verdict
    """The verdict with no trusted key (with the published key it is always FAILED)."""
    needs_other: bool = False


FAILED, INTEGRITY_ONLY = Verdict.FAILED, Verdict.INTEGRITY_ONLY
TAMPERS = (
    Tamper("edit an entry", edit_entry, FAILED),
    Tamper("edit an entry and rebuild the manifest", edit_entry_and_manifest, FAILED),
    Tamper("edit an entry and re-chain", edit_and_rechain, FAILED),
    Tamper("delete an entry", delete_entry, FAILED),
    Tamper("reorder entries", reorder_entries, FAILED),
    Tamper("insert an entry and re-chain", insert_entry, FAILED),
    Tamper("truncate the tail", truncate_tail, INTEGRITY_ONLY),
    Tamper("drop the manifest signature", drop_signature, INTEGRITY_ONLY),
    Tamper("drop the checkpoints", drop_checkpoints, INTEGRITY_ONLY),
    Tamper("remove a batch-delete request pair and re-chain", forge_request_pair_removal, INTEGRITY_ONLY),
    Tamper("re-sign with another key", resign_with_another_key, INTEGRITY_ONLY),
    Tamper("swap in another account's chain", swap_in_another_accounts_chain, FAILED, needs_other=True),
    Tamper("relabel another account's chain", relabel_another_accounts_chain, INTEGRITY_ONLY, True),
    Tamper("redact one of the account's own entries", redact_own_entry, FAILED),
    Tamper("edit a policy document", edit_policy, FAILED),
    Tamper("add a file", add_file, FAILED),
    Tamper("substitute a public key file", substitute_key_file, FAILED),
    Tamper("edit a checkpoint", edit_checkpoint, FAILED),
)
