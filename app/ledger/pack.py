"""Evidence packs: what a reviewer takes away from GroupSync and checks without it.

A pack is a zip holding one account's ledger slice (and the installation-chain entries that
concern the account, others' redacted to their hashes), the checkpoints that cover it and
the public keys that signed them, the documents in force (privacy policy and disclosure
versions, scopes.md), ``verify.py`` (the single-file verifier) and ``FORMAT.md`` (its
specification), a verification report (JSON and HTML), and a manifest with every file's
SHA-256, signed with the ledger key. The slice always ends at a checkpoint, so with the
ledger's published key the verdict can be VERIFIED; a pack built without the key can at most
be INTEGRITY ONLY, and says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, or_, select

from app.config import Settings
from app.db import DbSession
from app.ledger import chain
from app.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerSigningKey
from app.ledger.services import checkpoint_fields, entry_fields, make_checkpoints
from app.ledger.signing import Signer, public_pem
from app.ledger.standalone_verify import (
    REQUEST_ID,
    PublicKey,
    Report,
    check_slice_pairing,
    verify_records,
)
from app.privacy import disclosure
from app.privacy.policy import current_policy, policy_dir, version_numbers
from app.privacy.policy import languages_of as policy_languages
from app.privacy.policy import load as load_policy

PACK_FORMAT = "groupsync-evidence-pack/2"
LEDGER_DIR = Path(__file__).resolve().parent
VERIFIER_FILE = LEDGER_DIR / "standalone_verify.py"
FORMAT_FILE = LEDGER_DIR / "FORMAT.md"
SCOPES_CANDIDATES = (
    LEDGER_DIR.parents[1] / "scopes.md",  # a source checkout
    LEDGER_DIR.parent / "scopes.md",  # the installed package (deploy/Dockerfile copies it in)
)
SIGN_IN_GRACE = timedelta(hours=1)
"""How far before the window a sign-in's started entry (installation chain) may lie."""


class PackBuildError(Exception):
    """Something a pack must hold is missing; the message names it."""


def _seq_bounds(
    session: DbSession, chain_name: str, start: datetime | None, end: datetime | None
) -> tuple[int, int] | None:
    conditions = [LedgerEntry.chain == chain_name]
    if start is not None:
        conditions.append(LedgerEntry.recorded_at >= start)
    if end is not None:
        conditions.append(LedgerEntry.recorded_at < end)
    low, high = session.execute(
        select(func.min(LedgerEntry.seq), func.max(LedgerEntry.seq)).where(*conditions)
    ).one()
    return None if low is None else (int(low), int(high))


def _chain_checkpoints(session: DbSession, chain_name: str) -> list[dict[str, object]]:
    rows = session.scalars(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.chain == chain_name)
        .order_by(LedgerCheckpoint.seq, LedgerCheckpoint.key_id)
    )
    return [checkpoint_fields(c) for c in rows]


def _covering_end(last: int, checkpoints: Sequence[Mapping[str, Any]], key_id: str | None) -> int:
    """Where the slice ends so that a checkpoint covers every entry in it.

    Up to the first checkpoint at or after the window's last entry; for a signed pack whose
    window runs past the signing key's newest checkpoint (entries written while the pack was
    being made), back to that checkpoint, so the pack holds nothing its signature cannot cover.
    """
    seqs = [int(str(c["seq"])) for c in checkpoints if key_id is None or c["key_id"] == key_id]
    later = [seq for seq in seqs if seq >= last]
    if later:
        return min(later)
    return max(seqs) if key_id is not None and seqs else last


def _entries(session: DbSession, chain_name: str, low: int, high: int) -> list[dict[str, object]]:
    stmt = (
        select(LedgerEntry)
        .where(LedgerEntry.chain == chain_name, LedgerEntry.seq >= low, LedgerEntry.seq <= high)
        .order_by(LedgerEntry.seq)
    )
    return [entry_fields(e) for e in session.scalars(stmt)]


def _redacted(entry: Mapping[str, object]) -> dict[str, object]:
    return {k: entry[k] for k in ("chain", "seq", "prev_hash", "hash")} | {"redacted": True}


