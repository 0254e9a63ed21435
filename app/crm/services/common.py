"""What every CRM service shares: outcomes, errors, paging, and the transaction they each own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crm.validation import FieldError, InputError, check_id
from app.db import DbSession, unit_of_work


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    ADDED = "added"
    REMOVED = "removed"
    ERROR = "error"


@dataclass(frozen=True)
class ItemResult:
    index: int
    id: str | None
    status: Outcome
    error: FieldError | None = None


class NotFoundError(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ConflictError(Exception):
    """Another transaction wrote the same CRM ids at the same moment; retrying is safe."""


class NameTakenError(ConflictError):
    """Another live list of the account already has this name (names are unique, ignoring case)."""

    def __init__(self, name: str, other_name: str, other_id: str) -> None:
        self.name, self.other_name, self.other_id = name, other_name, other_id
        super().__init__(f"a list named '{other_name}' already exists (id '{other_id}'); choose another name")


@contextmanager
def transaction(session: DbSession) -> Iterator[Session]:
    """:func:`app.db.unit_of_work`, with a unique-key race reported as :class:`ConflictError`.

    Two requests creating the same CRM ids at once both pass their checks; the database's
    unique constraint stops the second, which the client may simply retry.
    """
    try:
        with unit_of_work(session) as current:
            yield current
    except IntegrityError as exc:
        raise ConflictError("a concurrent request wrote the same ids; retry the request") from exc


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def page(session: DbSession, stmt: Select[Any], key: Any, cursor: int | None, limit: int) -> Page:
    if cursor is not None:
        stmt = stmt.where(key > cursor)
    rows = list(session.scalars(stmt.order_by(key).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


def duplicates(ids: Sequence[str | None]) -> dict[int, int]:
    """Index of each repeated id -> index of its first occurrence."""
    first: dict[str, int] = {}
    repeated: dict[int, int] = {}
    for index, ident in enumerate(ids):
        if ident is None:
            continue
        if ident in first:
            repeated[index] = first[ident]
            repeated.setdefault(first[ident], first[ident])
        else:
            first[ident] = index
    return repeated


def unique_ids(raw_ids: Sequence[object], name: str) -> tuple[list[ItemResult | None], dict[str, int]]:
    """Check each id; an id given twice is refused at every occurrence, like in a bulk upsert.

    Returns the results filled in for refused items and the accepted ids with their index.
    """
    results: list[ItemResult | None] = [None] * len(raw_ids)
    idents: list[str | None] = []
    for index, raw in enumerate(raw_ids):
        try:
            idents.append(check_id(raw, f"{name}[{index}]"))
        except InputError as exc:
            idents.append(None)
            results[index] = ItemResult(index, None, Outcome.ERROR, exc.errors[0])
    repeated = duplicates(idents)
    wanted: dict[str, int] = {}
    for index, ident in enumerate(idents):
        if ident is None:
            continue
        if index in repeated:
            message = f"'{ident}' appears more than once (first at {name}[{repeated[index]}])"
            results[index] = ItemResult(index, ident, Outcome.ERROR, FieldError(f"{name}[{index}]", message))
        else:
            wanted[ident] = index
    return results, wanted
