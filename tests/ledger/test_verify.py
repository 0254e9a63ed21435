from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.extensions import db
from app.ledger import chain
from app.ledger.models import LedgerCheckpoint, LedgerEntry
from app.ledger.services import Pseudonymizer, entry_fields, make_checkpoints, record
from app.ledger.signing import Signer
from app.ledger.standalone_verify import PublicKey, Trust, Verdict
from app.ledger.verify import verify_database
from tests.ledger.helpers import fill, flow, tampering


@pytest.fixture
def signer(app: Flask) -> Signer:
    return Signer.for_settings(app.config["GROUPSYNC"])


def _first_problem(app: Flask) -> str:
    report = verify_database(db.session)
    assert not report.ok
    return str(report.problems[0])


def test_untouched_ledger_verifies_with_checkpoints(app: Flask, signer: Signer) -> None:
    fill(1, 3)
    fill(None, 2, user_id=None)
    created = make_checkpoints(db.session, signer)
    assert {(c.chain, c.seq) for c in created} == {("account:1", 3), ("installation", 2)}
    assert make_checkpoints(db.session, signer) == []  # nothing moved
    fill(1, 1)
    report = verify_database(db.session)
    assert report.ok, report.lines()
    assert report.checkpoints == 2
    assert report.warnings == []
    assert report.verdict is Verdict.INTEGRITY_ONLY, "nothing trusted was named"
    pinned = verify_database(db.session, Trust(key_ids=(signer.key_id,)))
    assert pinned.uncovered() == [("account:1", 4, 4)]
    assert pinned.verdict is Verdict.INTEGRITY_ONLY, "the live tail awaits the next checkpoint"


def test_edited_entry_is_named(app: Flask) -> None:
    fill(1, 4)
    with tampering() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET records = 999 WHERE chain = 'account:1' AND seq = 2"))
    assert _first_problem(app) == "chain account:1 seq 2: content does not match its hash (entry edited)"


def test_deleted_entry_is_named(app: Flask) -> None:
    fill(1, 4)
    with tampering() as conn:
        conn.execute(sa.text("DELETE FROM ledger_entry WHERE chain = 'account:1' AND seq = 3"))
    assert _first_problem(app) == "chain account:1 seq 3: sequence gap: expected seq 3, found 4"


def test_deleted_newest_entries_are_caught_by_head_and_checkpoint(app: Flask, signer: Signer) -> None:
    fill(1, 4)
    make_checkpoints(db.session, signer)
    with tampering() as conn:
        conn.execute(sa.text("DELETE FROM ledger_entry WHERE chain = 'account:1' AND seq = 4"))
    problems = [str(p) for p in verify_database(db.session).problems]
    assert (
        "chain account:1 seq 4: checkpoint at seq 4 but the chain ends at seq 3 (entries removed)" in problems
    )
    assert any("chain head says seq 4" in p for p in problems)


def test_reordered_entries_are_named(app: Flask) -> None:
    fill(1, 4)
    with tampering() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET seq = 100 WHERE chain = 'account:1' AND seq = 2"))
        conn.execute(sa.text("UPDATE ledger_entry SET seq = 2 WHERE chain = 'account:1' AND seq = 3"))
        conn.execute(sa.text("UPDATE ledger_entry SET seq = 3 WHERE chain = 'account:1' AND seq = 100"))
    assert _first_problem(app).startswith("chain account:1 seq 2: prev_hash does not match")


def test_inserted_entry_is_named(app: Flask) -> None:
    entries = fill(1, 3)
    second = entry_fields(entries[1])
    forged = {**second, "seq": 3, "prev_hash": second["hash"], "outcome": "forged"}
    forged["hash"] = chain.entry_hash(forged)
    with tampering() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET seq = 4 WHERE chain = 'account:1' AND seq = 3"))
        row = {k: v for k, v in forged.items() if k not in {"categories", "detail", "recorded_at"}}
        conn.execute(
            sa.insert(LedgerEntry.__table__).values(
                **row,
                recorded_at=entries[1].recorded_at,
                categories='["emailAddresses","names"]',
                detail="{}",
            )
        )
    assert _first_problem(app).startswith("chain account:1 seq 4: prev_hash does not match")


def test_consistently_rewritten_history_is_caught_by_checkpoint(app: Flask, signer: Signer) -> None:
    entries = fill(1, 3)
    make_checkpoints(db.session, signer)
    previous = entries[0].hash
    with tampering() as conn:
        for entry in entries[1:]:
            fields = {**entry_fields(entry), "prev_hash": previous, "records": 0}
            previous = chain.entry_hash(fields)
            conn.execute(
                sa.update(LedgerEntry.__table__)
                .where(LedgerEntry.__table__.c.id == entry.id)
                .values(records=0, prev_hash=fields["prev_hash"], hash=previous)
            )
        conn.execute(sa.text("UPDATE ledger_head SET hash = :h"), {"h": previous})
    assert _first_problem(app) == (
        "chain account:1 seq 3: checkpointed head hash differs from the stored entry (history rewritten)"
    )


def test_altered_checkpoint_signature_fails(app: Flask, signer: Signer) -> None:
    fill(1, 2)
    make_checkpoints(db.session, signer)
    checkpoint = db.session.scalars(sa.select(LedgerCheckpoint)).one()
    checkpoint.seq = 1
    db.session.commit()
    assert (
        _first_problem(app) == "chain account:1 seq 1: checkpoint signature is invalid (checkpoint altered)"
    )


def test_pinned_key_rejects_checkpoints_by_other_keys(app: Flask, signer: Signer, tmp_path: Path) -> None:
    fill(1, 1)
    make_checkpoints(db.session, signer)
    stranger = Signer.for_settings(app.config["GROUPSYNC"].with_overrides(instance_path=tmp_path))
    report = verify_database(db.session, Trust(keys=(PublicKey(stranger.public_key.public_bytes_raw()),)))
    assert [str(p) for p in report.problems] == [
        "chain account:1: no checkpoint signed by a trusted key covers any of this chain"
    ]
    assert report.verdict is Verdict.FAILED
    own = verify_database(db.session, Trust(key_ids=(signer.key_id,)))
    assert own.verdict is Verdict.VERIFIED, own.lines()


def test_live_ledger_verifies_while_a_writer_appends(app: Flask, signer: Signer) -> None:
    fill(1, 2)
    make_checkpoints(db.session, signer)
    engine = db.engine
    pseudonyms = Pseudonymizer(b"k" * 32)

    appended: list[int] = []

    def append_once(state: sa.orm.ORMExecuteState) -> None:
        # Right after verify has read the chain heads, another process appends to the chain.
        entity = state.statement.column_descriptions[0]["entity"] if state.is_select else None
        if entity is LedgerCheckpoint and not appended:
            with Session(engine) as other:
                appended.append(record(other, flow(1), pseudonymizer=pseudonyms).seq)
                other.commit()

    sa.event.listen(db.session, "do_orm_execute", append_once)
    try:
        report = verify_database(db.session)
    finally:
        sa.event.remove(db.session, "do_orm_execute", append_once)
    assert appended == [3]
    assert report.ok, report.lines()
    assert [c.head_seq for c in report.chains] == [3]