def _installation_slice(
    session: DbSession,
    own: Sequence[Mapping[str, Any]],
    *,
    start: datetime | None,
    end: datetime | None,
    checkpoints: Sequence[Mapping[str, Any]],
    key_id: str | None,
) -> list[dict[str, object]]:
    """The installation-chain entries that concern the account, in a gapless range with others redacted.

    They concern it when they started a request whose outcome is in the account's slice (a
    sign-in's code exchange), or name a user the account's slice names (a deletion recorded
    after the person's accounts were gone).
    """
    request_ids = {str(e["detail"].get(REQUEST_ID)) for e in own if e["tag"] == "google.request"}
    user_ids = {int(e["user_id"]) for e in own if e["user_id"] is not None}
    if not request_ids and not user_ids:
        return []
    window = [LedgerEntry.chain == chain.INSTALLATION_CHAIN]
    if start is not None:
        window.append(LedgerEntry.recorded_at >= start - SIGN_IN_GRACE)
    if end is not None:
        window.append(LedgerEntry.recorded_at < end)
    wanted = [LedgerEntry.tag == "google.request_started"]
    if user_ids:
        wanted.append(LedgerEntry.user_id.in_(user_ids))
    candidates = session.scalars(select(LedgerEntry).where(*window, or_(*wanted)))
    concerning = {
        e.seq
        for e in candidates
        if (e.user_id is not None and e.user_id in user_ids)
        or str(json.loads(e.detail).get(REQUEST_ID)) in request_ids
    }
    if not concerning:
        return []
    high = _covering_end(max(concerning), checkpoints, key_id)
    rows = _entries(session, chain.INSTALLATION_CHAIN, min(concerning), high)
    return [row if row["seq"] in concerning else _redacted(row) for row in rows]


@dataclass(frozen=True)
class Documents:
    files: dict[str, bytes]
    in_force: dict[str, str]
    """Which version of each text is current as the pack is made."""


def scopes_file() -> Path:
    for candidate in SCOPES_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise PackBuildError(
        "scopes.md is missing from this installation (looked in "
        + ", ".join(str(c) for c in SCOPES_CANDIDATES)
        + "); an evidence pack must carry it"
    )


def evidence_documents(settings: Settings) -> Documents:
    """Every published version of the privacy policy and the disclosure (a window can span
    several), and scopes.md; ``in_force`` names the current ones."""
    directory = policy_dir(settings)
    files: dict[str, bytes] = {}
    for number in version_numbers(directory):
        policy = load_policy(directory, number)
        # As users read it: operator details and retention periods filled in from the settings.
        files[f"privacy-policy-{policy.version}.md"] = policy.filled(settings).encode("utf-8")
        for language in policy_languages(directory, number)[1:]:
            translated = load_policy(directory, number, language).filled(settings)
            files[f"privacy-policy-{policy.version}.{language}.md"] = translated.encode("utf-8")
    for version in disclosure.versions():
        files[f"disclosure-{version}.md"] = disclosure.load(version).markdown.encode("utf-8")
        # Users accepted the text in their language; each translation is part of the record too.
        for language in disclosure.languages_of(version)[1:]:
            text = disclosure.load(version, language).markdown
            files[f"disclosure-{version}.{language}.md"] = text.encode("utf-8")
    files["scopes.md"] = scopes_file().read_bytes()
    in_force = {
        "privacy_policy": current_policy(settings).version,
        "disclosure": disclosure.current().version,
    }
    return Documents(files, in_force)


