"""The CRM's contacts and lists as GroupSync holds them, per account (tenant).

Change signal for the sync engine
---------------------------------
:attr:`ContactList.content_changed_at` is bumped *in the same transaction* as every accepted
change that affects what a Google group mirroring the list must contain: a member added or
removed, a member's fields changed, a member deleted or restored by an admin, the list
deleted, or the list withdrawn from (or granted to) a member. A write that changes nothing
(an idempotent re-upsert) does not bump it. The sync engine polls lists whose
``content_changed_at`` is newer than its last run of that list and runs them after the
configured delay (``Settings.sync_change_delay_seconds``), which coalesces bursts.

Deletion semantics the sync engine relies on
--------------------------------------------
* A contact deleted by an admin keeps its :class:`ListMember` rows and gets ``deleted=True``
  (and a new ``updated_at``); a group mirroring one of its lists holds only members that are
  not deleted, so every such group loses it.
* A contact that left a list simply has no :class:`ListMember` row for it any more.
* A deleted list keeps its row with ``deleted_at`` set and no members, so a sync of it
  empties its group; :func:`app.crm.services.lists_available_to` no longer returns it.
* A list withdrawn from a member keeps its :class:`ListAccess` row with ``revoked_at`` set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow


class CrmContact(Base):
    """One contact of the CRM. Typed multi-values are JSON lists of plain objects.

    JSON columns keep a contact one row on SQLite and PostgreSQL alike; every value in
    them has passed :mod:`app.crm.validation`, and GroupSync never queries inside them.
    """

    __tablename__ = "crm_contact"
    __table_args__ = (UniqueConstraint("account_id", "crm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    crm_id: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(200), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    middle_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    suffix: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    birthday_year: Mapped[int | None] = mapped_column(default=None)
    birthday_month: Mapped[int | None] = mapped_column(default=None)
    birthday_day: Mapped[int | None] = mapped_column(default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    messengers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    urls: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    search_text: Mapped[str] = mapped_column(Text, default="")
    """Case-folded id, names, company and e-mails: SQLite's lower() folds ASCII only."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """``user:<id>`` (admin UI) or ``api_key:<id>`` (admin API key)."""


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
    """An uploaded CSV waiting for its column mapping (removed once imported, or a day on by retention)."""

    __tablename__ = "crm_csv_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    list_name: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
