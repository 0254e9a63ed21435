"""Bulk writes through the driver's executemany: what SQLAlchemy would have written, nothing left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, update

from app.extensions import db
from app.ledger.models import LedgerHead
from app.sync.bulk import BulkWrite
from app.sync.models import SyncedContact
from app.sync.planner import RowState

_HEADS = cast(Table, LedgerHead.__table__)
_MAPPING = cast(Table, SyncedContact.__table__)


def test_rows_are_inserted_and_updated_with_shared_and_per_row_values(app: Flask) -> None:
    inserting = BulkWrite(
        insert(_HEADS).inline(),
        {"seq": _HEADS.c.seq.type},
        {"chain": _HEADS.c.chain.type, "hash": _HEADS.c.hash.type},
    )
    inserting.run(db.session, (7,), [("account:1", "a" * 64), ("account:2", "b" * 64)])
    moving = BulkWrite(
        update(_HEADS).where(_HEADS.c.chain == bindparam("b_chain")).values(hash=bindparam("b_hash")),
        {"b_hash": _HEADS.c.hash.type},
        {"b_chain": _HEADS.c.chain.type},
    )
    moving.run(db.session, ("c" * 64,), [("account:2",)])
    db.session.commit()
    stored = db.session.execute(
        select(_HEADS.c.chain, _HEADS.c.seq, _HEADS.c.hash).order_by(_HEADS.c.chain)
    ).all()
    assert [tuple(row) for row in stored] == [("account:1", 7, "a" * 64), ("account:2", 7, "c" * 64)]


def test_a_value_a_column_default_would_fill_in_must_be_named(app: Flask) -> None:
    # updated_at has an onupdate: SQLAlchemy's own UPDATE sets it, so a bulk one must name it too.
    forgetful = BulkWrite(
        update(_MAPPING)
        .where(_MAPPING.c.sync_id == bindparam("b_sync"), _MAPPING.c.crm_id == bindparam("b_crm"))
        .values(etag=bindparam("b_etag")),
        {"b_sync": _MAPPING.c.sync_id.type},
        {"b_crm": _MAPPING.c.crm_id.type, "b_etag": _MAPPING.c.etag.type},
    )
    with pytest.raises(ValueError, match="updated_at"):
        forgetful.run(db.session, (1,), [("crm-1", "etag-1")])


def test_values_repeated_in_one_call_are_written_as_sqlalchemy_writes_each(app: Flask) -> None:
    # Equal values are processed once per call: equal instants in two zones and an enum member
    # beside its plain value must still be stored exactly as SQLAlchemy stores them one by one.
    probe = Table(
        "bulk_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("writer", String(10)),
        Column("at", _MAPPING.c.crm_updated_at.type),
        Column("state", _MAPPING.c.state.type),
    )
    probe.create(db.session.connection())
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    rows = [
        (noon, RowState.SYNCED),
        (noon.astimezone(ZoneInfo("Europe/Kyiv")), "synced"),
        (noon + timedelta(microseconds=1), RowState.INTENDED),
        (None, RowState.SYNCED),
        (noon, RowState.INTENDED),
    ]
    BulkWrite(
        insert(probe).inline(),
        {"writer": probe.c.writer.type},
        {"at": probe.c.at.type, "state": probe.c.state.type},
    ).run(db.session, ("bulk",), rows)
    db.session.execute(
        insert(probe), [{"writer": "sqlalchemy", "at": at, "state": state} for at, state in rows]
    )
    stored = (
        db.session.connection().exec_driver_sql("SELECT writer, at, state FROM bulk_probe ORDER BY id").all()
    )
    bulk = [tuple(row[1:]) for row in stored if row[0] == "bulk"]
    assert bulk == [tuple(row[1:]) for row in stored if row[0] == "sqlalchemy"]
    assert len(bulk) == len(rows)
    # The two noons are one stored value; the other rows differ.
    assert len(set(bulk)) == 4
