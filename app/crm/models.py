"""The CRM's contacts and lists as GroupSync holds them, per account (tenant).

Change signal for the sync engine
---------------------------------
:attr:`ContactList.content_changed_at` is bumped *in the same transaction* as every accepted
change that affects what a Google group mirroring the list must contain: a member added or
removed, a member's fields changed, a member deleted or restored by an admin, or the list
deleted. A list granted to or withdrawn from one member concerns only that member's sync: the
scheduler reads it from the :class:`ListAccess` row's ``granted_at`` / ``revoked_at`` instead
(``app.worker.tasks.mark_changed_lists_due``). A write that changes nothing
(an idempotent re-upsert) does not bump it. The sync engine polls lists whose
``content_changed_at`` is newer than its last run of that list and runs them after the
configured delay (``Settings.sync_change_delay_seconds``), which coalesces bursts.

Deletion semantics the sync engine relies on
--------------------------------------------
* A contact deleted by an admin keeps its :class:`ListMember` rows and gets ``deleted=True``
  (and a new ``updated_at``); a group mirroring one of its lists holds only members that are
  not deleted, so every such group loses it. A deletion made on the admin page sets
  ``undo_until`` (one sync interval on): until then the admin may undo it and the sync still
  holds the contact, so it leaves Google only once nobody can undo any more.
* A contact that left a list simply has no :class:`ListMember` row for it any more.
* A deleted list keeps its row with ``deleted_at`` set and no members, so a sync of it
  empties its group; :func:`app.crm.services.lists_available_to` no longer returns it.
* A list withdrawn from a member keeps its :class:`ListAccess` row with ``revoked_at`` set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, Final

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
)
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column, relationship

from app.contact_fields import (
    CONTACT_FIELDS,
    Birthday,
    ContactData,
    FieldSpec,
    Kind,
    Messenger,
    PostalAddress,
    TypedValue,
)
from app.db import Base, utcnow


class CrmContact(Base):
    """One contact of the CRM: one or more columns per field of the table in :mod:`app.contact_fields`.

    The field columns are added from that table below the class (:data:`FIELD_COLUMNS`), so they
    are reached through :func:`to_contact_data` and :func:`apply_contact_data`, not by name.
    Typed multi-values are JSON lists of plain objects: JSON columns keep a contact one row on
    SQLite and PostgreSQL alike; every value in them has passed :mod:`app.crm.validation`, and
    GroupSync never queries inside them.
    """

    __tablename__ = "crm_contact"
    __table_args__ = (UniqueConstraint("account_id", "crm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    crm_id: Mapped[str] = mapped_column(String(128))
    search_text: Mapped[str] = mapped_column(Text, default="")
    """Case-folded id and searchable fields: SQLite's lower() folds ASCII only."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """``user:<id>`` (admin UI), ``api_key:<id>`` (admin API key) or ``data_request:<id>`` (a person's
    deletion request, answered by an admin: the fields are blanked too)."""
    undo_until: Mapped[datetime | None] = mapped_column(default=None)
    """An admin deleted it on a page and may undo that until then; until then the sync still
    treats it as live (:class:`app.sync.loaders.ListSource`), so nothing leaves Google early."""


_BIRTHDAY_PARTS: Final = ("year", "month", "day")
_ITEMS: Final[dict[Kind, type[TypedValue | PostalAddress | Messenger]]] = {
    Kind.EMAILS: TypedValue,
    Kind.PHONES: TypedValue,
    Kind.URLS: TypedValue,
    Kind.ADDRESSES: PostalAddress,
    Kind.MESSENGERS: Messenger,
}
"""The value class of each multi-valued kind, stored as a JSON list of its fields."""


def _columns(spec: FieldSpec) -> dict[str, MappedColumn[Any]]:
    if spec.kind is Kind.TEXT:
        # Long text goes to TEXT: PostgreSQL and SQLite treat it alike, and no index needs a bound.
        kind = String(spec.max_length) if spec.max_length <= 255 else Text
        return {spec.name: mapped_column(kind, default="", nullable=False)}
    if spec.kind is Kind.BIRTHDAY:
        return {f"{spec.name}_{part}": mapped_column(Integer, default=None) for part in _BIRTHDAY_PARTS}
    return {spec.name: mapped_column(JSON, default=list, nullable=False)}


FIELD_COLUMNS: Final[dict[str, tuple[str, ...]]] = {}
"""Each field's column names."""
for _spec in CONTACT_FIELDS:
    _made = _columns(_spec)
    FIELD_COLUMNS[_spec.name] = tuple(_made)
    for _name, _column in _made.items():
        setattr(CrmContact, _name, _column)


ContactReader = Callable[[Sequence[Any]], ContactData]
"""A contact from its columns' values: ``crm_id``, ``updated_at``, then :data:`FIELD_COLUMNS` in order."""


