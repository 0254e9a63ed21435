"""The People API's data for every emulated Google account: contacts, contact groups, etags, sync tokens,
quotas, faults and the strict-sequential check.

Nothing here knows about HTTP. Callers hold ``EmulatorState.lock`` around every call and pass
the emulator's clock reading as ``now``, so expiry is testable without sleeping. Every error is
a :class:`GoogleApiError` in the shape Google answers with. Where Google's behaviour is
undocumented the stricter reading is taken; ``docs/emulator.md`` lists each choice.

:class:`PeopleState` is assembled from one mixin per concern: ``people_limits`` (quotas, faults,
strict mode), ``people_contacts`` and ``people_groups``, over ``people_store`` (accounts, etags,
tokens). What it stores is in ``people_records``; person-field checks and formatting in
``people_fields``.
"""

from __future__ import annotations

from typing import Any

from groupsync_emulator.people_contacts import ContactsMixin
from groupsync_emulator.people_groups import GroupsMixin
from groupsync_emulator.people_limits import LimitsMixin

# State files written before the records moved out of this module name them here.
from groupsync_emulator.people_records import (
    Account,
    Contact,
    FaultPlan,
    Group,
    PeopleSettings,
    Quotas,
    _PlanRuntime,
    _Token,
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


class PeopleState(LimitsMixin, ContactsMixin, GroupsMixin):
    # The test hooks' view of a whole account spans contacts and groups, so it lives where both meet.
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
