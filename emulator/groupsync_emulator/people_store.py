"""What every part of :class:`~groupsync_emulator.people_state.PeopleState` shares: the accounts, their
resource names and etags, sync and page tokens, and the bookkeeping of a change.

The parts (``people_limits``, ``people_contacts``, ``people_groups``) are mixins over this one class
rather than objects of their own, so the whole state stays one flat ``__dict__``: state files
written before the split load unchanged.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable
from typing import Any

from app.google.limits import Bucket
from groupsync_emulator.discovery import invalid
from groupsync_emulator.people_records import (
    SYSTEM_GROUPS,
    Account,
    Contact,
    FaultPlan,
    Group,
    PeopleSettings,
    _digest,
    _etag,
    _PlanRuntime,
    _Token,
    failed_precondition,
)


class PeopleStore:
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

    # changes ---------------------------------------------------------------------------------------------

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

    # Shared with people_groups: deleting a group with deleteContacts deletes its members the same way.
    def _delete(self, account: Account, contact: Contact, now: float) -> None:
        seq = self._bump(account, contact, now)
        self._touch_groups(account, contact.groups, seq, now)
        contact.deleted = True
        contact.fields = {}
        contact.groups = []
