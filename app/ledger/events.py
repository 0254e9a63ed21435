"""The vocabulary of the Limited Use ledger: what every recorded flow of Google data says.

Every value here is from a closed list, so a reviewer can enumerate what GroupSync can
possibly do with Google data. :class:`Flow` is what callers hand to
``app.ledger.services.record``; it never carries contact values, tokens or e-mail addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class EventTag(StrEnum):
    """Namespaced event tags (``area.event``)."""

    GOOGLE_REQUEST_STARTED = "google.request_started"
    """Written and committed before a request to Google is sent (write-ahead)."""
    GOOGLE_REQUEST = "google.request"
    """A request's outcome: Google's HTTP status, or how the transport failed."""
    DISCLOSURE_ACCEPTED = "consent.disclosure_accepted"
    CONSENT_GRANTED = "consent.scopes_granted"
    CONSENT_DENIED = "consent.denied"
    TOKEN_REFRESHED = "token.refreshed"
    TOKEN_REFRESH_FAILED = "token.refresh_failed"
    CONNECTION_REVOKED = "connection.revoked"
    SYNC_ENABLED = "sync.enabled"
    SYNC_DISABLED = "sync.disabled"
    DATA_EXPORTED = "user_data.exported"
    DATA_DELETED = "user_data.deleted"
    RETENTION_PURGED = "retention.purged"
    HUMAN_VIEW = "access.human_view"
    DOMAIN_CONNECTED = "domain.connected"
    DOMAIN_KEY_STORED = "domain.key_stored"
    DOMAIN_KEY_REMOVED = "domain.key_removed"
    DOMAIN_TESTED = "domain.tested"
    DOMAIN_STATEMENT_ACCEPTED = "consent.domain_statement_accepted"
    """The admin confirmed the domain's users were informed (the domain's disclosure acceptance)."""
    DOMAIN_USER_NOTIFIED = "consent.domain_user_notified"
    """A user was told, before the first sync into their Contacts, what the domain's admin set up."""
    INCIDENT_NOTIFIED = "security.incident_notified"
    """A user was told of a breach that may have exposed their data (e-mail and sign-in notice)."""
    POLICY_NOTICE_SENT = "consent.policy_notice_sent"
    """A user was e-mailed that a new privacy-policy version takes effect on a set date."""


class FlowKind(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MEMBERSHIP = "membership"
    TOKEN = "token"
    LIFECYCLE = "lifecycle"


class Purpose(StrEnum):
    """Each purpose is tied to a user-facing feature; there is deliberately no analytics or ads purpose."""

    SIGN_IN = "sign_in"
    CONTACT_SYNC = "contact_sync"
    ACCOUNT_CONNECTION = "account_connection"
    USER_DATA_RIGHTS = "user_data_rights"
    SECURITY = "security"
    LEGAL = "legal"
    RETENTION = "retention"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    CRM_CHANGE = "crm_change"
    USER_SYNC_NOW = "user_sync_now"
    USER_ACTION = "user_action"
    ADMIN = "admin"
    SYSTEM = "system"


class DataCategory(StrEnum):
    NAMES = "names"
    ORGANIZATIONS = "organizations"
    EMAIL_ADDRESSES = "emailAddresses"
    PHONE_NUMBERS = "phoneNumbers"
    BIRTHDAYS = "birthdays"
    BIOGRAPHIES = "biographies"
    ADDRESSES = "addresses"
    IM_CLIENTS = "imClients"
    URLS = "urls"
    MEMBERSHIPS = "memberships"
    CLIENT_DATA = "clientData"
    CONTACT_GROUPS = "contactGroups"
    METADATA = "metadata"
    OAUTH_TOKENS = "oauthTokens"
    IDENTITY = "identity"
    """Sign-in identity: Google's ``sub``, e-mail and name from the ID token."""


class Destination(StrEnum):
    """Where data went. There is no third-party destination by construction."""

    GOOGLE = "google"
    GROUPSYNC_STORE = "groupsync_store"


class HumanViewReason(StrEnum):
    """The only reasons a person may read Google-derived data (Limited Use)."""

    USER_CONSENT = "user_consent"
    SECURITY = "security"
    LEGAL = "legal"


@dataclass(frozen=True)
class Flow:
    """One ledger entry as the caller describes it.

    ``google_account`` is Google's ``sub``: the ledger stores only a keyed hash of it.
    ``detail`` holds small, non-sensitive extras (disclosure version, granted scopes, a
    human-view reason, an HTTP status); never contact values, tokens or e-mail addresses.
    """

    tag: EventTag
    account_id: int | None
    """``None`` only before a tenant is known (a failed first sign-in): the installation-wide chain."""
    kind: FlowKind
    purpose: Purpose
    trigger: Trigger
    actor: str
    """``system`` or ``user:<id>``."""
    outcome: str
    destination: Destination
    user_id: int | None = None
    google_account: str | None = None
    method: str | None = None
    records: int = 0
    categories: frozenset[DataCategory] = frozenset()
    detail: Mapping[str, str | int | bool] = field(default_factory=dict)
