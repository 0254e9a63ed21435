from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.ledger import chain
from app.ledger.models import LedgerEntry, LedgerHead
from app.ledger.services import record
from tests.ledger.helpers import flow


def test_record_appends_gapless_chain_per_account(app: Flask) -> None:
    first = record(db.session, flow(1))
    second = record(db.session, flow(1))
    other = record(db.session, flow(2))
    installation = record(db.session, flow(None, user_id=None))
    db.session.commit()
    assert (first.chain, first.seq, first.prev_hash) == ("account:1", 1, chain.GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert (other.chain, other.seq) == ("account:2", 1)
    assert (installation.chain, installation.seq) == ("installation", 1)
    heads = {h.chain: (h.seq, h.hash) for h in db.session.scalars(select(LedgerHead))}
    assert heads["account:1"] == (2, second.hash)


def test_record_stores_google_account_only_as_keyed_hash(app: Flask) -> None:
    entry = record(db.session, flow())
    db.session.commit()
    stored = db.session.scalars(select(LedgerEntry)).one()
    assert stored.google_account == entry.google_account
    assert stored.google_account is not None
    assert len(stored.google_account) == 64
    assert "google-sub-123" not in json.dumps(
        [getattr(stored, c.key) for c in LedgerEntry.__table__.c], default=str
    )
    again = record(db.session, flow())
    assert again.google_account == entry.google_account  # linkable


def test_record_participates_in_callers_transaction(app: Flask) -> None:
    record(db.session, flow())
    db.session.rollback()
    assert db.session.scalars(select(LedgerEntry)).all() == []
    entry = record(db.session, flow())
    assert entry.seq == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"actor": "bob"}, "actor"),
        ({"detail": {"who": "a@b.example"}}, "e-mail"),
        ({"detail": {"Bad Key": 1}}, "lower_snake_case"),
        ({"outcome": ""}, "outcome"),
    ],
)
def test_record_refuses_sensitive_or_malformed_flows(
    app: Flask, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        record(db.session, flow(**changes))
    assert db.session.scalars(select(LedgerEntry)).all() == []
