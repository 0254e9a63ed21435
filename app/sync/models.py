"""Sync state: which CRM list mirrors into which Google group, the contact mapping, run history, leases.

GroupSync stores nothing of Google's contact content here: resource names, etags, a hash
of the fields it wrote, and its own tag.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow
from app.sync.planner import RowState


def _enum(kind: type[StrEnum], length: int) -> Enum:
    return Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class SyncStatus(StrEnum):
    NEW = "new"
    OK = "ok"
    FAILED = "failed"
    """A transient failure (Google 5xx after retries, network); the next run tries again."""
    NEEDS_RECONNECT = "needs_reconnect"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    """The user has not accepted the disclosure or privacy policy in force; runs resume once they do."""
    GROUP_DELETED_BY_USER = "group_deleted_by_user"
    QUOTA = "quota"
    GOOGLE_CONTACT_LIMIT = "google_contact_limit"
    AWAITING_MASS_DELETE_CONFIRMATION = "awaiting_mass_delete_confirmation"

    @property
    def halts(self) -> bool:
        """States a scheduled run must not leave on its own: a person has to act first."""
        # Not NEEDS_RECONNECT: runs resume by themselves once the connection is usable again.
        return self in {
            SyncStatus.GROUP_DELETED_BY_USER,
            SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION,
        }


class RunOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    BLOCKED = "blocked"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    """The process died or lost its lease; a later run picked the sync up."""


class ContactAction(StrEnum):
    """What the last run that wrote a contact did with it (recorded with the batch that did it)."""

    CREATED = "created"
    RECREATED = "recreated"
    """The user had deleted GroupSync's copy in Google; it was created again."""
    ADOPTED = "adopted"
    """An earlier create had reached Google unconfirmed; this run found the contact and kept it."""
    UPDATED = "updated"
    READDED = "readded"
    """The user had taken it out of GroupSync's group; it was put back."""
    FAILED = "failed"
    """Google refused the write (``last_reason`` holds Google's words); the next run tries again."""


class RemovalKind(StrEnum):
    DELETED = "deleted"
    RELEASED = "released"
    """Kept by the user in an own group: only taken out of GroupSync's group."""


def _new_tag() -> str:
    return uuid.uuid4().hex


