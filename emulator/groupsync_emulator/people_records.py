"""What the People emulator stores and is configured with: accounts, contacts, groups, sync tokens,
fault plans and quotas, with the constants and small helpers the ``people_*`` modules share.

These classes are pickled into the state file. A file written before they moved here names them
``groupsync_emulator.people_state.…``, which still re-exports them; renaming one (``_Token`` and
``_PlanRuntime`` included) breaks existing state files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The product's own table of Google's limits and costs: one source for both sides of the wire.
from app.google.limits import MAX_CONTACTS_PER_ACCOUNT, Bucket
from groupsync_emulator.discovery import invalid
from groupsync_emulator.errors import GoogleApiError

SYNC_TOKEN_LIFETIME = 7 * 24 * 3600
"""Google: a sync token expires seven days after the full sync that issued it."""


STORED_FIELDS = (
    "names",
    "organizations",
    "emailAddresses",
    "phoneNumbers",
    "birthdays",
    "biographies",
    "addresses",
    "imClients",
    "urls",
    "clientData",
    "userDefined",
    "externalIds",
)
"""The person fields the emulator stores; memberships are kept apart as group ids."""
SINGLETON_FIELDS = ("names", "birthdays", "biographies", "genders")
MY_CONTACTS = "myContacts"
STARRED = "starred"
ALL = "all"
SYSTEM_GROUPS = {
    MY_CONTACTS: "My Contacts",
    STARRED: "Starred",
    "chatBuddies": "Chat contacts",
    "friends": "Friends",
    "family": "Family",
    "coworkers": "Coworkers",
    ALL: "All Contacts",
}
ADDABLE_SYSTEM_GROUPS = frozenset({MY_CONTACTS, STARRED})


@dataclass(frozen=True)
class FaultPlan:
    """Seeded fault injection; rates are probabilities per request, drawn from ``Random(seed)``."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_code: int = 503
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 0
    after_apply_rate: float = 0.0
    after_apply: str = "503"
    """What a mutation that was applied answers: ``"500"``, ``"503"`` or ``"drop"`` (no answer at all)."""
    methods: frozenset[str] = frozenset()
    """API method names (``people.createContact``) the plan applies to; empty means all."""
    times: int | None = None
    """How many faults fire before the plan disarms itself; ``None`` means no limit."""
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        for name in ("error_rate", "drop_rate", "slow_rate", "after_apply_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if self.error_code not in (500, 503):
            problems.append("error_code must be 500 or 503")
        if self.after_apply not in ("500", "503", "drop"):
            problems.append("after_apply must be '500', '503' or 'drop'")
        if self.latency_ms < 0 or self.slow_ms < 0:
            problems.append("latency_ms and slow_ms must not be negative")
        if self.times is not None and self.times < 0:
            problems.append("times must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values = dict(data)
        if "methods" in values:
            values["methods"] = frozenset(values["methods"])
        if "after_apply" in values:
            values["after_apply"] = str(values["after_apply"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["methods"] = sorted(self.methods)
        return data


@dataclass(frozen=True)
class Quotas:
    """Requests per minute per user for each bucket; ``None`` means unlimited."""

    critical_read_requests: int | None = None
    critical_write_requests: int | None = None
    read_requests: int | None = None
    write_requests: int | None = None
    full_sync_first_page_requests: int | None = None

    def limit(self, bucket: Bucket) -> int | None:
        value: int | None = getattr(self, bucket.value)
        return value

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quotas:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown quota buckets: {', '.join(unknown)}")
        for name, value in data.items():
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a whole number of requests per minute or null")
        return cls(**data)


@dataclass(frozen=True)
class PeopleSettings:
    max_contacts: int = MAX_CONTACTS_PER_ACCOUNT
    quotas: Quotas = field(default_factory=Quotas)
    """Unlimited by default so tests are fast."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    strict_sequential: bool = False
    """Reject a mutation for an account while another one for the same account is in flight."""
    sync_token_lifetime: int = SYNC_TOKEN_LIFETIME


@dataclass
class Contact:
    number: int
    fields: dict[str, list[dict[str, Any]]]
    groups: list[str]
    version: int
    changed_seq: int
    updated: float
    deleted: bool = False

    @property
    def resource_name(self) -> str:
        return f"people/c{self.number}"

    @property
    def source_id(self) -> str:
        return f"{self.number:x}"


@dataclass
class Group:
    gid: str
    name: str
    client_data: list[dict[str, str]]
    system: bool
    order: int
    version: int
    changed_seq: int
    updated: float
    deleted: bool = False

    @property
    def resource_name(self) -> str:
        return f"contactGroups/{self.gid}"


@dataclass
class Account:
    sub: str
    contacts: dict[str, Contact] = field(default_factory=dict)
    """By resource name, tombstones included (sync requests report deletions)."""
    groups: dict[str, Group] = field(default_factory=dict)
    """By group id, tombstones included."""
    seq: int = 0
    counter: int = 0
    quotas: Quotas | None = None
    faults: FaultPlan | None = None
    strict_sequential: bool | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def live_contacts(self) -> list[Contact]:
        return [c for c in self.contacts.values() if not c.deleted]

    def live_groups(self) -> list[Group]:
        return sorted((g for g in self.groups.values() if not g.deleted), key=lambda g: g.order)


@dataclass
class _Token:
    sub: str
    kind: str
    fingerprint: str
    issued: float
    seq: int
    since: int | None = None
    after: tuple[Any, ...] | None = None


@dataclass
class FaultDecision:
    delay_seconds: float = 0.0
    before: str | None = None
    """``"500"``, ``"503"`` or ``"drop"`` instead of serving the request."""
    after_apply: str | None = None


@dataclass
class _PlanRuntime:
    plan: FaultPlan
    rng: random.Random
    fired: int = 0


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def _etag(prefix: str, *parts: object) -> str:
    return prefix + base64.urlsafe_b64encode(_digest(*parts)[:18]).decode()


def not_found(message: str = "Requested entity was not found.") -> GoogleApiError:
    return GoogleApiError(404, "NOT_FOUND", message)


def failed_precondition(message: str, reason: str | None = None) -> GoogleApiError:
    return GoogleApiError(400, "FAILED_PRECONDITION", message, reason=reason)


def _page_size(raw: int | None, default: int, maximum: int) -> int:
    if raw is None or raw == 0:
        return default
    if raw < 0 or raw > maximum:
        raise invalid(f"pageSize must be between 1 and {maximum} (got {raw}).")
    return raw


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
