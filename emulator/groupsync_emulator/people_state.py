"""The People API's data for every emulated Google account: contacts, contact groups, etags, sync tokens,
quotas, faults and the strict-sequential check.

Nothing here knows about HTTP. Callers hold ``EmulatorState.lock`` around every call and pass
the emulator's clock reading as ``now``, so expiry is testable without sleeping. Every error is
a :class:`GoogleApiError` in the shape Google answers with. Where Google's behaviour is
undocumented the stricter reading is taken; ``docs/emulator.md`` lists each choice.
"""

from __future__ import annotations

import base64
import json
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from app.google.limits import MAX_MEMBER_CHANGES, Bucket, Cost
from groupsync_emulator.discovery import check_json, discovery_schemas, invalid
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.people_fields import (
    _addable,
    _check_date,
    _check_person_name,
    _client_data,
    _decorate,
    _sort_key,
    _strip_read_only,
)

# State files written before the records moved out of this module name them here.
from groupsync_emulator.people_records import (
    ALL,
    MY_CONTACTS,
    SINGLETON_FIELDS,
    STORED_FIELDS,
    SYSTEM_GROUPS,
    Account,
    Contact,
    FaultDecision,
    FaultPlan,
    Group,
    PeopleSettings,
    Quotas,
    _digest,
    _etag,
    _iso,
    _page_size,
    _PlanRuntime,
    _Token,
    failed_precondition,
    not_found,
)

__all__ = [
    "Account",
    "Contact",
    "FaultPlan",
    "Group",
    "PeopleSettings",
    "PeopleState",
    "Quotas",
    "_PlanRuntime",
    "_Token",
]


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
