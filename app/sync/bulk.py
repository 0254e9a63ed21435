"""Many-row INSERTs and UPDATEs of the mapping table, sent with the driver's own ``executemany``.

A run writes a mapping row per contact several times (the intent before a create, Google's
answer, what the run did). Through SQLAlchemy's ``execute(statement, [dict, ...])`` each row
costs a parameter dictionary built and walked bind by bind; here each row is a tuple, the
statement is compiled once per dialect, and the types' own bind processors (enums, JSON, UTC
datetimes) are applied column by column; values shared by every row (the sync, the time) are
processed once per call. What reaches the database is what SQLAlchemy would have sent; every
value a column default or ``onupdate`` would have filled in must be named, so none is silently
left out (compiling refuses a statement with an unnamed parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Dialect, Enum
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.types import TypeEngine

from app.db import DbSession, UTCDateTime

_Processor = Callable[[Any], Any] | None
_UNSEEN: Any = object()
_Shape = Callable[[Sequence[Any], Sequence[Any]], list[Any]]
"""Shared values and rows (both in their declared order) → the driver's parameter sets."""


class BulkWrite:
    """``statement`` run once per row.

    ``shared`` names the parameters every row of one call has in common, ``per_row`` the
    others, each with its type; values are given in these mappings' order.
    """

    def __init__(
        self,
        statement: Insert | Update,
        shared: Mapping[str, TypeEngine[Any]],
        per_row: Mapping[str, TypeEngine[Any]],
    ) -> None:
        self._statement = statement
        self._shared = dict(shared)
        self._per_row = dict(per_row)
        # Per dialect object: its type processors follow the engine's settings (a JSON serializer).
        self._compiled: WeakKeyDictionary[Dialect, tuple[str, _Shape]] = WeakKeyDictionary()

    def run(self, session: DbSession, shared: Sequence[Any], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        connection = session.connection()
        compiled = self._compiled.get(connection.dialect)
        if compiled is None:
            compiled = self._compiled[connection.dialect] = self._compile(connection.dialect)
        sql, shape = compiled
        connection.exec_driver_sql(sql, shape(shared, rows))

    def _compile(self, dialect: Dialect) -> tuple[str, _Shape]:
        names = [*self._shared, *self._per_row]
        compiled = self._statement.compile(dialect=dialect, column_keys=names)
        unnamed = sorted(set(compiled.binds) - set(names))
        if unnamed:
            raise ValueError(f"bulk statement parameter(s) {', '.join(unnamed)} have no value")
        order = list(compiled.positiontup or names)
        # Where each shared value goes, and each row value with its processor.
        shared_at = [
            (order.index(name), i, _processor(t, dialect)) for i, (name, t) in enumerate(self._shared.items())
        ]
        row_at = [
            (order.index(name), i, _processor(t, dialect), isinstance(t, _SAME_FOR_EQUAL))
            for i, (name, t) in enumerate(self._per_row.items())
        ]

        def shape(shared: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[Any]:
            template: list[Any] = [None] * len(order)
            for at, i, process in shared_at:
                template[at] = shared[i] if process is None else process(shared[i])
            # Values repeat within one call (a batch's rows share a state; contacts stored by one
            # CRM call share their version), and a datetime's processing costs microseconds: where
            # equal values are processed alike (_SAME_FOR_EQUAL), each is processed once per call.
            seen: list[dict[Any, Any] | None] = [{} if remember else None for *_, remember in row_at]
            out = []
            for row in rows:
                values = template.copy()
                for (at, i, process, _), done in zip(row_at, seen, strict=True):
                    value = row[i]
                    if process is None:
                        values[at] = value
                    elif done is None:
                        values[at] = process(value)
                    else:
                        processed = done.get(value, _UNSEEN)
                        if processed is _UNSEEN:
                            processed = done[value] = process(value)
                        values[at] = processed
                out.append(values)
            if compiled.positiontup is not None:
                return [tuple(values) for values in out]
            return [dict(zip(order, values, strict=True)) for values in out]

        return compiled.string, shape


_SAME_FOR_EQUAL = (UTCDateTime, Enum)
"""Types whose bind processor gives equal values the same result: UTC datetimes are converted to UTC
first (equal instants in other zones come out alike) and an enum member and its value are stored
alike. Not so for a plain ``DateTime``, which drops the zone of an aware value."""


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> _Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)
