"""Evidence packs and exports: what a reviewer takes away from GroupSync.

An evidence pack is a zip holding one account's ledger slice, the checkpoints of its chain,
the public keys that signed them, the documents in force (privacy policy, disclosure texts,
scopes.md), a verification report made at build time, and a manifest with every file's
SHA-256. When the signing key is reachable the manifest is signed too. ``groupsync ledger
verify --pack FILE`` checks all of it without a database.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select

from app.config import Settings
from app.ledger import chain
from app.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerSigningKey
from app.ledger.services import DbSession, checkpoint_fields, entry_fields
from app.ledger.signing import Signer, SigningKeyError, load_public_key, public_pem
from app.ledger.verify import verify_records
from app.privacy import disclosure
from app.privacy.policy import current_policy, policy_dir, version_numbers
from app.privacy.policy import load as load_policy

PACK_FORMAT = "groupsync-evidence-pack/1"

CSV_COLUMNS = (*chain.HASHED_FIELDS, "hash")


def ndjson_lines(entries: Iterable[LedgerEntry]) -> Iterator[str]:
    for entry in entries:
        yield chain.canonical(entry_fields(entry)).decode("utf-8") + "\n"


def csv_lines(entries: Iterable[LedgerEntry]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        fields = entry_fields(entry)
        row = [_csv_cell(fields[c]) for c in CSV_COLUMNS]
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = str(value)
    # Spreadsheets execute cells starting with these; a ledger export must stay inert.
    return "'" + text if text[:1] in {"=", "+", "-", "@"} and not text.lstrip("-").isdigit() else text


def slice_statement(account_id: int, start: datetime | None, end: datetime | None) -> Select[LedgerEntry]:
    """The account's chain between the first and last entry recorded in ``[start, end)``, gapless."""
    chain_name = chain.chain_key(account_id)
    conditions = [LedgerEntry.chain == chain_name]
    if start is not None:
        conditions.append(LedgerEntry.recorded_at >= start)
    if end is not None:
        conditions.append(LedgerEntry.recorded_at < end)
    low = select(func.min(LedgerEntry.seq)).where(*conditions).scalar_subquery()
    high = select(func.max(LedgerEntry.seq)).where(*conditions).scalar_subquery()
    return (
        select(LedgerEntry)
        .where(LedgerEntry.chain == chain_name, LedgerEntry.seq >= low, LedgerEntry.seq <= high)
        .order_by(LedgerEntry.seq)
    )


def build_evidence_pack(
    session: DbSession,
    *,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    documents: Documents,
    signer: Signer | None,
    now: datetime,
) -> bytes:
    entries = [entry_fields(e) for e in session.scalars(slice_statement(account_id, start, end))]
    chain_name = chain.chain_key(account_id)
    checkpoints = [
        checkpoint_fields(c)
        for c in session.scalars(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.chain == chain_name)
            .order_by(LedgerCheckpoint.seq, LedgerCheckpoint.key_id)
        )
    ]
    used_keys = {str(c["key_id"]) for c in checkpoints}
    key_rows = session.scalars(select(LedgerSigningKey).where(LedgerSigningKey.key_id.in_(used_keys))).all()
    keys = {row.key_id: load_public_key(row.public_pem.encode()) for row in key_rows}
    report = verify_records({chain_name: entries} if entries else {}, checkpoints, keys, partial=True)

    files: dict[str, bytes] = {
        "ledger.ndjson": "".join(chain.canonical(e).decode("utf-8") + "\n" for e in entries).encode("utf-8"),
        "checkpoints.jsonl": "".join(chain.canonical(c).decode("utf-8") + "\n" for c in checkpoints).encode(),
        "verification-report.json": _pretty(report.to_json()),
    }
    for row in key_rows:
        files[f"public-keys/{row.key_id}.pem"] = row.public_pem.encode("ascii")
    if signer is not None:
        files[f"public-keys/{signer.key_id}.pem"] = public_pem(signer.public_key).encode("ascii")
    for name, content in documents.files.items():
        files[f"documents/{name}"] = content
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT,
        "created_at": chain.format_time(now),
        "account_id": account_id,
        "window": {
            "from": chain.format_time(start) if start else None,
            "to": chain.format_time(end) if end else None,
        },
        "documents_in_force": documents.in_force,
        "slice": {chain_name: [entries[0]["seq"], entries[-1]["seq"]]} if entries else {},
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())},
    }
    manifest_bytes = _pretty(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest_bytes)
        if signer is not None:
            payload = {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
            signature = {"key_id": signer.key_id, "signature": signer.sign(payload)}
            archive.writestr("manifest.sig", _pretty(signature))
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def _pretty(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


SCOPES_FILE = Path(__file__).resolve().parents[2] / "scopes.md"


@dataclass(frozen=True)
class Documents:
    files: dict[str, bytes]
    in_force: dict[str, str]
    """Which version of each text is current as the pack is made."""


def evidence_documents(settings: Settings) -> Documents:
    """Every published version of the privacy policy and the disclosure (a window can span
    several), and scopes.md; ``in_force`` names the current ones."""
    directory = policy_dir(settings)
    files: dict[str, bytes] = {}
    for number in version_numbers(directory):
        policy = load_policy(directory, number)
        files[f"privacy-policy-{policy.version}.md"] = policy.markdown.encode("utf-8")
    for version in disclosure.versions():
        files[f"disclosure-{version}.md"] = disclosure.load(version).markdown.encode("utf-8")
        # Users accepted the text in their language; each translation is part of the record too.
        for language in disclosure.languages_of(version)[1:]:
            text = disclosure.load(version, language).markdown
            files[f"disclosure-{version}.{language}.md"] = text.encode("utf-8")
    if SCOPES_FILE.is_file():
        files["scopes.md"] = SCOPES_FILE.read_bytes()
    in_force = {
        "privacy_policy": current_policy(settings).version,
        "disclosure": disclosure.current().version,
    }
    return Documents(files, in_force)


def evidence_pack(
    session: DbSession,
    settings: Settings,
    *,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> bytes:
    """An evidence pack for one account; the manifest is signed when this process can reach the key."""
    try:
        # Only signs with a key that already exists: serving a download must not create one.
        signer: Signer | None = Signer.for_settings(settings, create=False)
    except SigningKeyError:
        signer = None
    return build_evidence_pack(
        session,
        account_id=account_id,
        start=start,
        end=end,
        documents=evidence_documents(settings),
        signer=signer,
        now=now,
    )
