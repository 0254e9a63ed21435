"""The values the People client layer hands out and takes: markers, scopes, and what Google answered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.google.member_names import MEMBERS_KEY, MemberNames

Person = dict[str, Any]
"""A People API ``Person`` resource as JSON."""


@dataclass(frozen=True)
class ClientDataTag:
    """A clientData ``{key, value}`` pair marking what GroupSync created (contacts and its group)."""

    key: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}

    def found_in(self, entries: Iterable[Mapping[str, Any]]) -> bool:
        return any(e.get("key") == self.key and e.get("value") == self.value for e in entries)


@dataclass(frozen=True)
class GroupScope:
    """GroupSync's contact group for one sync, and the marker its contacts carry."""

    group_resource_name: str
    marker: ClientDataTag


@dataclass(frozen=True)
class ContactGroupInfo:
    resource_name: str
    etag: str
    name: str
    member_count: int
    member_resource_names: MemberNames
    """Filled only when members were asked for (held once, by the layer and the engine)."""
    tagged: bool
    """The group carries the marker it was looked up with."""


@dataclass(frozen=True)
class FetchedPerson:
    """A contact as Google returned it, with the layer's scope verdict."""

    resource_name: str
    etag: str
    person: Person
    in_group: bool
    tagged: bool
    group_memberships: tuple[str, ...]
    """Every contact group the contact belongs to (ours, the user's own, system groups)."""

    @property
    def verified(self) -> bool:
        return self.in_group and self.tagged


@dataclass(frozen=True)
class BatchGetResult:
    found: dict[str, FetchedPerson]
    """Keyed by the resource name asked for (the person's own name may differ: it can change)."""
    missing: tuple[str, ...]


@dataclass(frozen=True)
class WriteResult:
    """One item of a batch create or update."""

    index: int
    """Position in the request (creates) or in the mapping's iteration order (updates)."""
    requested_resource_name: str | None
    """``None`` for creates."""
    status_code: int
    message: str
    person: FetchedPerson | None
    """The contact as written (None when the item failed)."""

    @property
    def ok(self) -> bool:
        return self.person is not None


@dataclass(frozen=True)
class MembersResult:
    not_found: tuple[str, ...]
    cannot_remove_last_group: tuple[str, ...]
    """Contacts Google kept in the group because it is their only one."""


@dataclass(frozen=True)
class ConnectionsResult:
    people: list[FetchedPerson]
    """Only contacts in the group or carrying the marker; everything else is dropped here."""
    deleted: tuple[str, ...]
    """Resource names reported deleted (incremental listings only)."""
    next_sync_token: str | None
    total: int | None = None
    """How many contacts the whole account holds (``totalItems``); full listings only."""


def group_info(group: Mapping[str, Any], marker: ClientDataTag) -> ContactGroupInfo:
    return ContactGroupInfo(
        resource_name=str(group["resourceName"]),
        etag=str(group.get("etag", "")),
        name=str(group.get("name", "")),
        member_count=int(group.get("memberCount", 0)),
        member_resource_names=MemberNames.of(group.get(MEMBERS_KEY, ())),
        tagged=marker.found_in(group.get("clientData", ())),
    )


def membership_groups(memberships: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The resource names of the contact groups a person's ``memberships`` name."""
    names = []
    for membership in memberships:
        group = membership.get("contactGroupMembership")
        if not group:
            continue
        name = group.get("contactGroupResourceName")
        if name is None and group.get("contactGroupId"):
            name = f"contactGroups/{group['contactGroupId']}"
        if name:
            names.append(str(name))
    return tuple(names)
