"""A Google Workspace domain connected by an account admin, and what hangs off it.

A :class:`DomainConnection` lets GroupSync act for the domain's users through domain-wide
delegation: a service account signs a JWT naming the user, and Google answers with an access
token for that user's contacts. Each member whose syncs run this way has an ordinary
:class:`~app.google.models.GoogleConnection` pointing at the domain connection (no refresh
token of their own), so the sync engine sees no difference.

The customer's service-account key is held only as vault ciphertext (``key_ciphertext``);
nothing else reads or writes that column.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, DbSession, utcnow

STATEMENT_VERSION = "2026-12-01"
"""The admin's statement that the domain's users have been informed; a new text gets a new version."""


class DomainMode(StrEnum):
    INSTALLATION = "installation"
    """The installation's service account, configured by the operator (a Marketplace domain install)."""
    CUSTOMER_KEY = "customer_key"
    """The customer's own service account, whose key the admin uploaded; used only for this account."""


class DomainStatus(StrEnum):
    SETTING_UP = "setting_up"
    ACTIVE = "active"
    FAILING = "failing"
    """Google refused the connection; syncs through it are stopped until a test passes again."""


class DomainProblem(StrEnum):
    """What Google (or GroupSync's own state) says is wrong; the set-up page explains each one."""

    NONE = ""
    DELEGATION_MISSING = "delegation_missing"
    APP_UNINSTALLED = "app_uninstalled"
    USER_NOT_IN_DOMAIN = "user_not_in_domain"
    USER_DELETED = "user_deleted"
    KEY_REJECTED = "key_rejected"
    SERVICE_ACCOUNT_GONE = "service_account_gone"
    SCOPE_REFUSED = "scope_refused"
    CLOCK_WRONG = "clock_wrong"
    PEOPLE_DENIED = "people_denied"
    TOKEN_ENDPOINT_DOWN = "token_endpoint_down"  # noqa: S105 (a problem name)
    NO_KEY = "no_key"
    KEY_UNREADABLE = "key_unreadable"
    NOT_CONFIGURED = "not_configured"


def _enum(kind: type[StrEnum], length: int) -> Enum:
    return Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class DomainConnection(Base):
    """One per account: the Workspace domain its admin connected."""

    __tablename__ = "domain_connection"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), unique=True)
    domain: Mapped[str] = mapped_column(String(253))
    mode: Mapped[DomainMode] = mapped_column(_enum(DomainMode, 20))
    status: Mapped[DomainStatus] = mapped_column(_enum(DomainStatus, 20), default=DomainStatus.SETTING_UP)
    problem: Mapped[DomainProblem] = mapped_column(_enum(DomainProblem, 40), default=DomainProblem.NONE)
    problem_detail: Mapped[str] = mapped_column(Text, default="")
    """Google's error code and description, which carry no secret."""
    client_email: Mapped[str] = mapped_column(String(320), default="")
    client_id: Mapped[str] = mapped_column(String(64), default="")
    """The service account's numeric id: what the admin pastes into the Admin console."""
    key_id: Mapped[str] = mapped_column(String(64), default="")
    """The uploaded key's ``private_key_id`` (public), shown so the admin can tell keys apart."""
    key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_key_id: Mapped[str | None] = mapped_column(String(64))
    key_uploaded_at: Mapped[datetime | None] = mapped_column()
    last_tested_at: Mapped[datetime | None] = mapped_column()
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def covers(self, email: str) -> bool:
        """Whether ``email`` is an address in this domain."""
        return email.lower().rpartition("@")[2] == self.domain

    def fail(self, problem: DomainProblem, detail: str) -> None:
        self.status = DomainStatus.FAILING
        self.problem = problem
        self.problem_detail = detail[:500]


class DomainStatementAcceptance(Base):
    """The admin's confirmation that the domain's users were informed; rows are never updated."""

    __tablename__ = "domain_statement_acceptance"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    domain_connection_id: Mapped[int] = mapped_column(
        ForeignKey("domain_connection.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(40))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainAssignment(Base):
    """An admin gave a member a list to sync through the domain connection."""

    __tablename__ = "domain_assignment"
    __table_args__ = (UniqueConstraint("membership_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    domain_connection_id: Mapped[int] = mapped_column(
        ForeignKey("domain_connection.id", ondelete="CASCADE"), index=True
    )
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("crm_list.id", ondelete="CASCADE"))
    assigned_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    member_turned_off_at: Mapped[datetime | None] = mapped_column()
    """The member turned this sync off for themselves; the admin sees it and cannot override it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainNotice(Base):
    """The notice a user got before the first sync into their Contacts (e-mail and a banner)."""

    __tablename__ = "domain_notice"
    __table_args__ = (UniqueConstraint("domain_connection_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    domain_connection_id: Mapped[int] = mapped_column(
        ForeignKey("domain_connection.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    banner_seen_at: Mapped[datetime | None] = mapped_column()


def call_problem(session: DbSession, domain_connection_id: int, user_id: int) -> str | None:
    """Why no People API call may be made for this user through the domain connection, or ``None``.

    The domain's counterpart of the user's own disclosure acceptance: the connection works,
    the admin confirmed the current statement, and the user has been told.
    """
    connection = session.get(DomainConnection, domain_connection_id)
    if connection is None:
        return "domain_disconnected"
    if connection.status is not DomainStatus.ACTIVE:
        return f"domain_{connection.status.value}"
    accepted = session.scalar(
        select(DomainStatementAcceptance.id).where(
            DomainStatementAcceptance.domain_connection_id == connection.id,
            DomainStatementAcceptance.version == STATEMENT_VERSION,
        )
    )
    if accepted is None:
        return "domain_statement_not_accepted"
    notified = session.scalar(
        select(DomainNotice.id).where(
            DomainNotice.domain_connection_id == connection.id, DomainNotice.user_id == user_id
        )
    )
    return None if notified is not None else "domain_user_not_notified"