class ContactSync(Base):
    """One member's CRM list mirrored into one group of their Google account."""

    __tablename__ = "contact_sync"
    __table_args__ = (UniqueConstraint("membership_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("crm_list.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connection.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[SyncStatus] = mapped_column(_enum(SyncStatus, 40), default=SyncStatus.NEW)
    status_detail: Mapped[str] = mapped_column(Text, default="")
    tag: Mapped[str] = mapped_column(String(32), unique=True, default=_new_tag)
    """GroupSync's clientData marker value on this sync's group and contacts."""

    group_resource_name: Mapped[str | None] = mapped_column(String(255))
    group_etag: Mapped[str | None] = mapped_column(String(255))
    group_name: Mapped[str] = mapped_column(String(255), default="")
    group_create_sent: Mapped[bool] = mapped_column(default=False)
    """A group create was sent and its answer not recorded yet (an empty group may be left over)."""

    sync_token: Mapped[str | None] = mapped_column(Text)
    """Unused: GroupSync no longer lists the account (``connections.list``); kept for the schema."""
    last_full_sync_at: Mapped[datetime | None] = mapped_column()
    """When a run last compared every member of the group (the first run, or a repair run)."""

    mass_delete_confirmed: Mapped[bool] = mapped_column(default=False)
    """An admin confirmed the pending mass delete; the next run applies it and clears this."""

    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    requested_trigger: Mapped[str | None] = mapped_column(String(20), default=None)
    """Why a person made the sync due (``user_sync_now``, ``user_action``, ``admin``); the scheduler
    hands it to the run so the ledger names who asked, then clears it."""
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncedContact(Base):
    """The mapping of one CRM contact to its Google contact within one sync."""

    __tablename__ = "synced_contact"
    __table_args__ = (
        UniqueConstraint("sync_id", "crm_id"),
        Index("ix_synced_contact_sync_id_resource_name", "sync_id", "resource_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_id: Mapped[int] = mapped_column(ForeignKey("contact_sync.id", ondelete="CASCADE"))
    crm_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[RowState] = mapped_column(_enum(RowState, 20))
    resource_name: Mapped[str | None] = mapped_column(String(255))
    etag: Mapped[str | None] = mapped_column(String(255))
    field_hash: Mapped[str | None] = mapped_column(String(64))
    """Hash of the owned fields Google holds (:func:`app.sync.mapping.field_hash`)."""
    crm_hash: Mapped[str | None] = mapped_column(String(64))
    """Hash of the owned fields the CRM wants, as of ``crm_updated_at``."""
    crm_updated_at: Mapped[datetime | None] = mapped_column()
    """The CRM contact's ``updated_at`` behind ``crm_hash``: an unchanged contact is not re-read."""
    not_carried: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deleted_in_google_at: Mapped[datetime | None] = mapped_column()
    """The user deleted GroupSync's copy in Google (it was re-created unless ``stop_syncing``)."""
    stop_syncing: Mapped[bool] = mapped_column(default=False)
    last_action: Mapped[ContactAction | None] = mapped_column(_enum(ContactAction, 20), default=None)
    """What the run ``last_run_id`` did with this contact; ``None`` until a run writes it."""
    last_run_id: Mapped[int | None] = mapped_column(default=None)
    """The run that last wrote this contact (no foreign key: runs go only with their sync)."""
    last_reason: Mapped[str] = mapped_column(Text, default="")
    """Google's words when it refused the last write (``last_action`` is ``failed``)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sync: Mapped[ContactSync] = relationship()


def has_not_carried() -> ColumnElement[bool]:
    """SQL test for a mapping row reporting at least one value Google could not take.

    An empty report is stored as ``[]``: anything longer lists at least one value.
    """
    return func.length(cast(SyncedContact.not_carried, String)) > 2


class SyncRun(Base):
    """One run of a sync, with what it did; the sync-health page shows these."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_sync_id_started_at", "sync_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_id: Mapped[int] = mapped_column(ForeignKey("contact_sync.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[RunOutcome] = mapped_column(_enum(RunOutcome, 20), default=RunOutcome.RUNNING)
    message: Mapped[str] = mapped_column(Text, default="")
    full_resync: Mapped[bool] = mapped_column(default=False)
    in_sync: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    recreated: Mapped[int] = mapped_column(default=0)
    adopted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    released: Mapped[int] = mapped_column(default=0)
    """Left the list but kept by the user in an own group: only taken out of GroupSync's group."""
    readded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    not_carried: Mapped[int] = mapped_column(default=0)
    """Contacts with at least one value Google could not take (details on their mapping rows)."""
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    """Write requests (batches) applied and planned."""
    contacts_done: Mapped[int] = mapped_column(default=0)
    contacts_total: Mapped[int] = mapped_column(default=0)
    """Contacts this run writes (creates, updates, deletes, group changes), and how many it has."""
    google_requests: Mapped[int] = mapped_column(default=0)


class SyncRemoval(Base):
    """A contact a run took out of GroupSync's group, so the user can see what went.

    Only the CRM id is kept: the name shown comes from the CRM while it still holds the contact,
    so erasing a contact in the CRM leaves nothing personal here.
    """

    __tablename__ = "sync_removal"

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_id: Mapped[int] = mapped_column(ForeignKey("contact_sync.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), index=True)
    crm_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[RemovalKind] = mapped_column(_enum(RemovalKind, 20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncLease(Base):
    """At most one running sync per Google account, across processes and machines.

    A row exists while a run holds the account; it is taken by inserting it (the primary key
    makes concurrent takers fail) or by replacing an expired one, and renewed as batches land.
    """

    __tablename__ = "sync_lease"

    google_account: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    sync_id: Mapped[int | None] = mapped_column(ForeignKey("contact_sync.id", ondelete="SET NULL"))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
