from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from app.db import utcnow
from app.extensions import db
from app.ledger import chain
from app.ledger.pack import (
    PACK_FORMAT,
    build_evidence_pack,
    evidence_documents,
    evidence_pack,
    signed_evidence_pack,
)
from app.ledger.services import GoogleRequestLedger, make_checkpoints
from app.ledger.signing import Signer
from app.ledger.standalone_verify import Trust, Verdict
from app.ledger.verify import PackError, verify_pack
from app.privacy import disclosure
from app.privacy.policy import current_policy_version
from tests.ledger.helpers import fill
from tests.ledger.test_requests import request_flow

Files = dict[str, bytes]


def _pack(app: Flask, tmp_path: Path, start: datetime | None = None, end: datetime | None = None) -> Path:
    now = utcnow()
    fill(1, 2, now=now - timedelta(days=3))
    fill(1, 3, now=now - timedelta(days=1))
    fill(2, 2, now=now - timedelta(days=1))
    make_checkpoints(db.session, Signer.for_settings(app.config["GROUPSYNC"]))
    fill(1, 1, now=now)
    settings = app.config["GROUPSYNC"]
    data = signed_evidence_pack(db.session, settings, account_id=1, start=start, end=end, now=now)
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    return path


def _rewrite(path: Path, change: Callable[[Files], None], *, refresh_manifest: bool = False) -> Path:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    if refresh_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            n: hashlib.sha256(c).hexdigest()
            for n, c in files.items()
            if n not in {"manifest.json", "manifest.sig"}
        }
        files["manifest.json"] = json.dumps(manifest).encode()
    target = path.with_name("tampered.zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    target.write_bytes(buffer.getvalue())
    return target


def _lines(files: Files) -> list[dict[str, object]]:
    return [json.loads(line) for line in files["ledger.ndjson"].decode().splitlines()]


def _set_lines(files: Files, lines: list[dict[str, object]]) -> None:
    files["ledger.ndjson"] = "".join(chain.canonical(line).decode() + "\n" for line in lines).encode()


def test_pack_holds_slice_documents_and_verifies_offline(app: Flask, tmp_path: Path) -> None:
    path = _pack(app, tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        lines = [json.loads(x) for x in archive.read("ledger.ndjson").decode().splitlines()]
        report = json.loads(archive.read("verification-report.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert {line["chain"] for line in lines} == {"account:1"}
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {"manifest.json", "manifest.sig", "checkpoints.jsonl", "documents/privacy-policy-v1.md"} <= names
    assert {"verify.py", "FORMAT.md", "report.html", "documents/scopes.md"} <= names
    assert manifest["format"] == PACK_FORMAT
    assert {f"documents/disclosure-{v}.md" for v in disclosure.versions()} <= names
    assert manifest["documents_in_force"] == {
        "privacy_policy": current_policy_version(),
        "disclosure": disclosure.current().version,
    }
    assert any(n.startswith("public-keys/") for n in names)
    assert report["verdict"] == "verified", "the build-time report trusted the key that signed it"
    signer = Signer.for_settings(app.config["GROUPSYNC"])
    assert manifest["signing_key_id"] == signer.key_id
    verified = verify_pack(path, Trust(key_ids=(signer.key_id,)))
    assert verified.verdict is Verdict.VERIFIED, verified.lines()
    assert verified.warnings == []
    assert verify_pack(path).verdict is Verdict.INTEGRITY_ONLY


def test_time_window_gives_a_gapless_slice(app: Flask, tmp_path: Path) -> None:
    path = _pack(app, tmp_path, start=utcnow() - timedelta(days=2), end=utcnow() - timedelta(hours=1))
    with zipfile.ZipFile(path) as archive:
        seqs = [json.loads(x)["seq"] for x in archive.read("ledger.ndjson").decode().splitlines()]
    assert seqs == [3, 4, 5]
    assert verify_pack(path).ok


def _edit_entry(files: Files) -> None:
    lines = _lines(files)
    lines[1]["outcome"] = "500"
    _set_lines(files, lines)


def _drop_entry(files: Files) -> None:
    lines = _lines(files)
    del lines[2]
    _set_lines(files, lines)


def _rewrite_consistently(files: Files) -> None:
    lines = _lines(files)
    previous = lines[0]["hash"]
    for line in lines[1:]:
        line["records"] = 0
        line["prev_hash"] = previous
        line["hash"] = previous = chain.entry_hash(line)
    _set_lines(files, lines)
    del files["manifest.sig"]


def _edit_policy(files: Files) -> None:
    files["documents/privacy-policy-v1.md"] += b"\nWe sell data.\n"


def _edit_checkpoint(files: Files) -> None:
    checkpoint = json.loads(files["checkpoints.jsonl"].decode().splitlines()[0])
    checkpoint["seq"] = 4
    files["checkpoints.jsonl"] = chain.canonical(checkpoint) + b"\n"


def _add_file(files: Files) -> None:
    files["documents/extra.md"] = b"not from GroupSync"


@pytest.mark.parametrize(
    ("change", "refresh", "expected"),
    [
        (_edit_entry, False, "ledger.ndjson does not match its hash in the manifest"),
        (_edit_entry, True, "chain account:1 seq 2: content does not match its hash"),
        (_drop_entry, True, "sequence gap: expected seq 3, found 4"),
        (_rewrite_consistently, True, "checkpointed head hash differs"),
        (_edit_policy, False, "documents/privacy-policy-v1.md does not match its hash"),
        (_edit_policy, True, "manifest signature is invalid"),
        (_edit_checkpoint, True, "checkpoint signature is invalid"),
        (_add_file, False, "documents/extra.md is not listed in the manifest"),
    ],
)
def test_any_tampering_fails_the_pack(
    app: Flask, tmp_path: Path, change: Callable[[Files], None], refresh: bool, expected: str
) -> None:
    tampered = _rewrite(_pack(app, tmp_path), change, refresh_manifest=refresh)
    report = verify_pack(tampered)
    assert not report.ok
    assert any(expected in str(p) for p in report.problems), report.lines()


def test_pack_without_a_reachable_key_is_unsigned_and_says_so(app: Flask, tmp_path: Path) -> None:
    fill(1, 2)
    keyless = app.config["GROUPSYNC"].with_overrides(instance_path=tmp_path / "keyless")
    path = tmp_path / "pack.zip"
    path.write_bytes(evidence_pack(db.session, keyless, account_id=1, start=None, end=None, now=utcnow()))
    assert not (tmp_path / "keyless").exists()
    report = verify_pack(path)
    assert report.ok
    assert report.verdict is Verdict.INTEGRITY_ONLY
    assert report.warnings[0].startswith("manifest is unsigned")
    with zipfile.ZipFile(path) as archive:
        assert "manifest.sig" not in archive.namelist()
        assert b"This pack is not signed" in archive.read("report.html")


def test_malformed_pack_is_refused_with_a_clear_error(app: Flask, tmp_path: Path) -> None:
    def mangle(files: Files) -> None:
        files["ledger.ndjson"] += b'{"chain": "account:1"}\n'

    tampered = _rewrite(_pack(app, tmp_path), mangle, refresh_manifest=True)
    with pytest.raises(PackError, match=r"ledger.ndjson line 7: not an object with a text chain"):
        verify_pack(tampered)
    (tmp_path / "not.zip").write_bytes(b"plain text")
    with pytest.raises(PackError, match="not a readable zip file"):
        verify_pack(tmp_path / "not.zip")


def test_a_pack_pairs_the_google_requests_it_holds(app: Flask, tmp_path: Path) -> None:
    requests = GoogleRequestLedger(db.session)
    answered = requests.start(request_flow())
    requests.finish(answered, answered.ended("200", records=3))
    requests.start(request_flow())  # no outcome: the process "died" while Google answered
    contradicted = requests.start(request_flow(method="people.connections.list"))
    requests.finish(contradicted, replace(contradicted.ended("200"), method="people.deleteContact"))
    db.session.commit()
    data = evidence_pack(
        db.session, app.config["GROUPSYNC"], account_id=1, start=None, end=None, now=utcnow()
    )
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    report = verify_pack(path)
    assert [str(p) for p in report.problems] == [
        "chain account:1 seq 5: Google request outcome does not match its write-ahead entry"
    ]
    assert any(
        w.startswith("1 Google request(s) started in this pack have no outcome") for w in report.warnings
    )
    with zipfile.ZipFile(path) as archive:
        built = json.loads(archive.read("verification-report.json"))
    assert built["problems"] == [str(p) for p in report.problems], (
        "the report made at build time says the same"
    )


def test_scopes_md_ships_inside_the_package_and_is_never_silently_missing(
    app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.ledger import pack

    root = Path(pack.__file__).resolve().parents[2]
    dockerfile = (root / "deploy" / "Dockerfile").read_text()
    # The image installs the package and deletes the source tree: scopes.md must be inside it.
    assert "COPY scopes.md ./app/scopes.md" in dockerfile
    assert dockerfile.index("COPY scopes.md ./app/scopes.md") < dockerfile.index("RUN pip install")
    assert Path(pack.__file__).resolve().parents[1] / "scopes.md" in pack.SCOPES_CANDIDATES
    monkeypatch.setattr(pack, "SCOPES_CANDIDATES", (tmp_path / "absent" / "scopes.md",))
    fill(1, 1)
    with pytest.raises(pack.PackBuildError, match=r"scopes\.md is missing"):
        evidence_pack(db.session, app.config["GROUPSYNC"], account_id=1, start=None, end=None, now=utcnow())


def test_a_signed_pack_holds_only_what_its_checkpoints_cover(app: Flask, tmp_path: Path) -> None:
    """Entries written while a pack is made (after its checkpoint) are left for the next pack."""
    settings = app.config["GROUPSYNC"]
    signer = Signer.for_settings(settings)
    fill(1, 3)
    make_checkpoints(db.session, signer)
    fill(1, 2)  # a sync writing meanwhile
    data = build_evidence_pack(
        db.session,
        account_id=1,
        start=None,
        end=None,
        documents=evidence_documents(settings),
        signer=signer,
        now=utcnow(),
    )
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    report = verify_pack(path, Trust(key_ids=(signer.key_id,)))
    assert report.verdict is Verdict.VERIFIED, report.lines()
    assert [(c.first_seq, c.head_seq) for c in report.chains] == [(1, 3)]
