"""Many-row INSERTs and UPDATEs of the mapping table, sent with the driver's own ``executemany``.

A run writes a mapping row per contact several times (the intent before a create, Google's
answer, what the run did). Through SQLAlchemy's ``execute(statement, [dict, ...])`` each row
costs a parameter dictionary built and walked bind by bind; here each row is a tuple, the
statement is compiled once per dialect, and the types' own bind processors (enums, JSON, UTC
datetimes) are applied column by column. What reaches the database is what SQLAlchemy would
have sent; every value a column default or ``onupdate`` would have filled in must be named,
so none is silently left out (compiling refuses a statement with an unnamed parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.types import TypeEngine

from app.db import DbSession

_Shape = Callable[[Sequence[Any]], Any]


class BulkWrite:
    """``statement`` run once per row of values given in ``names`` order (``types``: each name's type)."""

    def __init__(self, statement: Insert | Update, types: Mapping[str, TypeEngine[Any]]) -> None:
        self._statement = statement
        self._names = tuple(types)
        self._types = dict(types)
        self._compiled: dict[str, tuple[str, _Shape]] = {}

    def run(self, session: DbSession, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        connection = session.connection()
        sql, shape = self._for(connection.dialect)
        connection.exec_driver_sql(sql, [shape(row) for row in rows])

    def _for(self, dialect: Dialect) -> tuple[str, _Shape]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> tuple[str, _Shape]:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(self._names))
        unnamed = sorted(set(compiled.binds) - set(self._names))
        if unnamed:
            raise ValueError(f"bulk statement parameter(s) {', '.join(unnamed)} have no value")
        processors = [
            (self._names.index(name), self._types[name].dialect_impl(dialect).bind_processor(dialect))
            for name in (compiled.positiontup or self._names)
        ]
        if compiled.positiontup is not None:

            def positional(row: Sequence[Any]) -> tuple[Any, ...]:
                return tuple(row[i] if p is None else p(row[i]) for i, p in processors)

            return compiled.string, positional
        named = [(name, i, p) for name, (i, p) in zip(self._names, processors, strict=True)]

        def by_name(row: Sequence[Any]) -> dict[str, Any]:
            return {name: row[i] if p is None else p(row[i]) for name, i, p in named}

        return compiled.string, by_name