def _slices(
    session: DbSession, account_id: int, start: datetime | None, end: datetime | None, key_id: str | None
) -> tuple[dict[str, list[dict[str, object]]], list[dict[str, object]]]:
    """Per chain, the entries a pack holds, and the checkpoints that fall within them."""
    own_name = chain.chain_key(account_id)
    own_checkpoints = _chain_checkpoints(session, own_name)
    bounds = _seq_bounds(session, own_name, start, end)
    own: list[dict[str, object]] = []
    if bounds is not None:
        own = _entries(session, own_name, bounds[0], _covering_end(bounds[1], own_checkpoints, key_id))
    installation_checkpoints = _chain_checkpoints(session, chain.INSTALLATION_CHAIN)
    installation = _installation_slice(
        session, own, start=start, end=end, checkpoints=installation_checkpoints, key_id=key_id
    )
    entries: dict[str, list[dict[str, object]]] = {}
    checkpoints: list[dict[str, object]] = []
    for name, rows, chain_checkpoints in (
        (own_name, own, own_checkpoints),
        (chain.INSTALLATION_CHAIN, installation, installation_checkpoints),
    ):
        if not rows:
            continue
        entries[name] = rows
        first, last = int(str(rows[0]["seq"])), int(str(rows[-1]["seq"]))
        checkpoints += [c for c in chain_checkpoints if first - 1 <= int(str(c["seq"])) <= last]
    return entries, checkpoints


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
    """The pack as bytes. With ``signer``, the slices end at that key's checkpoints (take a fresh
    one first: :func:`signed_evidence_pack`) and the manifest is signed."""
    key_id = signer.key_id if signer else None
    entries, checkpoints = _slices(session, account_id, start, end, key_id)
    used_keys = {str(c["key_id"]) for c in checkpoints} | ({key_id} if key_id else set())
    key_rows = session.scalars(select(LedgerSigningKey).where(LedgerSigningKey.key_id.in_(used_keys))).all()
    pems = {row.key_id: row.public_pem.encode("ascii") for row in key_rows}
    if signer is not None:
        pems[signer.key_id] = public_pem(signer.public_key).encode("ascii")
    keys = {kid: PublicKey.from_pem(pem) for kid, pem in pems.items()}
    report = verify_records(entries, checkpoints, keys, [key_id] if key_id else [], partial=True)
    report.subject = f"evidence pack for account {account_id} (at build time)"
    check_slice_pairing(entries, report)

    files: dict[str, bytes] = {
        "ledger.ndjson": b"".join(chain.canonical(e) + b"\n" for rows in entries.values() for e in rows),
        "checkpoints.jsonl": b"".join(chain.canonical(c) + b"\n" for c in checkpoints),
        "verification-report.json": _pretty(report.to_json()),
        "verify.py": VERIFIER_FILE.read_bytes(),
        "FORMAT.md": FORMAT_FILE.read_bytes(),
    }
    files |= {f"public-keys/{kid}.pem": pem for kid, pem in pems.items()}
    files |= {f"documents/{name}": content for name, content in documents.files.items()}
    window = {
        "from": chain.format_time(start) if start else None,
        "to": chain.format_time(end) if end else None,
    }
    files["report.html"] = _html_report(
        account_id=account_id,
        window=window,
        documents=documents,
        entries=entries,
        report=report,
        key_id=key_id,
        created_at=chain.format_time(now),
    )
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT,
        "created_at": chain.format_time(now),
        "account_id": account_id,
        "window": window,
        "documents_in_force": documents.in_force,
        "signing_key_id": key_id,
        "slice": {name: [rows[0]["seq"], rows[-1]["seq"]] for name, rows in entries.items()},
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


_TEMPLATES = Environment(
    loader=FileSystemLoader(LEDGER_DIR.parent / "templates" / "ledger"),
    autoescape=select_autoescape(default=True),
)


def _html_report(
    *,
    account_id: int,
    window: Mapping[str, str | None],
    documents: Documents,
    entries: Mapping[str, Sequence[Mapping[str, Any]]],
    report: Report,
    key_id: str | None,
    created_at: str,
) -> bytes:
    tags: dict[str, int] = {}
    for rows in entries.values():
        for row in rows:
            if row.get("redacted") is not True:
                tags[str(row["tag"])] = tags.get(str(row["tag"]), 0) + 1
    html = _TEMPLATES.get_template("pack_report.html").render(
        account_id=account_id,
        window=window,
        in_force=documents.in_force,
        documents=sorted(documents.files),
        report=report,
        tags=sorted(tags.items()),
        key_id=key_id,
        created_at=created_at,
        destinations=sorted(
            {str(r["destination"]) for rows in entries.values() for r in rows if "destination" in r}
        ),
    )
    return html.encode("utf-8")


def evidence_pack(
    session: DbSession,
    settings: Settings,
    *,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> bytes:
    """An unsigned pack (for a process that cannot read the signing key): at best INTEGRITY ONLY."""
    return build_evidence_pack(
        session,
        account_id=account_id,
        start=start,
        end=end,
        documents=evidence_documents(settings),
        signer=None,
        now=now,
    )


def signed_evidence_pack(
    session: DbSession,
    settings: Settings,
    *,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> bytes:
    """Checkpoint every chain that moved (commits), then build a pack signed with the ledger key.

    Only the worker and the CLI can read the key; raises ``SigningKeyError`` elsewhere.
    """
    signer = Signer.for_settings(settings)
    make_checkpoints(session, signer, now)
    return build_evidence_pack(
        session,
        account_id=account_id,
        start=start,
        end=end,
        documents=evidence_documents(settings),
        signer=signer,
        now=now,
    )
