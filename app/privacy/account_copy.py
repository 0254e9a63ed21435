"""A whole account's rows as one JSON document, and putting them back: the copy kept after deletion.

The rows are exactly those :func:`app.privacy.rights.erase_account` deletes (the same closure
over deleting foreign keys), less what must not come back: sign-in sessions and their details,
and sync leases. Values are written by column type (binary as base64, times as ISO 8601), so
the document round-trips through JSON and loads into SQLite or PostgreSQL alike.

The document is plaintext only in memory: :mod:`app.flows.inactivity` seals it with the token
vault before it is stored, and opens it only to restore.

Loading keeps every row's id when it is free. An id taken meanwhile (SQLite reuses the highest
deleted id; a person who signed up again got a new user row) is replaced, and every reference
to it in the copy follows: a person who signed up again is matched by their Google ``sub``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Table, insert, select
from sqlalchemy.orm import Session

from app.db import Base, UTCDateTime

FORMAT = "groupsync-account-copy/1"
_NOT_COPIED = frozenset({"login_session", "sync_lease"})
"""Sessions must not come back to life with a restored account; a lease belongs to a run long over."""


class CopyError(Exception):
    """The copy cannot be put back as it is; the message says why and nothing was stored."""


def _encode(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _decode(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value)
    if isinstance(column.type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value


def _copied(chosen: Mapping[Table, ColumnElement[bool]]) -> list[Table]:
    """The chosen tables, parents first, less the ones left out and everything hanging off them."""
    skipped: set[str] = set()
    tables = []
    for table in Base.metadata.sorted_tables:
        if table not in chosen:
            continue
        parents = {fk.column.table.name for fk in table.foreign_keys}
        if table.name in _NOT_COPIED or parents & skipped:
            skipped.add(table.name)
            continue
        tables.append(table)
    return tables


def dump(session: Session, account_id: int, chosen: Mapping[Table, ColumnElement[bool]]) -> tuple[str, int]:
    """The account's rows as a JSON document and how many rows it holds."""
    tables: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for table in _copied(chosen):
        order = list(table.primary_key.columns)
        rows = session.execute(select(table).where(chosen[table]).order_by(*order)).mappings()
        encoded = [{c.name: _encode(c, row[c.name]) for c in table.columns} for row in rows]
        if encoded:
            tables[table.name] = encoded
            count += len(encoded)
    document = {"format": FORMAT, "account_id": account_id, "tables": tables}
    return json.dumps(document, ensure_ascii=False, sort_keys=True), count


def _single_id(table: Table) -> bool:
    keys = list(table.primary_key.columns)
    return len(keys) == 1 and keys[0].name == "id" and not keys[0].foreign_keys


@dataclass(frozen=True)
class Loaded:
    account_id: int
    """The restored account's id: the one it had, unless that id was taken meanwhile."""
    rows: dict[str, int]


def load(session: Session, text: str) -> Loaded:
    """Insert the copy's rows in the caller's transaction; returns the account's id and rows per table.

    Raises :class:`CopyError` when the document is not a copy; a row that still cannot be
    inserted raises the database's error, and the caller's transaction stores nothing.
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise CopyError("the copy is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CopyError(f"the copy is not in the {FORMAT} format")
    tables_by_name = {table.name: table for table in Base.metadata.sorted_tables}
    unknown = set(document["tables"]) - set(tables_by_name)
    if unknown:
        raise CopyError(f"the copy holds tables this version does not have: {', '.join(sorted(unknown))}")
    new_ids: dict[str, dict[int, int]] = {}
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        rows = document["tables"].get(table.name)
        if not rows:
            continue
        ids = new_ids.setdefault(table.name, {})
        for raw in rows:
            row = {c.name: _decode(c, raw.get(c.name)) for c in table.columns if c.name in raw}
            for fk in table.foreign_keys:
                moved = new_ids.get(fk.column.table.name, {})
                value = row.get(fk.parent.name)
                if value in moved:
                    row[fk.parent.name] = moved[value]
            if table.name == "user" and _same_person(session, table, row, ids):
                continue
            if _single_id(table) and session.scalar(select(table.c.id).where(table.c.id == row["id"])):
                old = row.pop("id")
                ids[old] = int(session.execute(insert(table).values(row).returning(table.c.id)).scalar_one())
            else:
                session.execute(insert(table).values(row))
            counts[table.name] = counts.get(table.name, 0) + 1
    account_id = int(document["account_id"])
    return Loaded(new_ids.get("account", {}).get(account_id, account_id), counts)


def _same_person(session: Session, table: Table, row: dict[str, Any], ids: dict[int, int]) -> bool:
    """A person of the copy who has a user row again (signed up anew): refer to that row instead."""
    existing = session.scalar(select(table.c.id).where(table.c.google_sub == row["google_sub"]))
    if existing is None:
        return False
    ids[row["id"]] = int(existing)
    return True
