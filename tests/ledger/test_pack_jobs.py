"""Signed evidence packs from the web: the reviewer asks, the worker (holding the key) signs."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Account, Membership, Role
from app.db import utcnow
from app.extensions import db
from app.ledger.models import EvidencePackRequest, LedgerCheckpoint, PackState
from app.ledger.signing import Signer
from app.ledger.standalone_verify import Trust, Verdict, verify_pack
from app.ledger.tasks import CLAIM_TIMEOUT, KEEP_PACKS, PENDING_PER_ACCOUNT, build_requested_packs
from app.worker.embedded import EmbeddedWorker
from tests.auth.flows import csrf_token
from tests.conftest import Factory
from tests.ledger import packs
from tests.ledger.helpers import give_reason

SignedIn = Callable[[Membership], FlaskClient]


def _ask(client: FlaskClient, **window: str) -> None:
    data = {"csrf_token": csrf_token(client, "/ledger/evidence-pack"), **window}
    response = client.post("/ledger/evidence-pack", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)


def _account_one(factory: Factory) -> Account:
    account = factory.account("Packed")
    assert account.id == 1, "the populated ledger names account 1"
    return account


def test_a_reviewer_asks_and_the_worker_signs_the_pack(
    app: Flask, factory: Factory, signed_in: SignedIn, tmp_path: Path
) -> None:
    account = _account_one(factory)
    factory.account("Other")
    packs.populate()
    reviewer = signed_in(factory.member(account, Role.REVIEWER))
    _ask(reviewer)
    page = reviewer.get("/ledger/evidence-pack").get_data(as_text=True)
    assert 'data-state="pending"' in page
    assert 'http-equiv="refresh"' in page, "the page follows the job's progress"
    assert "evidence-pack-download" not in page

    # The embedded worker runs the same chore as Celery beat.
    EmbeddedWorker(app).run_once()
    made = db.session.scalars(sa.select(EvidencePackRequest)).one()
    db.session.refresh(made)
    assert made.state is PackState.DONE, made.error
    signer = Signer.for_settings(app.config["GROUPSYNC"])
    assert made.key_id == signer.key_id
    page = reviewer.get("/ledger/evidence-pack").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    link = re.search(r'href="(/ledger/evidence-pack/\d+\.zip)"', page)
    assert link is not None
    assert 'data-testid="human-view-form"' in reviewer.get(link.group(1)).get_data(as_text=True)
    give_reason(reviewer, link.group(1), "legal")
    response = reviewer.get(link.group(1))
    assert response.mimetype == "application/zip"
    path = tmp_path / "pack.zip"
    path.write_bytes(response.data)

    report = verify_pack(path, Trust(key_ids=(signer.key_id,)))
    assert report.verdict is Verdict.VERIFIED, report.lines()
    heads = dict(
        db.session.execute(
            sa.select(LedgerCheckpoint.chain, sa.func.max(LedgerCheckpoint.seq)).group_by(
                LedgerCheckpoint.chain
            )
        ).all()
    )
    assert {r.chain: r.head_seq for r in report.chains} == {
        "account:1": heads["account:1"],
        "installation": heads["installation"],
    }, "a fresh checkpoint covers everything up to the request"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        html = archive.read("report.html").decode()
        sign_in = [json.loads(line) for line in archive.read("ledger.ndjson").splitlines()]
    assert {"documents/scopes.md", "verify.py", "FORMAT.md", "report.html", "manifest.sig"} <= names
    assert set(manifest["documents_in_force"]) == {"privacy_policy", "disclosure"}
    assert "At build time: VERIFIED" in html
    installation = [e for e in sign_in if e["chain"] == "installation"]
    assert [e.get("method") for e in installation] == ["oauth2.token.authorization_code", None]
    assert installation[1]["redacted"] is True, "another account's sign-in is redacted"


def test_members_cannot_ask_and_packs_stay_in_their_account(
    app: Flask, factory: Factory, signed_in: SignedIn
) -> None:
    ours, theirs = factory.account("Ours"), factory.account("Theirs")
    packs.populate()
    outsider = signed_in(factory.member(theirs, Role.REVIEWER))
    _ask(outsider)
    build_requested_packs(db.session(), app.config["GROUPSYNC"], utcnow())
    made = db.session.scalars(sa.select(EvidencePackRequest)).one()
    reviewer = signed_in(factory.member(ours, Role.REVIEWER))
    assert reviewer.get(f"/ledger/evidence-pack/{made.id}.zip").status_code == 404
    member = signed_in(factory.member(ours, Role.MEMBER))
    assert member.get("/ledger/evidence-pack").status_code == 403


def test_a_pack_without_the_key_fails_visibly(
    app: Flask, factory: Factory, signed_in: SignedIn, tmp_path: Path
) -> None:
    account = _account_one(factory)
    packs.populate()
    _ask(signed_in(factory.member(account, Role.ADMIN)), **{"from": "2026-01-01"})
    keyless = app.config["GROUPSYNC"].with_overrides(ledger_signing_key_file=tmp_path / "absent.pem")
    assert build_requested_packs(db.session(), keyless, utcnow()) == 0
    made = db.session.scalars(sa.select(EvidencePackRequest)).one()
    assert made.state is PackState.FAILED
    assert "absent.pem cannot be read" in made.error
    assert made.content is None


def test_requests_are_bounded_and_a_dead_workers_claim_expires(
    app: Flask, factory: Factory, signed_in: SignedIn
) -> None:
    account = _account_one(factory)
    packs.populate()
    reviewer = signed_in(factory.member(account, Role.REVIEWER))
    for _ in range(PENDING_PER_ACCOUNT + 1):
        _ask(reviewer)
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(EvidencePackRequest)) == PENDING_PER_ACCOUNT
    )
    assert "already being made" in reviewer.get("/ledger/evidence-pack").get_data(as_text=True)
    now = utcnow()
    db.session.execute(
        sa.update(EvidencePackRequest).values(state=PackState.RUNNING, claimed_at=now - timedelta(minutes=1))
    )
    db.session.commit()
    settings = app.config["GROUPSYNC"]
    assert build_requested_packs(db.session(), settings, now) == 0, "a live claim is left alone"
    assert build_requested_packs(db.session(), settings, now + CLAIM_TIMEOUT) == PENDING_PER_ACCOUNT
    assert build_requested_packs(db.session(), settings, now + CLAIM_TIMEOUT + KEEP_PACKS) == 0
    kept = db.session.scalar(sa.select(sa.func.count()).select_from(EvidencePackRequest))
    assert kept == PENDING_PER_ACCOUNT, "kept for a week"
    build_requested_packs(db.session(), settings, now + CLAIM_TIMEOUT + KEEP_PACKS + timedelta(seconds=1))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidencePackRequest)) == 0
