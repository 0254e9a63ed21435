"""Declarative base and shared column types for every domain package's models."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, registry, scoped_session

DbSession = Session | scoped_session[Any]
"""What services take: a plain session (workers, scripts) or Flask-SQLAlchemy's scoped one."""

# Stable constraint names so Alembic autogenerate produces the same migration on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on, and the write-ahead log, for every SQLite connection.

    SQLite ignores foreign keys (and so ON DELETE CASCADE) unless each connection asks for
    them. With the write-ahead log, pages read while the worker writes do not wait for it,
    and a commit appends to one file instead of writing, syncing and deleting a journal (about
    half the CPU of the ledger's two commits per Google request). ``synchronous`` stays FULL:
    a committed ledger entry survives a power loss. (An in-memory database keeps its own mode.)
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


def plain(session: DbSession) -> Session:
    """The request's or thread's actual session behind a scoped one."""
    return session() if isinstance(session, scoped_session) else session


@contextmanager
def unit_of_work(session: DbSession, *, expire_on_commit: bool = True) -> Iterator[Session]:
    """One transaction owned by a service: committed when the block ends, rolled back if it raises.

    Services open one of these around each step that must be all-or-nothing, and never call
    ``commit`` elsewhere; callers (views, tasks, flows) therefore never see half a step.
    ``expire_on_commit=False`` suits long runs that keep thousands of loaded rows and know
    nobody else changes them meanwhile.
    """
    current = plain(session)
    previous = current.expire_on_commit
    current.expire_on_commit = expire_on_commit
    try:
        yield current
        current.commit()
    except BaseException:
        current.rollback()
        raise
    finally:
        current.expire_on_commit = previous
