"""The single People API client layer: every Google People request GroupSync makes goes through here.

What the layer guarantees, so its callers cannot get it wrong:

* **Group scope.** Contacts are reached only through :class:`GroupContacts`, bound to one
  :class:`GroupScope` (GroupSync's group and its clientData marker). A contact is modified,
  deleted or removed from the group only if this client saw, in a Google response during its
  own life, that the contact is a member of the group AND carries the marker; anything else
  raises :class:`~app.google.errors.ScopeViolationError` before a byte is sent. Contacts are read
  only by resource names the group's member list (``contactGroups.get``) or an earlier
  response put in scope; nothing lists the account's contacts or groups, so no person or
  group name from outside the group is ever received. No raw service is exposed.
* **The rest is the transport's and the retry policy's:** :mod:`app.google.transport` (paced
  in quota units, timed, recorded ahead, never resent underneath), :mod:`app.google.retry`
  (only 429/5xx-like failures; a create only when nothing was applied), :mod:`app.google.limits`.

The caller holds no uncommitted database writes when it calls a method here (requests are
recorded on the ledger's own session); it commits its own work first. Not thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final

from google_auth_httplib2 import AuthorizedHttp

from app.config import Settings
from app.google.endpoints import GoogleEndpoints
from app.google.errors import (
    GroupDeletedError,
    GroupNameTakenError,
    RequestRejectedError,
    ScopeViolationError,
)
from app.google.fields import FIELD_CATEGORIES, OWNED_FIELDS
from app.google.json_model import OrjsonModel, encoded
from app.google.limits import (
    MAX_BATCH_CREATE,
    MAX_BATCH_DELETE,
    MAX_BATCH_GET,
    MAX_BATCH_UPDATE,
    MAX_CONTACTS_PER_ACCOUNT,
    MAX_MEMBER_CHANGES,
)
from app.google.limits import check_size as _check_size
from app.google.limits import chunks as _chunks
from app.google.pacing import Pacer, shared_pacer
from app.google.people_values import (
    BatchGetResult,
    ClientDataTag,
    ContactGroupInfo,
    FetchedPerson,
    GroupScope,
    MembersResult,
    Person,
    WriteResult,
    membership_groups,
)
from app.google.people_values import group_info as _group_info
from app.google.resources import people_resources
from app.google.retry import Mode as _Mode
from app.google.retry import RetryPolicy
from app.google.tokens import TokenEndpointUnavailableError
from app.google.transport import Call as _Call
from app.google.transport import GoogleTransport, PeopleHttp, PeopleSender, RequestContext
from app.ledger.events import DataCategory, FlowKind
from app.ledger.services import GoogleRequestLedger

__all__ = [
    "BatchGetResult",
    "ClientDataTag",
    "ContactGroupInfo",
    "FetchedPerson",
    "GroupContacts",
    "GroupScope",
    "MembersResult",
    "PeopleClient",
    "Person",
    "RequestContext",
    "RetryPolicy",
    "WriteResult",
]

MAX_GROUP_MEMBERS: Final = MAX_CONTACTS_PER_ACCOUNT
"""Google's per-account contact limit, so one group read always returns every member."""

UPDATABLE_FIELDS: Final = frozenset(OWNED_FIELDS)
"""The Person fields GroupSync owns; the only ones an update may send or put in its mask."""
_CREATABLE_FIELDS: Final = UPDATABLE_FIELDS | {"clientData", "memberships"}

_SCOPE_FIELDS: Final = ("clientData", "memberships", "metadata")
"""Read with every person: the layer decides scope from them and needs the etag and sources."""
_FIELD_CATEGORIES: Final[Mapping[str, DataCategory]] = {
    **FIELD_CATEGORIES,
    # The scope fields' categories are named after them.
    **{name: DataCategory(name) for name in _SCOPE_FIELDS},
}
_SCOPE_MASK: Final = ",".join(_SCOPE_FIELDS)
_GROUP_FIELDS: Final = "clientData,groupType,memberCount,metadata,name"
_CREATE_GROUP_FIELDS: Final = "clientData,groupType,metadata,name"
"""contactGroups.create's readGroupFields: Google documents no memberCount there (a new group has none)."""
MY_CONTACTS: Final = "contactGroups/myContacts"
_GROUP_CATEGORIES: Final = frozenset({DataCategory.CONTACT_GROUPS, DataCategory.CLIENT_DATA})


