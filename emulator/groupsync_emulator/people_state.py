"""The People API's data for every emulated Google account: contacts, contact groups, etags, sync tokens,
quotas, faults and the strict-sequential check.

Nothing here knows about HTTP. Callers hold ``EmulatorState.lock`` around every call and pass
the emulator's clock reading as ``now``, so expiry is testable without sleeping. Every error is
a :class:`GoogleApiError` in the shape Google answers with. Where Google's behaviour is
undocumented the stricter reading is taken; ``docs/emulator.md`` lists each choice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import phonenumbers

# The product's own table of Google's limits and costs: one source for both sides of the wire.
from app.google.limits import (
    MAX_CONTACTS_PER_ACCOUNT,
    MAX_MEMBER_CHANGES,
    Bucket,
    Cost,
)
from groupsync_emulator.discovery import check_json, discovery_schemas, invalid
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

_FORMATTED_TYPES = {
    "home": "Home",
    "work": "Work",
    "other": "Other",
    "mobile": "Mobile",
    "homeFax": "Home Fax",
    "workFax": "Work Fax",
    "otherFax": "Other Fax",
    "pager": "Pager",
    "workMobile": "Work Mobile",
    "workPager": "Work Pager",
    "main": "Main",
    "googleVoice": "Google Voice",
    "school": "School",
    "blog": "Blog",
    "profile": "Profile",
    "homePage": "Home Page",
    "ftp": "FTP",
    "reservations": "Reservations",
    "appInstallPage": "App Install Page",
    "account": "Account",
    "customer": "Customer",
    "loginId": "Login ID",
    "network": "Network",
    "organization": "Organization",
}
_FORMATTED_PROTOCOLS = {
    "aim": "AIM",
    "msn": "MSN",
    "yahoo": "Yahoo",
    "skype": "Skype",
    "qq": "QQ",
    "googleTalk": "Google Talk",
    "icq": "ICQ",
    "jabber": "Jabber",
    "netMeeting": "NetMeeting",
}


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


# --- the state ----------------------------------------------------------------------------------------


class PeopleState:
    def __init__(self, settings: PeopleSettings) -> None:
        self.settings = settings
        self.accounts: dict[str, Account] = {}
        self.global_faults: FaultPlan | None = None
        self._tokens: dict[str, _Token] = {}
        self._token_counter = 0
        self._usage: dict[tuple[str, Bucket], deque[tuple[float, int]]] = {}
        self._in_flight: set[str] = set()
        self._fault_runtime: dict[str | None, _PlanRuntime] = {}
        self._rendered: dict[tuple[str, str], tuple[int, frozenset[str], dict[str, Any]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Requests in flight belong to the process that saved the state file, not to the one that loads it;
        # rendered people are a cache, rebuilt on demand.
        return {**self.__dict__, "_in_flight": set(), "_rendered": {}}

    # accounts ------------------------------------------------------------------------------------------

    def account(self, sub: str, now: float) -> Account:
        """The account's store, created with Google's system groups on first use."""
        account = self.accounts.get(sub)
        if account is None:
            account = Account(sub=sub)
            for order, gid in enumerate(SYSTEM_GROUPS):
                account.groups[gid] = Group(gid, gid, [], True, order, 1, 0, now)
            self.accounts[sub] = account
        return account

    def _new_contact_number(self, account: Account) -> int:
        while True:
            account.counter += 1
            number = int.from_bytes(_digest(account.sub, "contact", account.counter)[:8]) >> 1
            if f"people/c{number}" not in account.contacts:
                return number

    def _new_group_id(self, account: Account) -> str:
        while True:
            account.counter += 1
            gid = _digest(account.sub, "group", account.counter).hex()[:16]
            if gid not in account.groups:
                return gid

    # etags -----------------------------------------------------------------------------------------------

    @staticmethod
    def person_etag(account: Account, contact: Contact) -> str:
        return _etag("%", account.sub, contact.number, contact.version)

    @staticmethod
    def source_etag(account: Account, contact: Contact) -> str:
        return _etag("#", account.sub, contact.number, contact.version, "source")

    @staticmethod
    def group_etag(account: Account, group: Group) -> str:
        return _etag("", account.sub, group.gid, group.version)

    # quotas, faults, strict mode ---------------------------------------------------------------------

    def charge(self, sub: str, cost: Cost, now: float) -> None:
        """Count a request against its buckets, or refuse it when any bucket is full for this minute."""
        account = self.accounts.get(sub)
        quotas = (
            account.quotas if account is not None and account.quotas is not None else self.settings.quotas
        )
        for bucket, units in cost.items():
            limit = quotas.limit(bucket)
            if limit is None:
                continue
            window = self._usage.setdefault((sub, bucket), deque())
            while window and window[0][0] <= now - 60:
                window.popleft()
            if sum(u for _, u in window) + units > limit:
                raise GoogleApiError(
                    429,
                    "RESOURCE_EXHAUSTED",
                    f"Quota exceeded for quota metric '{bucket.metric}' and limit "
                    f"'{bucket.value} per minute per user' of service 'people.googleapis.com'.",
                    reason="RATE_LIMIT_EXCEEDED",
                    metadata={
                        "quota_metric": bucket.metric,
                        "quota_limit": f"{bucket.value}_per_minute_per_user",
                        "quota_limit_value": str(limit),
                        "quota_location": "global",
                        "service": "people.googleapis.com",
                    },
                )
        for bucket, units in cost.items():
            if quotas.limit(bucket) is not None:
                self._usage[(sub, bucket)].append((now, units))

    def configure_faults(self, sub: str | None, plan: FaultPlan | None, now: float) -> None:
        """Install a plan for one account (or, with ``sub=None``, for every account without its own)."""
        if sub is None:
            self.global_faults = plan
        else:
            self.account(sub, now).faults = plan
        self._fault_runtime.pop(sub, None)

    def _plan_for(self, sub: str) -> tuple[str | None, FaultPlan | None]:
        account = self.accounts.get(sub)
        if account is not None and account.faults is not None:
            return sub, account.faults
        if self.global_faults is not None:
            return None, self.global_faults
        return None, self.settings.faults

    def draw_faults(self, sub: str, method: str, mutation: bool) -> FaultDecision:
        key, plan = self._plan_for(sub)
        decision = FaultDecision()
        if plan is None or (plan.methods and method not in plan.methods):
            return decision
        runtime = self._fault_runtime.get(key)
        if runtime is None or runtime.plan is not plan:
            runtime = self._fault_runtime[key] = _PlanRuntime(plan, random.Random(plan.seed))
        rng = runtime.rng
        decision.delay_seconds = plan.latency_ms / 1000
        if plan.times is not None and runtime.fired >= plan.times:
            return decision
        # One draw per kind on every request, so a seed replays the same sequence of outcomes.
        slow, error, drop, after = rng.random(), rng.random(), rng.random(), rng.random()
        if slow < plan.slow_rate:
            decision.delay_seconds += plan.slow_ms / 1000
        if drop < plan.drop_rate:
            decision.before = "drop"
        elif error < plan.error_rate:
            decision.before = str(plan.error_code)
        elif mutation and after < plan.after_apply_rate:
            decision.after_apply = plan.after_apply
        if slow < plan.slow_rate or decision.before or decision.after_apply:
            runtime.fired += 1
        return decision

    def strict_for(self, sub: str) -> bool:
        account = self.accounts.get(sub)
        if account is not None and account.strict_sequential is not None:
            return account.strict_sequential
        return self.settings.strict_sequential

    def begin_mutation(self, sub: str) -> None:
        if sub in self._in_flight:
            raise GoogleApiError(
                409,
                "ABORTED",
                "The operation was aborted: another mutation for this user is still in progress. "
                "Mutate requests for the same user should be sent sequentially.",
            )
        self._in_flight.add(sub)

    def end_mutation(self, sub: str) -> None:
        self._in_flight.discard(sub)

    # sync and page tokens ----------------------------------------------------------------------------

    def _issue(self, token: _Token) -> str:
        self._token_counter += 1
        value = base64.urlsafe_b64encode(_digest("token", self._token_counter, token.sub)[:24]).decode()
        self._tokens[value] = token
        return value

    def _sync_token(self, account: Account, value: str, kind: str, fingerprint: str, now: float) -> _Token:
        token = self._tokens.get(value)
        if token is None or token.sub != account.sub or token.kind != kind:
            raise invalid("Sync token is invalid.")
        if now - token.issued > self.settings.sync_token_lifetime:
            raise failed_precondition(
                "Sync token is expired. Clear local cache and retry call without the sync token.",
                reason="EXPIRED_SYNC_TOKEN",
            )
        if token.fingerprint != fingerprint:
            raise invalid("Request parameters must match those of the request that issued the sync token.")
        return token

    def _page_token(self, account: Account, value: str, kind: str, fingerprint: str) -> _Token:
        token = self._tokens.get(value)
        if token is None or token.sub != account.sub or token.kind != kind:
            raise invalid("Page token is invalid.")
        if token.fingerprint != fingerprint:
            raise invalid("Request parameters must match those of the request that issued the page token.")
        return token

    def age_sync_tokens(self, seconds: float, sub: str | None = None) -> int:
        aged = 0
        for token in self._tokens.values():
            if sub is None or token.sub == sub:
                token.issued -= seconds
                aged += 1
        return aged

    def _paged(
        self,
        account: Account,
        *,
        kind: str,
        fingerprint: str,
        page_token: str | None,
        sync_token: str | None,
        now: float,
    ) -> _Token:
        """Where a listing resumes: the change sequence it is pinned to and the last key already returned."""
        if page_token:
            return self._page_token(account, page_token, kind + ":page", fingerprint)
        since = None
        if sync_token:
            since = self._sync_token(account, sync_token, kind + ":sync", fingerprint, now).seq
        return _Token(account.sub, kind + ":page", fingerprint, now, account.seq, since)

    # contacts: rendering -----------------------------------------------------------------------------

    def render_person(self, account: Account, contact: Contact, mask: Iterable[str]) -> dict[str, Any]:
        """The person as Google returns it; the answer is cached per contact version and mask, because
        full listings of large accounts render every contact on each sync. Callers must not modify it."""
        wanted = frozenset(mask)
        cached = self._rendered.get((account.sub, contact.resource_name))
        if cached is not None and cached[0] == contact.version and cached[1] == wanted:
            return cached[2]
        person = self._render(account, contact, wanted)
        self._rendered[(account.sub, contact.resource_name)] = (contact.version, wanted, person)
        return person

    def _render(self, account: Account, contact: Contact, wanted: frozenset[str]) -> dict[str, Any]:
        if contact.deleted:
            return {
                "resourceName": contact.resource_name,
                "etag": self.person_etag(account, contact),
                "metadata": {"deleted": True},
            }
        source = {"type": "CONTACT", "id": contact.source_id}
        person: dict[str, Any] = {
            "resourceName": contact.resource_name,
            "etag": self.person_etag(account, contact),
        }
        if "metadata" in wanted:
            person["metadata"] = {
                "sources": [
                    {
                        **source,
                        "etag": self.source_etag(account, contact),
                        "updateTime": _iso(contact.updated),
                    }
                ],
                "objectType": "PERSON",
            }
        for name in STORED_FIELDS:
            values = contact.fields.get(name)
            if name in wanted and values:
                person[name] = [_decorate(name, value, index, source) for index, value in enumerate(values)]
        if "memberships" in wanted and contact.groups:
            person["memberships"] = [
                {
                    "metadata": {"source": dict(source)},
                    "contactGroupMembership": {
                        "contactGroupId": gid,
                        "contactGroupResourceName": f"contactGroups/{gid}",
                    },
                }
                for gid in contact.groups
            ]
        return person

    # contacts: validation ------------------------------------------------------------------------------

    def _writable(self, person: Mapping[str, Any], where: str) -> dict[str, list[dict[str, Any]]]:
        """The stored form of a Person body: read-only and metadata keys dropped, as Google ignores them."""
        check_json("Person", person, where)
        unsupported = sorted(
            name
            for name in person
            if name not in (*STORED_FIELDS, "memberships", "resourceName", "etag", "metadata")
            and not discovery_schemas()["Person"]["properties"][name].get("readOnly")
        )
        if unsupported:
            raise invalid(f"{where}.{unsupported[0]} is not supported by the GroupSync emulator.")
        for name in SINGLETON_FIELDS:
            if len(person.get(name) or []) > 1:
                raise invalid(f"{where}.{name}: a contact can have at most one value for this field.")
        fields: dict[str, list[dict[str, Any]]] = {}
        for name in STORED_FIELDS:
            values = person.get(name)
            if values:
                item_schema = discovery_schemas()["Person"]["properties"][name]["items"]["$ref"]
                fields[name] = [_strip_read_only(item_schema, value) for value in values]
        for index, birthday in enumerate(fields.get("birthdays", [])):
            _check_date(birthday.get("date"), f"{where}.birthdays[{index}].date")
        return fields

    def _membership_groups(
        self, account: Account, person: Mapping[str, Any], current: Sequence[str], where: str
    ) -> list[str]:
        groups: list[str] = []
        for index, membership in enumerate(person.get("memberships") or []):
            name = (membership.get("contactGroupMembership") or {}).get("contactGroupResourceName")
            if not isinstance(name, str) or not name.startswith("contactGroups/"):
                raise invalid(
                    f"{where}.memberships[{index}].contactGroupMembership.contactGroupResourceName "
                    "is required."
                )
            gid = name.removeprefix("contactGroups/")
            group = account.groups.get(gid)
            if group is None or group.deleted:
                raise invalid(f"{where}.memberships[{index}]: contact group {name} does not exist.")
            if gid not in current and not _addable(group):
                raise invalid(f"{where}.memberships[{index}]: contacts cannot be added to {name}.")
            if gid not in groups:
                groups.append(gid)
        return groups

    def _contact(self, account: Account, resource_name: str) -> Contact:
        _check_person_name(resource_name)
        contact = account.contacts.get(resource_name)
        if contact is None or contact.deleted:
            raise not_found()
        return contact

    def _touch_groups(self, account: Account, gids: Iterable[str], seq: int, now: float) -> None:
        for gid in set(gids):
            group = account.groups.get(gid)
            if group is not None and not group.deleted:
                group.version += 1
                group.changed_seq = seq
                group.updated = now

    def _bump(self, account: Account, contact: Contact, now: float) -> int:
        seq = account.next_seq()
        contact.version += 1
        contact.changed_seq = seq
        contact.updated = now
        return seq

    # contacts: methods -------------------------------------------------------------------------------

    def create_contacts(
        self, account: Account, people: Sequence[Mapping[str, Any]], where: Sequence[str], now: float
    ) -> list[Contact]:
        """All or nothing: every person is checked before any is stored."""
        prepared = []
        for person, path in zip(people, where, strict=True):
            fields = self._writable(person, path)
            groups = self._membership_groups(account, person, (), path) if person.get("memberships") else []
            prepared.append((fields, groups or [MY_CONTACTS]))
        if len(account.live_contacts()) + len(prepared) > self.settings.max_contacts:
            raise failed_precondition(
                f"The limit of {self.settings.max_contacts} contacts for this account has been reached."
            )
        created = []
        for fields, groups in prepared:
            seq = account.next_seq()
            contact = Contact(self._new_contact_number(account), fields, groups, 1, seq, now)
            account.contacts[contact.resource_name] = contact
            self._touch_groups(account, groups, seq, now)
            created.append(contact)
        return created

    def update_contacts(
        self,
        account: Account,
        updates: Sequence[tuple[str, Mapping[str, Any]]],
        mask: frozenset[str],
        where: Sequence[str],
        now: float,
    ) -> list[Contact]:
        """All or nothing; only the fields in ``mask`` change, each replaced (or cleared when absent)."""
        prepared = []
        for (resource_name, person), path in zip(updates, where, strict=True):
            contact = self._contact(account, resource_name)
            if person.get("resourceName") not in (None, resource_name):
                raise invalid(f"{path}.resourceName does not match the contact being updated.")
            fields = self._writable(person, path)
            self._check_etags(account, contact, person, path)
            groups = None
            if "memberships" in mask:
                groups = self._membership_groups(account, person, contact.groups, path)
                if not groups:
                    raise invalid(
                        f"{path}.memberships: a contact must keep at least one contact group membership."
                    )
            prepared.append((contact, fields, groups))
        updated = []
        for contact, fields, groups in prepared:
            old_groups = list(contact.groups)
            for name in STORED_FIELDS:
                if name in mask:
                    if name in fields:
                        contact.fields[name] = fields[name]
                    else:
                        contact.fields.pop(name, None)
            if groups is not None:
                contact.groups = groups
            seq = self._bump(account, contact, now)
            if groups is not None:
                self._touch_groups(account, set(old_groups) ^ set(groups), seq, now)
            updated.append(contact)
        return updated

    def _check_etags(self, account: Account, contact: Contact, person: Mapping[str, Any], where: str) -> None:
        stale = (
            "Request person.etag is different than the current person.etag. "
            "Clear local cache and get the latest person."
        )
        etag = person.get("etag")
        if not etag:
            raise invalid(f"{where}.etag is required.")
        sources = (person.get("metadata") or {}).get("sources") or []
        contact_sources = [s for s in sources if s.get("type") == "CONTACT"]
        if not contact_sources:
            raise invalid(f"{where}.metadata.sources must include the contact's CONTACT source.")
        if any(s.get("id") not in (None, contact.source_id) for s in contact_sources):
            raise invalid(f"{where}.metadata.sources names a source that is not this contact's.")
        source_etags = {s.get("etag") for s in contact_sources} - {None}
        if etag != self.person_etag(account, contact) or source_etags - {self.source_etag(account, contact)}:
            raise failed_precondition(stale)

    def delete_contacts(self, account: Account, resource_names: Sequence[str], now: float) -> list[Contact]:
        """All or nothing: one missing contact fails the whole request and deletes none."""
        contacts = [self._contact(account, name) for name in resource_names]
        for contact in contacts:
            self._delete(account, contact, now)
        return contacts

    def _delete(self, account: Account, contact: Contact, now: float) -> None:
        seq = self._bump(account, contact, now)
        self._touch_groups(account, contact.groups, seq, now)
        contact.deleted = True
        contact.fields = {}
        contact.groups = []

    def get_contacts(self, account: Account, resource_names: Sequence[str]) -> list[Contact | None]:
        result: list[Contact | None] = []
        for name in resource_names:
            _check_person_name(name)
            contact = account.contacts.get(name)
            result.append(None if contact is None or contact.deleted else contact)
        return result

    def get_contact(self, account: Account, resource_name: str) -> Contact:
        return self._contact(account, resource_name)

    def list_connections(
        self,
        account: Account,
        *,
        mask: frozenset[str],
        page_size: int | None,
        page_token: str | None,
        sync_token: str | None,
        request_sync_token: bool,
        sort_order: str,
        sources: frozenset[str],
        now: float,
    ) -> dict[str, Any]:
        size = _page_size(page_size, 100, 1000)
        fingerprint = json.dumps([sorted(mask), sort_order, sorted(sources)])
        cursor = self._paged(
            account,
            kind="people",
            fingerprint=fingerprint,
            page_token=page_token,
            sync_token=sync_token,
            now=now,
        )
        if cursor.since is not None:
            # A sync returns every change, deletions included, oldest first.
            candidates = [c for c in account.contacts.values() if cursor.since < c.changed_seq <= cursor.seq]
            key: Callable[[Contact], tuple[Any, ...]] = lambda c: (c.changed_seq, c.number)  # noqa: E731
            descending = False
        else:
            candidates = [c for c in account.live_contacts() if c.changed_seq <= cursor.seq]
            key, descending = _sort_key(sort_order)
        if "READ_SOURCE_TYPE_CONTACT" not in sources:
            candidates = []
        ordered = sorted(candidates, key=key, reverse=descending)
        if cursor.after is not None:
            after = cursor.after
            ordered = [c for c in ordered if (key(c) < after if descending else key(c) > after)]
        page, rest = ordered[:size], ordered[size:]
        response: dict[str, Any] = {
            "connections": [self.render_person(account, c, mask) for c in page],
            "totalItems": len(candidates),
            "totalPeople": len(candidates),
        }
        if rest:
            following = replace(cursor, after=key(page[-1]), issued=now)
            response["nextPageToken"] = self._issue(following)
        elif request_sync_token or cursor.since is not None:
            response["nextSyncToken"] = self._issue(
                _Token(account.sub, "people:sync", fingerprint, now, cursor.seq)
            )
        return {k: v for k, v in response.items() if v not in ([], 0)}

    # contact groups ---------------------------------------------------------------------------------

    def render_group(
        self, account: Account, group: Group, fields: frozenset[str], max_members: int = 0
    ) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "resourceName": group.resource_name,
            "etag": self.group_etag(account, group),
        }
        if group.deleted:
            rendered["metadata"] = {"updateTime": _iso(group.updated), "deleted": True}
            return rendered
        if "metadata" in fields:
            rendered["metadata"] = {"updateTime": _iso(group.updated)}
        if "groupType" in fields:
            rendered["groupType"] = "SYSTEM_CONTACT_GROUP" if group.system else "USER_CONTACT_GROUP"
        if "name" in fields:
            rendered["name"] = group.name
            rendered["formattedName"] = (
                SYSTEM_GROUPS.get(group.gid, group.name) if group.system else group.name
            )
        if "clientData" in fields and group.client_data:
            rendered["clientData"] = [dict(item) for item in group.client_data]
        members = self.members(account, group)
        if "memberCount" in fields and group.gid == MY_CONTACTS:
            # Google answers with the account's contact count here (what its limit counts).
            if account.live_contacts():
                rendered["memberCount"] = len(account.live_contacts())
        elif "memberCount" in fields and members:
            rendered["memberCount"] = len(members)
        if max_members > 0 and members:
            rendered["memberResourceNames"] = [c.resource_name for c in members[:max_members]]
        return rendered

    def members(self, account: Account, group: Group) -> list[Contact]:
        live = sorted(account.live_contacts(), key=lambda c: c.number)
        if group.gid == ALL:
            return live
        return [c for c in live if group.gid in c.groups]

    def group(self, account: Account, resource_name: str) -> Group:
        if not resource_name.startswith("contactGroups/") or "/" in resource_name.removeprefix(
            "contactGroups/"
        ):
            raise invalid(f'Resource name "{resource_name}" is not a valid contact group resource name.')
        group = account.groups.get(resource_name.removeprefix("contactGroups/"))
        if group is None or group.deleted:
            raise not_found("Requested entity was not found.")
        return group

    def _check_group_name(self, account: Account, name: Any, exclude: Group | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise invalid("contactGroup.name is required and must not be blank.")
        # Names compare case-insensitively among the user's own groups (Google's exact rule is unpublished);
        # the hidden system groups (friends, family...) do not block a label of the same name.
        clash = [
            g
            for g in account.live_groups()
            if g is not exclude and not g.system and g.name.casefold() == name.strip().casefold()
        ]
        if clash:
            raise GoogleApiError(409, "ALREADY_EXISTS", "Contact group name already exists.")
        return name

    def create_group(self, account: Account, body: Mapping[str, Any], now: float) -> Group:
        name = self._check_group_name(account, body.get("name"))
        seq = account.next_seq()
        order = max((g.order for g in account.groups.values()), default=0) + 1
        group = Group(
            self._new_group_id(account), name, _client_data(body.get("clientData")), False, order, 1, seq, now
        )
        account.groups[group.gid] = group
        return group

    def update_group(
        self,
        account: Account,
        resource_name: str,
        body: Mapping[str, Any],
        fields: frozenset[str],
        now: float,
    ) -> Group:
        group = self.group(account, resource_name)
        if group.system:
            raise invalid(f"System contact group {resource_name} cannot be modified.")
        if body.get("resourceName") not in (None, resource_name):
            raise invalid("contactGroup.resourceName does not match the contact group being updated.")
        if body.get("etag") != self.group_etag(account, group):
            raise failed_precondition(
                "Request contactGroup.etag is different than the current contactGroup.etag. "
                "Clear local cache and get the latest contact group."
            )
        name = self._check_group_name(account, body.get("name"), exclude=group) if "name" in fields else None
        if name is not None:
            group.name = name
        if "clientData" in fields:
            group.client_data = _client_data(body.get("clientData"))
        group.version += 1
        group.changed_seq = account.next_seq()
        group.updated = now
        return group

    def delete_group(
        self, account: Account, resource_name: str, delete_contacts: bool, now: float
    ) -> list[str]:
        """Returns the resource names of the contacts the deletion changed or deleted."""
        group = self.group(account, resource_name)
        if group.system:
            raise invalid(f"System contact group {resource_name} cannot be deleted.")
        touched = []
        for contact in self.members(account, group):
            touched.append(contact.resource_name)
            if delete_contacts:
                self._delete(account, contact, now)
                continue
            contact.groups = [gid for gid in contact.groups if gid != group.gid] or [MY_CONTACTS]
            self._touch_groups(account, contact.groups, self._bump(account, contact, now), now)
        group.deleted = True
        group.version += 1
        group.changed_seq = account.next_seq()
        group.updated = now
        return touched

    def modify_members(
        self,
        account: Account,
        resource_name: str,
        to_add: Sequence[str],
        to_remove: Sequence[str],
        now: float,
    ) -> dict[str, Any]:
        if len(to_add) + len(to_remove) > MAX_MEMBER_CHANGES:
            raise invalid(
                f"resourceNamesToAdd and resourceNamesToRemove together may hold at most "
                f"{MAX_MEMBER_CHANGES} resource names (got {len(to_add) + len(to_remove)})."
            )
        group = self.group(account, resource_name)
        if to_add and not _addable(group):
            raise invalid(
                f"Contacts cannot be added to {resource_name}: only user contact groups, "
                "contactGroups/myContacts and contactGroups/starred accept new members."
            )
        for name in (*to_add, *to_remove):
            _check_person_name(name)
        not_found_names: list[str] = []
        last_group: list[str] = []
        changed = False
        for name in to_add:
            contact = account.contacts.get(name)
            if contact is None or contact.deleted:
                not_found_names.append(name)
            elif group.gid not in contact.groups:
                contact.groups.append(group.gid)
                self._bump(account, contact, now)
                changed = True
        for name in to_remove:
            contact = account.contacts.get(name)
            if contact is None or contact.deleted:
                not_found_names.append(name)
            elif group.gid in contact.groups:
                if contact.groups == [group.gid]:
                    last_group.append(name)
                    continue
                contact.groups.remove(group.gid)
                self._bump(account, contact, now)
                changed = True
        if changed:
            self._touch_groups(account, [group.gid], account.seq, now)
        response: dict[str, Any] = {}
        if not_found_names:
            response["notFoundResourceNames"] = not_found_names
        if last_group:
            response["canNotRemoveLastContactGroupResourceNames"] = last_group
        return response

    def list_groups(
        self,
        account: Account,
        *,
        fields: frozenset[str],
        page_size: int | None,
        page_token: str | None,
        sync_token: str | None,
        now: float,
    ) -> dict[str, Any]:
        size = _page_size(page_size, 30, 1000)
        fingerprint = json.dumps(sorted(fields))
        cursor = self._paged(
            account,
            kind="groups",
            fingerprint=fingerprint,
            page_token=page_token,
            sync_token=sync_token,
            now=now,
        )
        if cursor.since is not None:
            since = cursor.since
            candidates = [g for g in account.groups.values() if since < g.changed_seq <= cursor.seq]
        else:
            candidates = [g for g in account.live_groups() if g.changed_seq <= cursor.seq]
        ordered = sorted(candidates, key=lambda g: g.order)
        if cursor.after is not None:
            last = cursor.after[0]
            ordered = [g for g in ordered if g.order > last]
        page, rest = ordered[:size], ordered[size:]
        response: dict[str, Any] = {
            "contactGroups": [self.render_group(account, g, fields) for g in page],
            "totalItems": len(candidates),
        }
        if rest:
            response["nextPageToken"] = self._issue(replace(cursor, after=(page[-1].order,), issued=now))
        else:
            response["nextSyncToken"] = self._issue(
                _Token(account.sub, "groups:sync", fingerprint, now, cursor.seq)
            )
        return {k: v for k, v in response.items() if v not in ([], 0)}

    # hooks: acting as the Google user, snapshots --------------------------------------------------------

    def user_edit_contact(
        self, account: Account, resource_name: str, person: Mapping[str, Any], now: float
    ) -> Contact:
        """The user edits fields in Google Contacts: no etag check, only the given fields change."""
        contact = self._contact(account, resource_name)
        fields = self._writable(person, "person")
        for name in STORED_FIELDS:
            if name in person:
                if name in fields:
                    contact.fields[name] = fields[name]
                else:
                    contact.fields.pop(name, None)
        self._bump(account, contact, now)
        return contact

    def snapshot(self, account: Account) -> dict[str, Any]:
        """Everything a client can change, without times: equal snapshots mean nothing was written."""
        return {
            "account": account.sub,
            "contacts": {
                c.resource_name: {
                    "etag": self.person_etag(account, c),
                    "fields": c.fields,
                    "memberships": sorted(f"contactGroups/{gid}" for gid in c.groups),
                }
                for c in account.live_contacts()
            },
            "groups": {
                g.resource_name: {
                    "etag": self.group_etag(account, g),
                    "name": g.name,
                    "clientData": g.client_data,
                    "groupType": "SYSTEM_CONTACT_GROUP" if g.system else "USER_CONTACT_GROUP",
                }
                for g in account.live_groups()
            },
        }


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _addable(group: Group) -> bool:
    return not group.system or group.gid in ADDABLE_SYSTEM_GROUPS


def _check_person_name(resource_name: str) -> None:
    rest = resource_name.removeprefix("people/")
    if rest == resource_name or not rest or "/" in rest:
        raise invalid(f'Resource name "{resource_name}" is not a valid person resource name.')
    if not (rest.startswith("c") and rest[1:].isdigit()):
        raise invalid(
            f'Resource name "{resource_name}" is not a valid contact resource name '
            "(expected people/c<digits>)."
        )


def _client_data(raw: Any) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in item.items() if k in ("key", "value")} for item in raw or []]


def _strip_read_only(schema_name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    properties = discovery_schemas()[schema_name].get("properties", {})
    kept: dict[str, Any] = {}
    for key, item in value.items():
        spec = properties[key]
        if spec.get("readOnly") or key == "metadata":
            continue
        nested = "$ref" in spec and isinstance(item, Mapping)
        kept[key] = _strip_read_only(spec["$ref"], item) if nested else item
    return kept


def _check_date(date: Any, where: str) -> None:
    if date is None:
        return
    year, month, day = (int(date.get(part, 0)) for part in ("year", "month", "day"))
    if not (0 <= year <= 9999 and 0 <= month <= 12 and 0 <= day <= 31) or (day and not month):
        raise invalid(f"{where} is not a valid date (year 0-9999 or 0, month 1-12, day 1-31).")
    if year and month and day:
        try:
            datetime(year, month, day, tzinfo=UTC)
        except ValueError as exc:
            raise invalid(f"{where} is not a valid date: {exc}.") from None


def _decorate(name: str, value: Mapping[str, Any], index: int, source: Mapping[str, str]) -> dict[str, Any]:
    """A stored value as Google returns it: field metadata plus the computed output-only fields."""
    out: dict[str, Any] = dict(value)
    metadata: dict[str, Any] = {"source": dict(source)}
    if index == 0:
        metadata.update(primary=True, sourcePrimary=True)
    out["metadata"] = metadata
    kind = value.get("type")
    if isinstance(kind, str) and name in {
        "emailAddresses",
        "phoneNumbers",
        "addresses",
        "imClients",
        "urls",
        "organizations",
        "externalIds",
    }:
        out["formattedType"] = _FORMATTED_TYPES.get(kind, kind)
    if name == "names":
        display = " ".join(
            str(value[part])
            for part in ("honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix")
            if value.get(part)
        ) or str(value.get("unstructuredName", ""))
        if display:
            out["displayName"] = display
            given = " ".join(str(value[p]) for p in ("givenName", "middleName") if value.get(p))
            family = str(value.get("familyName", ""))
            out["displayNameLastFirst"] = f"{family}, {given}" if family and given else display
    elif name == "phoneNumbers":
        canonical = _canonical_phone(str(value.get("value", "")))
        if canonical:
            out["canonicalForm"] = canonical
    elif name == "addresses" and not value.get("formattedValue"):
        formatted = _format_address(value)
        if formatted:
            out["formattedValue"] = formatted
    elif name == "imClients" and value.get("protocol"):
        protocol = str(value["protocol"])
        out["formattedProtocol"] = _FORMATTED_PROTOCOLS.get(protocol, protocol)
    return out


def _canonical_phone(number: str) -> str | None:
    """E.164 only for numbers written with a country code, since the account's region is unknown."""
    if not number.strip().startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    formatted: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def _format_address(address: Mapping[str, Any]) -> str:
    locality = " ".join(str(address[p]) for p in ("city", "region", "postalCode") if address.get(p))
    lines = (
        [str(address[p]) for p in ("poBox", "streetAddress", "extendedAddress") if address.get(p)]
        + ([locality] if locality else [])
        + ([str(address["country"])] if address.get("country") else [])
    )
    return "\n".join(lines)


def _sort_key(order: str) -> tuple[Callable[[Contact], tuple[Any, ...]], bool]:
    def by_name(part: str) -> Callable[[Contact], tuple[Any, ...]]:
        def key(contact: Contact) -> tuple[Any, ...]:
            names = contact.fields.get("names") or [{}]
            return (str(names[0].get(part, "")).casefold(), contact.number)

        return key

    if order == "FIRST_NAME_ASCENDING":
        return by_name("givenName"), False
    if order == "LAST_NAME_ASCENDING":
        return by_name("familyName"), False
    return (lambda c: (c.changed_seq, c.number)), order == "LAST_MODIFIED_DESCENDING"
