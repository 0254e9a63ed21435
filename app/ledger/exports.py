"""CSV and NDJSON exports of ledger entries, streamed in bounded batches.

A download outlives the request that started it: by the time the client reads the body the
request's database session is closed. So an export never holds ORM rows. Each batch is read
as plain column tuples in a short session of its own (keyset pagination on the primary key),
which also means no transaction stays open while a slow client reads, and memory stays at
one batch whatever the ledger's size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session

from app.ledger import chain
from app.ledger.models import LedgerEntry

CSV_COLUMNS = (*chain.HASHED_FIELDS, "hash")
BATCH_SIZE = 1000

_COLUMNS = (LedgerEntry.id, *(getattr(LedgerEntry, name) for name in CSV_COLUMNS))

Row = dict[str, Any]


def export_statement(filtered: Select[Any]) -> Select[Any]:
    """The columns of an export, with ``filtered``'s conditions (a ``select(LedgerEntry)``)."""
    stmt = select(*_COLUMNS)
    criteria = filtered.whereclause
    return stmt if criteria is None else stmt.where(criteria)


def iter_rows(
    engine: Engine,
    filtered: Select[Any],
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[Row]:
    """Every matching entry in storage order (``id``), in exported form, ``batch_size`` at a time.

    ``on_batch`` hears each batch's size (for tests and benchmarks of the memory bound).
    """
    statement = export_statement(filtered).order_by(LedgerEntry.id).limit(batch_size)
    last_id = 0
    while True:
        with Session(engine) as session:
            batch = session.execute(statement.where(LedgerEntry.id > last_id)).all()
        if on_batch is not None:
            on_batch(len(batch))
        if not batch:
            return
        last_id = batch[-1][0]
        for row in batch:
            yield _exported(row[1:])
        if len(batch) < batch_size:
            return


def _exported(values: tuple[Any, ...]) -> Row:
    row = dict(zip(CSV_COLUMNS, values, strict=True))
    row["recorded_at"] = chain.format_time(row["recorded_at"])
    row["categories"] = json.loads(row["categories"])
    row["detail"] = json.loads(row["detail"])
    return row


CHUNK = 64 * 1024
"""Bytes of text gathered before a chunk goes out: fewer, larger writes to the socket."""


def ndjson_lines(rows: Iterator[Mapping[str, Any]]) -> Iterator[str]:
    """One canonical JSON object per line: the exact form an entry's hash covers (plus ``hash``)."""
    pending: list[str] = []
    size = 0
    for row in rows:
        line = chain.canonical(row).decode("utf-8") + "\n"
        pending.append(line)
        size += len(line)
        if size > CHUNK:
            yield "".join(pending)
            pending, size = [], 0
    yield "".join(pending)


def csv_lines(rows: Iterator[Mapping[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in CSV_COLUMNS])
        if buffer.tell() > CHUNK:
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