# --------------------------------------------------------------------------- the client


def _categories(fields: Iterable[str]) -> frozenset[DataCategory]:
    return frozenset(_FIELD_CATEGORIES[f] for f in fields)


def _person_fields(fields: Iterable[str]) -> list[str]:
    """The caller's fields plus those the scope decision needs, validated, in a stable order."""
    wanted = set(fields)
    unknown = sorted(wanted - set(_FIELD_CATEGORIES))
    if unknown:
        raise ValueError(f"person field(s) {', '.join(unknown)} are not fields GroupSync reads")
    return sorted(wanted | set(_SCOPE_FIELDS))


class PeopleClient:
    """Group-level People API calls for one Google account, and the door to its group's contacts.

    Build it per sync run with :meth:`for_settings`. Group lookups register which groups carry
    GroupSync's marker; :meth:`contacts` opens a :class:`GroupContacts` only for such a group.
    """

    def __init__(
        self,
        credentials: Any,
        endpoints: GoogleEndpoints,
        context: RequestContext,
        ledger: GoogleRequestLedger,
        pacer: Pacer,
        *,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """``credentials``: :class:`google.oauth2.credentials.Credentials` with refresh data."""
        self.context = context
        transport = GoogleTransport(
            ledger, timeout=timeout_seconds, pacer=pacer, pacing_key=context.google_sub
        )
        self._http = PeopleHttp(transport, context, endpoints.token_uri)
        shared = people_resources(endpoints.people_api)
        self._people, self._groups, self._members = shared.people, shared.groups, shared.members
        self._sender = PeopleSender(
            self._http,
            retry or RetryPolicy(),
            sleep or time.sleep,
            refresh_unavailable=TokenEndpointUnavailableError,
            over=AuthorizedHttp(credentials, http=self._http),
            model=OrjsonModel(known=self._http.parsed),
        )
        self._tagged_groups: set[tuple[str, ClientDataTag]] = set()

    @classmethod
    def for_settings(
        cls, settings: Settings, credentials: Any, context: RequestContext, ledger: GoogleRequestLedger
    ) -> PeopleClient:
        return cls(
            credentials,
            GoogleEndpoints.for_settings(settings),
            context,
            ledger,
            shared_pacer(settings),
            timeout_seconds=settings.http_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PeopleClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _remember(self, info: ContactGroupInfo, marker: ClientDataTag) -> ContactGroupInfo:
        if info.tagged:
            self._tagged_groups.add((info.resource_name, marker))
        else:
            self._tagged_groups.discard((info.resource_name, marker))
        return info

    def create_group(self, name: str, marker: ClientDataTag) -> ContactGroupInfo:
        """Create GroupSync's group, tagged with ``marker``.

        Raises :class:`GroupNameTakenError` on Google's 409 ALREADY_EXISTS, so the caller tries
        a suffixed name without ever reading the user's groups, and :class:`AmbiguousWriteError`
        when the group may exist anyway (the caller then creates again; see the executor).
        """
        call = _Call("contactGroups.create", FlowKind.CREATE, _GROUP_CATEGORIES, records=1)
        body = {
            "contactGroup": {"name": name, "clientData": [marker.as_json()]},
            "readGroupFields": _CREATE_GROUP_FIELDS,
        }
        try:
            request = self._groups.create(body=encoded(body))
            group = self._sender.send(call, request, _Mode.CREATE)
        except RequestRejectedError as exc:
            if exc.status == 409:
                raise GroupNameTakenError(
                    call.method, f"a contact group named {name!r} already exists"
                ) from exc
            raise
        return self._remember(_group_info(group, marker), marker)

    def get_group(
        self, resource_name: str, marker: ClientDataTag, *, max_members: int = 0
    ) -> ContactGroupInfo | None:
        """One group, with up to ``max_members`` member names; ``None`` when it no longer exists."""
        categories = _GROUP_CATEGORIES | ({DataCategory.MEMBERSHIPS} if max_members else set())
        call = _Call(
            "contactGroups.get",
            FlowKind.READ,
            frozenset(categories),
            count_key="memberResourceNames" if max_members else None,
            records=1,
        )
        try:
            group = self._sender.send(
                call,
                self._groups.get(
                    resourceName=resource_name, maxMembers=max_members, groupFields=_GROUP_FIELDS
                ),
                _Mode.READ,
            )
        except RequestRejectedError as exc:
            if exc.status == 404:
                self._tagged_groups.discard((resource_name, marker))
                return None
            raise
        return self._remember(_group_info(group, marker), marker)

    def contacts(self, scope: GroupScope) -> GroupContacts:
        """The contacts of GroupSync's group; the group must have been seen carrying the marker."""
        self._require_tagged(scope, "contacts")
        return GroupContacts(self, scope)

    def _require_tagged(self, scope: GroupScope, method: str) -> None:
        if (scope.group_resource_name, scope.marker) not in self._tagged_groups:
            raise ScopeViolationError(
                method,
                f"{scope.group_resource_name} was not seen carrying GroupSync's marker by this client",
                (scope.group_resource_name,),
            )

    def count_contacts(self) -> int:
        """How many contacts the account holds, for Google's per-account limit.

        ``contactGroups/myContacts`` answers with the user's contact count in ``memberCount``;
        only that field is asked for, so no person and no group name comes back.
        """
        call = _Call("contactGroups.get", FlowKind.READ, frozenset({DataCategory.CONTACT_GROUPS}), records=1)
        group = self._sender.send(
            call,
            self._groups.get(resourceName=MY_CONTACTS, maxMembers=0, groupFields="memberCount"),
            _Mode.READ,
        )
        # Google leaves zero values out of its JSON.
        return int(group.get("memberCount", 0))

    def read_group(self, scope: GroupScope, *, max_members: int = 0) -> ContactGroupInfo:
        """GroupSync's group, still there and still carrying the marker (``memberCount`` always comes).

        Raises :class:`GroupDeletedError` when the user deleted the group.
        """
        info = self.get_group(scope.group_resource_name, scope.marker, max_members=max_members)
        if info is None:
            raise GroupDeletedError("contactGroups.get", f"{scope.group_resource_name} no longer exists")
        if not info.tagged:
            raise ScopeViolationError(
                "contactGroups.get", "the group no longer carries GroupSync's marker", (info.resource_name,)
            )
        return info

    def open_group(self, scope: GroupScope) -> tuple[GroupContacts, ContactGroupInfo]:
        """The group's contacts with every member in scope, from one read of the group.

        :meth:`GroupContacts.list_members` checks the marker before anything is put in scope,
        so this is :meth:`get_group` plus :meth:`contacts` plus ``list_members`` in one request.
        """
        contacts = GroupContacts(self, scope)
        return contacts, contacts.list_members()


@dataclass(slots=True)
class _Seen:
    in_group: bool
    tagged: bool
    etag: str | None = None
    sources: list[Any] = field(default_factory=list)


class GroupContacts:
    """Reads and writes of the contacts in one GroupSync group — and of nothing else.

    Obtain it from :meth:`PeopleClient.contacts`. See the module docstring for the rules.
    Every write also checks that the client saw the group carrying the marker (and not gone
    since), so an instance built any other way still cannot write into a group of the user's.
    """

    def __init__(self, client: PeopleClient, scope: GroupScope) -> None:
        self.scope = scope
        self._client = client
        self._people = client._people
        self._members = client._members
        self._send = client._sender.send
        self._seen: dict[str, _Seen] = {}
        """What this client read of contacts (or learnt from its own writes), by resource name."""
        self._listed: AbstractSet[str] = frozenset()
        """Members named by the last reading of the group: in scope for reading, not yet read.

        A name only, not a :class:`_Seen` each: at 25,000 members that difference is most of a
        run's memory. The engine holds the same set; what left scope since is in ``_dropped``.
        """
        self._dropped: set[str] = set()

    def _drop(self, resource_name: str) -> None:
        """Take a contact out of scope: gone, or found outside the group and not GroupSync's."""
        self._seen.pop(resource_name, None)
        if resource_name in self._listed:
            self._dropped.add(resource_name)

    def _readable(self, resource_name: str) -> bool:
        return resource_name in self._seen or (
            resource_name in self._listed and resource_name not in self._dropped
        )

    def is_verified(self, resource_name: str) -> bool:
        """Whether this client may modify or delete the contact (seen in the group and tagged)."""
        seen = self._seen.get(resource_name)
        return seen is not None and seen.in_group and seen.tagged and seen.etag is not None

    def _observe(self, person: Mapping[str, Any]) -> FetchedPerson:
        resource_name = str(person["resourceName"])
        groups = membership_groups(person.get("memberships", ()))
        metadata = person.get("metadata") or {}
        fetched = FetchedPerson(
            resource_name=resource_name,
            etag=str(person.get("etag", "")),
            person=dict(person),
            in_group=self.scope.group_resource_name in groups,
            tagged=self.scope.marker.found_in(person.get("clientData", ())),
            group_memberships=groups,
        )
        for previous in metadata.get("previousResourceNames", ()):
            self._drop(previous)
        if fetched.in_group or fetched.tagged:
            self._seen[resource_name] = _Seen(
                fetched.in_group, fetched.tagged, fetched.etag or None, list(metadata.get("sources", ()))
            )
        else:
            self._drop(resource_name)
        return fetched

    def _refuse_unless(
        self, method: str, names: Iterable[str], allowed: Callable[[str], bool], why: str
    ) -> None:
        refused = [n for n in names if not allowed(n)]
        if refused:
            raise ScopeViolationError(
                method, f"{len(refused)} contact(s) {why}: {', '.join(refused[:5])}", refused
            )

    def list_members(self) -> ContactGroupInfo:
        """The group with every member's resource name; puts them in scope for reading.

        Raises :class:`GroupDeletedError` when the user deleted the group.
        """
        info = self._client.read_group(self.scope, max_members=MAX_GROUP_MEMBERS)
        self._listed, self._dropped = info.member_resource_names, set()
        for name, seen in self._seen.items():
            seen.in_group = name in self._listed
        return info

    def batch_get(self, resource_names: Sequence[str], person_fields: Iterable[str]) -> BatchGetResult:
        """Read contacts of the group (chunked by 200); only names put in scope earlier may be read."""
        method = "people.getBatchGet"
        self._refuse_unless(method, resource_names, self._readable, "are not known members of the group")
        fields = _person_fields(person_fields)
        call = _Call(method, FlowKind.READ, _categories(fields), count_key="responses")
        found: dict[str, FetchedPerson] = {}
        missing: list[str] = []
        for chunk in _chunks(resource_names, MAX_BATCH_GET):
            answer = self._send(
                call,
                self._people.getBatchGet(resourceNames=list(chunk), personFields=",".join(fields)),
                _Mode.READ,
            )
            for item in answer.get("responses", ()):
                requested = str(item.get("requestedResourceName", ""))
                person = item.get("person")
                if person and int(item.get("httpStatusCode", 200)) == 200:
                    found[requested] = self._observe(person)
                else:
                    self._drop(requested)
                    missing.append(requested)
        return BatchGetResult(found, tuple(missing))

    def batch_create(self, persons: Sequence[Person]) -> list[WriteResult]:
        """Create up to 200 contacts inside the group; each must carry the marker.

        Never retried after a failure that may have been applied: such a failure raises
        :class:`AmbiguousWriteError` and the caller adopts what exists on its next run.
        """
        method = "people.batchCreateContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, persons, MAX_BATCH_CREATE)
        contacts = [{"contactPerson": self._create_body(method, i, p)} for i, p in enumerate(persons)]
        fields = {f for p in persons for f in p} | set(_SCOPE_FIELDS)
        call = _Call(method, FlowKind.CREATE, _categories(fields), records=len(persons))
        answer = self._send(
            call,
            self._people.batchCreateContacts(body=encoded({"contacts": contacts, "readMask": _SCOPE_MASK})),
            _Mode.CREATE,
        )
        return [self._write_result(i, None, item) for i, item in enumerate(answer.get("createdPeople", ()))]

    def _create_body(self, method: str, index: int, person: Mapping[str, Any]) -> Person:
        unknown = person.keys() - _CREATABLE_FIELDS
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ValueError(f"contact {index}: field(s) {names} cannot be written by GroupSync")
        if not self.scope.marker.found_in(person.get("clientData", ())):
            raise ScopeViolationError(method, f"contact {index} does not carry GroupSync's marker clientData")
        group = self.scope.group_resource_name
        if "memberships" in person and membership_groups(person["memberships"]) != (group,):
            raise ScopeViolationError(
                method, f"contact {index} would be created in a group other than GroupSync's"
            )
        return {**person, "memberships": [{"contactGroupMembership": {"contactGroupResourceName": group}}]}

    def _write_result(self, index: int, requested: str | None, item: Mapping[str, Any]) -> WriteResult:
        status = item.get("status") or {}
        code = int(item.get("httpStatusCode", status.get("code") or 200))
        person = item.get("person")
        fetched = self._observe(person) if person and code == 200 else None
        return WriteResult(index, requested, code, str(status.get("message", "")), fetched)

    def batch_update(self, persons: Mapping[str, Person], update_fields: Iterable[str]) -> list[WriteResult]:
        """Update up to 200 verified contacts; only ``update_fields`` (owned fields) change.

        The etag and ``metadata.sources`` of this client's latest read are sent with each
        contact, so a contact changed in Google since then fails with :class:`StaleEtagError`.
        """
        method = "people.batchUpdateContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, persons, MAX_BATCH_UPDATE)
        mask = sorted(set(update_fields))
        beyond = sorted(set(mask) - UPDATABLE_FIELDS) + sorted(
            {f for p in persons.values() for f in p} - set(mask)
        )
        if beyond or not mask:
            raise ValueError(
                f"an update may send and mask only owned fields ({', '.join(sorted(UPDATABLE_FIELDS))});"
                f" offending: {', '.join(beyond) or 'empty mask'}"
            )
        self._refuse_unless(method, persons, self.is_verified, "are not verified members of the group")
        contacts = {
            name: {**person, "etag": self._seen[name].etag, "metadata": {"sources": self._seen[name].sources}}
            for name, person in persons.items()
        }
        call = _Call(method, FlowKind.UPDATE, _categories([*mask, *_SCOPE_FIELDS]), records=len(persons))
        body = {"contacts": contacts, "updateMask": ",".join(mask), "readMask": _SCOPE_MASK}
        answer = self._send(
            call, self._people.batchUpdateContacts(body=encoded(body)), _Mode.IDEMPOTENT_WRITE, list(persons)
        )
        results = answer.get("updateResult", {})
        return [
            self._write_result(
                i, name, results.get(name, {"httpStatusCode": 404, "status": {"message": "missing"}})
            )
            for i, name in enumerate(persons)
        ]

    def batch_delete(self, resource_names: Sequence[str]) -> None:
        """Delete up to 500 verified contacts from Google."""
        method = "people.batchDeleteContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, resource_names, MAX_BATCH_DELETE)
        self._refuse_unless(method, resource_names, self.is_verified, "are not verified members of the group")
        call = _Call(method, FlowKind.DELETE, frozenset(), records=len(resource_names))
        self._send(
            call,
            self._people.batchDeleteContacts(body=encoded({"resourceNames": list(resource_names)})),
            _Mode.IDEMPOTENT_WRITE,
            resource_names,
        )
        for name in resource_names:
            self._drop(name)

    def modify_members(self, add: Sequence[str] = (), remove: Sequence[str] = ()) -> MembersResult:
        """Add contacts to / remove them from GroupSync's group only (``members:modify``).

        Other memberships of a contact are never touched. Removing needs a verified contact;
        adding needs a contact seen carrying GroupSync's marker (one GroupSync created, e.g.
        one the user took out of the group), so no contact of the user's own is ever pulled in.
        """
        method = "contactGroups.members.modify"
        self._client._require_tagged(self.scope, method)
        _check_size(method, [*add, *remove], MAX_MEMBER_CHANGES)
        self._refuse_unless(
            method, add, lambda n: n in self._seen and self._seen[n].tagged, "do not carry GroupSync's marker"
        )
        self._refuse_unless(method, remove, self.is_verified, "are not verified members of the group")
        call = _Call(
            method, FlowKind.MEMBERSHIP, frozenset({DataCategory.MEMBERSHIPS}), records=len(add) + len(remove)
        )
        body = {"resourceNamesToAdd": list(add), "resourceNamesToRemove": list(remove)}
        try:
            answer = self._send(
                call,
                self._members.modify(resourceName=self.scope.group_resource_name, body=encoded(body)),
                _Mode.IDEMPOTENT_WRITE,
                [*add, *remove],
            )
        except RequestRejectedError as exc:
            if exc.status == 404:
                raise GroupDeletedError(method, f"{self.scope.group_resource_name} no longer exists") from exc
            raise
        result = MembersResult(
            tuple(answer.get("notFoundResourceNames", ())),
            tuple(answer.get("canNotRemoveLastContactGroupResourceNames", ())),
        )
        for name in add:
            if name not in result.not_found:
                self._seen[name].in_group = True
        for name in remove:
            if name not in result.not_found and name not in result.cannot_remove_last_group:
                self._seen[name].in_group = False
        return result

    def forget(self, resource_names: Iterable[str]) -> None:
        """Drop what this client saw of contacts its caller will not touch again (keeps memory flat).

        A forgotten contact may not be written until it is read again; a member of the group
        may still be read.
        """
        for name in resource_names:
            self._seen.pop(name, None)

    def forget_unread(self) -> None:
        """Take the members not read out of scope, once the caller has read what it needs."""
        self._listed, self._dropped = frozenset(), set()

    def put_back(self, resource_names: Sequence[str]) -> MembersResult:
        """Put contacts GroupSync created, and that left its group, back in; nothing is read first.

        ``resource_names`` must come from GroupSync's own records of the contacts it created
        (the caller's promise: a name Google returned for a create or for a tagged member).
        Reading such a contact to see why it left would read a contact outside the group;
        ``members:modify`` touches only this group's membership and answers the question
        itself: a contact the user deleted comes back in ``notFoundResourceNames``. Those put
        back become members in scope for reading.
        """
        method = "contactGroups.members.modify"
        self._client._require_tagged(self.scope, method)
        _check_size(method, resource_names, MAX_MEMBER_CHANGES)
        call = _Call(
            method, FlowKind.MEMBERSHIP, frozenset({DataCategory.MEMBERSHIPS}), records=len(resource_names)
        )
        body = {"resourceNamesToAdd": list(resource_names)}
        try:
            answer = self._send(
                call,
                self._members.modify(resourceName=self.scope.group_resource_name, body=encoded(body)),
                _Mode.IDEMPOTENT_WRITE,
                resource_names,
            )
        except RequestRejectedError as exc:
            if exc.status == 404:
                raise GroupDeletedError(method, f"{self.scope.group_resource_name} no longer exists") from exc
            raise
        result = MembersResult(tuple(answer.get("notFoundResourceNames", ())), ())
        for name in resource_names:
            if name in result.not_found:
                self._drop(name)
            elif name in self._seen:
                self._seen[name].in_group = True
            else:
                self._seen[name] = _Seen(in_group=True, tagged=False)
        return result