def _reader(decode: Callable[[Any], Any]) -> ContactReader:
    """A :data:`ContactReader` compiled from the field table; ``decode`` turns a JSON column's value
    into its list (identity for ORM attributes, a JSON parser for a column read as text).

    What to read and how is decided here once per field, not once per contact: the sync engine
    reads every contact of a list this way at each repair run.
    """
    steps: list[Callable[[Sequence[Any]], Any]] = []
    at = 2
    for spec in CONTACT_FIELDS:
        if spec.kind is Kind.TEXT:
            steps.append(itemgetter(at))
        elif spec.kind is Kind.BIRTHDAY:
            year, month, day = at, at + 1, at + 2

            def birthday(values: Sequence[Any], year: int = year, month: int = month, day: int = day) -> Any:
                if values[month] is None or values[day] is None:
                    return None
                return Birthday(month=values[month], day=values[day], year=values[year])

            steps.append(birthday)
        else:
            item, index = _ITEMS[spec.kind], at

            def items(values: Sequence[Any], item: Any = item, index: int = index) -> Any:
                value = values[index]
                # Most contacts leave most of these empty; a JSON column read as text says so as "[]".
                if not value or value == "[]":
                    return ()
                return tuple([item(**entry) for entry in decode(value)])

            steps.append(items)
        at += len(FIELD_COLUMNS[spec.name])
    steps.append(itemgetter(1))  # updated_at: last, as ContactData declares it
    # Positional, in the dataclass's own order (checked here once): keywords cost a dictionary a contact.
    order = [f.name for f in dataclasses.fields(ContactData)]
    if order != ["crm_id", *(spec.name for spec in CONTACT_FIELDS), "updated_at"]:
        raise RuntimeError("ContactData's fields are not crm_id, the field table in order, updated_at")

    def read(values: Sequence[Any]) -> ContactData:
        return ContactData(values[0], *[step(values) for step in steps])

    return read


_COLUMN_NAMES: Final = ("crm_id", "updated_at", *(c for names in FIELD_COLUMNS.values() for c in names))
_from_orm: Final = _reader(lambda value: value)
read_contact_row: Final = _reader(orjson.loads)
"""A contact from a plain row of :func:`contact_row_columns` (no ORM object, JSON parsed by orjson)."""


def contact_row_columns() -> list[ColumnElement[Any]]:
    """The columns :data:`read_contact_row` reads; JSON columns as their text (parsed faster there)."""
    table = CrmContact.__table__.c
    return [
        cast(table[name], Text) if isinstance(table[name].type, JSON) else table[name]
        for name in _COLUMN_NAMES
    ]


def _write(row: CrmContact, spec: FieldSpec, value: Any) -> None:
    if spec.kind is Kind.TEXT:
        setattr(row, spec.name, value)
    elif spec.kind is Kind.BIRTHDAY:
        for part in _BIRTHDAY_PARTS:
            setattr(row, f"{spec.name}_{part}", getattr(value, part) if value is not None else None)
    else:
        setattr(row, spec.name, [dataclasses.asdict(item) for item in value])


def _search_words(spec: FieldSpec, value: Any) -> list[str]:
    if not spec.searchable:
        return []
    if spec.kind is Kind.TEXT:
        return [value]
    return [item.value for item in value]


def to_contact_data(row: CrmContact) -> ContactData:
    """The value object the sync engine works on (never the ORM row)."""
    return _from_orm([getattr(row, name) for name in _COLUMN_NAMES])


def apply_contact_data(row: CrmContact, data: ContactData) -> None:
    """Write every field of ``data`` into ``row`` and refresh its search text."""
    words = [data.crm_id]
    for spec in CONTACT_FIELDS:
        value = getattr(data, spec.name)
        _write(row, spec, value)
        words.extend(_search_words(spec, value))
    row.search_text = " ".join(words).casefold()


class ContactList(Base):
    """A CRM contact list; see the module docstring for ``content_changed_at``."""

    __tablename__ = "crm_list"
    __table_args__ = (UniqueConstraint("account_id", "crm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    crm_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    def bump(self, when: datetime | None = None) -> None:
        self.content_changed_at = when or utcnow()


_LIVE_LIST = ContactList.deleted_at.is_(None)
Index(
    "uq_crm_list_live_name",
    ContactList.account_id,
    func.lower(ContactList.name),
    unique=True,
    sqlite_where=_LIVE_LIST,
    postgresql_where=_LIVE_LIST,
)
"""Two live lists of an account never share a name, ignoring case: CSV import picks its list by name.

The services compare with :func:`str.casefold` (SQLite's ``lower()`` folds ASCII only); this
index is what stops two concurrent requests."""


class ListMember(Base):
    __tablename__ = "crm_list_member"
    __table_args__ = (Index("ix_crm_list_member_contact_id", "contact_id"),)

    list_id: Mapped[int] = mapped_column(ForeignKey("crm_list.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("crm_contact.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListAccess(Base):
    """An admin made a list available to a member; ``revoked_at`` records its withdrawal."""

    __tablename__ = "crm_list_access"
    __table_args__ = (UniqueConstraint("list_id", "membership_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("crm_list.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(64), default=None)

    contact_list: Mapped[ContactList] = relationship()


class ApiKey(Base):
    """A per-account key for the CRM-facing API; only the SHA-256 of the secret is kept."""

    __tablename__ = "crm_api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the secret, enough to tell keys apart in the UI."""
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    form_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True, unique=True)
    """SHA-256 of the single-use token of the form that created the key: that form sent again
    (a reload, a double click, even at the same instant) cannot create a second key."""


class CrmSettings(Base):
    """Per-account CRM options an admin sets in the UI."""

    __tablename__ = "crm_settings"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    default_phone_region: Mapped[str | None] = mapped_column(String(2), default=None)
    """ISO 3166-1 alpha-2 region for phone numbers written without a leading ``+``."""


class CsvUpload(Base):
    """An uploaded CSV waiting for its column mapping; once imported, its report instead of its content.

    The row goes a day on (retention), so the report page can be reloaded until then and the
    same import sent twice (a reload, Back) finds the report instead of importing again.
    """

    __tablename__ = "crm_csv_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    list_name: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    imported_at: Mapped[datetime | None] = mapped_column(default=None)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
