"""Reviewer exports downloaded over real HTTP (a threaded werkzeug server), where the response
body is read after the request's database session is closed, and the CLI export."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from app.accounts.models import Account, Membership, Role, User
from app.db import utcnow
from app.extensions import db
from app.ledger import chain
from app.ledger.exports import BATCH_SIZE, iter_rows
from app.ledger.models import LedgerEntry, LedgerHead
from app.ledger.verify import verify_database
from tests.conftest import sign_in_client
from tests.ledger.helpers import fill, give_reason
from tests.live_server import LiveApp, RunningEmulator, live_app

BIG = 100_000


def write_chain(account_id: int, count: int) -> None:
    """``count`` chained entries written in bulk: the same rows ``record()`` makes, minus the waiting."""
    start = utcnow() - timedelta(days=1)
    previous = chain.GENESIS
    batch: list[dict[str, object]] = []
    for seq in range(1, count + 1):
        fields: dict[str, object] = {
            "chain": f"account:{account_id}",
            "seq": seq,
            "recorded_at": chain.format_time(start + timedelta(microseconds=seq)),
            "tag": "google.request",
            "account_id": account_id,
            "user_id": 7,
            "google_account": "a" * 64,
            "kind": "read",
            "purpose": "contact_sync",
            "trigger": "schedule",
            "actor": "system",
            "outcome": "200",
            "destination": "google",
            "method": "people.connections.list",
            "records": seq % 50,
            "categories": ["names"],
            "detail": {"request_id": f"{seq:032x}"},
            "prev_hash": previous,
        }
        previous = chain.entry_hash(fields)
        row = {
            **fields,
            "hash": previous,
            "recorded_at": chain.parse_time(str(fields["recorded_at"])),
            "categories": '["names"]',
            "detail": chain.canonical(fields["detail"]).decode(),  # type: ignore[arg-type]
        }
        batch.append(row)
        if len(batch) == 10_000:
            db.session.execute(sa.insert(LedgerEntry), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(LedgerEntry), batch)
    db.session.add(LedgerHead(chain=f"account:{account_id}", seq=count, hash=previous))
    db.session.commit()


@pytest.fixture
def live(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path) as running:
        yield running


def _reviewer(app: Flask) -> tuple[int, int]:
    with app.app_context():
        account = Account(name="Exporters")
        user = User(google_sub="reviewer-sub", email="reviewer@example.com", name="Rita Reviewer")
        membership = Membership(account=account, user=user, role=Role.REVIEWER)
        db.session.add_all([account, user, membership])
        db.session.commit()
        return account.id, membership.id


def _cookies(app: Flask, membership_id: int) -> dict[str, str]:
    """A reviewer's session cookie for the live server (the same app and secret behind it),
    with the reason for reading the exports given (and recorded)."""
    with app.app_context():
        client = sign_in_client(app, db.session.get_one(Membership, membership_id))
        for path in ("/ledger/export.csv", "/ledger/export.ndjson"):
            give_reason(client, path, "legal")
        return {cookie.key: cookie.value for cookie in client._cookies.values()}


def test_exports_download_over_real_http(live: LiveApp) -> None:
    account_id, membership_id = _reviewer(live.app)
    with live.app.app_context():
        fill(account_id, 3, outcome="=cmd()", user_id=13)
        fill(account_id + 1, 2)
    cookies = _cookies(live.app, membership_id)
    got = requests.get(f"{live.url}/ledger/export.csv?user=13", cookies=cookies, timeout=30)
    assert got.status_code == 200, got.text[:500]
    assert got.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [(r["chain"], r["seq"], r["outcome"]) for r in rows] == [
        (f"account:{account_id}", str(seq), "'=cmd()") for seq in (1, 2, 3)
    ]
    got = requests.get(f"{live.url}/ledger/export.ndjson", cookies=cookies, timeout=30)
    assert got.status_code == 200, got.text[:500]
    entries = [json.loads(line) for line in got.text.splitlines()]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5], "3 entries and the 2 recorded reasons"
    assert {e["account_id"] for e in entries} == {account_id}
    assert all(chain.entry_hash(e) == e["hash"] for e in entries), "the exported form is the hashed form"


def test_a_100k_entry_export_streams_in_constant_memory(live: LiveApp) -> None:
    account_id, membership_id = _reviewer(live.app)
    with live.app.app_context():
        write_chain(account_id, BIG)
    cookies = _cookies(live.app, membership_id)
    tracemalloc.start()
    try:
        lines = 0
        body = 0
        with requests.get(
            f"{live.url}/ledger/export.ndjson", cookies=cookies, timeout=300, stream=True
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines(chunk_size=64 * 1024):
                lines += 1
                body += len(line)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == BIG + 2, "the entries and the two recorded reasons"
    # The body is some 60 MB; the server (in this process) and the client together stay at a
    # small fraction: one batch of rows plus a chunk of text (figures in docs/benchmarks.md).
    assert body > 50_000_000
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB while exporting"


def test_rows_come_in_bounded_batches_from_their_own_sessions(app: Flask) -> None:
    fill(1, 2 * BATCH_SIZE + 5)
    sizes: list[int] = []
    db.session.close()  # what a streamed response sees: the request's session is gone
    rows = list(
        iter_rows(db.engine, sa.select(LedgerEntry).where(LedgerEntry.account_id == 1), on_batch=sizes.append)
    )
    assert sizes == [BATCH_SIZE, BATCH_SIZE, 5]
    assert [r["seq"] for r in rows] == list(range(1, 2 * BATCH_SIZE + 6))
    assert verify_database(db.session).ok


def test_cli_export_includes_the_installation_chain_and_filters(app: Flask, tmp_path: Path) -> None:
    fill(1, 3, user_id=5)
    fill(None, 2, user_id=None)
    fill(2, 2)
    runner = app.test_cli_runner()
    out = tmp_path / "export.ndjson"
    result = runner.invoke(args=["ledger", "export", "--account", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    chains = [json.loads(line)["chain"] for line in out.read_text().splitlines()]
    assert chains == ["account:1"] * 3 + ["installation"] * 2
    result = runner.invoke(args=["ledger", "export", "--format", "csv", "--user", "5"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["chain"], r["user_id"]) for r in rows] == [("account:1", "5")] * 3
    result = runner.invoke(args=["ledger", "export", "--purpose", "nonsense"])
    assert result.exit_code == 2
    assert "purpose must be one of" in result.output
