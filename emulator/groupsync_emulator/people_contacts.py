"""Contacts of the People emulator: how a person is rendered, what a Person body may write, and the
contact methods (batch create, update, delete, get, list connections, the user's own edits)."""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from groupsync_emulator.discovery import check_json, discovery_schemas, invalid
from groupsync_emulator.people_fields import (
    _addable,
    _check_date,
    _check_person_name,
    _decorate,
    _sort_key,
    _strip_read_only,
)
from groupsync_emulator.people_records import (
    MY_CONTACTS,
    SINGLETON_FIELDS,
    STORED_FIELDS,
    Account,
    Contact,
    _iso,
    _page_size,
    _Token,
    failed_precondition,
    not_found,
)
from groupsync_emulator.people_store import PeopleStore


class ContactsMixin(PeopleStore):
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
            _replace_fields(contact, fields, mask)
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

    # acting as the Google user -----------------------------------------------------------------------

    def user_edit_contact(
        self, account: Account, resource_name: str, person: Mapping[str, Any], now: float
    ) -> Contact:
        """The user edits fields in Google Contacts: no etag check, only the given fields change."""
        contact = self._contact(account, resource_name)
        fields = self._writable(person, "person")
        _replace_fields(contact, fields, person)
        self._bump(account, contact, now)
        return contact


def _replace_fields(
    contact: Contact, fields: Mapping[str, list[dict[str, Any]]], named: Container[str]
) -> None:
    """Each stored field ``named`` takes its new values, or is cleared when ``fields`` has none."""
    for name in STORED_FIELDS:
        if name in named:
            if name in fields:
                contact.fields[name] = fields[name]
            else:
                contact.fields.pop(name, None)
