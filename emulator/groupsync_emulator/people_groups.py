"""Contact groups of the People emulator: rendering, lookup, create, update, delete, member changes
and the groups listing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from app.google.limits import MAX_MEMBER_CHANGES
from groupsync_emulator.discovery import invalid
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.people_fields import _addable, _check_person_name, _client_data
from groupsync_emulator.people_records import (
    ALL,
    MY_CONTACTS,
    SYSTEM_GROUPS,
    Account,
    Contact,
    Group,
    _iso,
    _page_size,
    _Token,
    failed_precondition,
    not_found,
)
from groupsync_emulator.people_store import PeopleStore


class GroupsMixin(PeopleStore):
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
