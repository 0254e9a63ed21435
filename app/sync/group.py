"""GroupSync's group at the start of a run: created on the first run, read on the others.

GroupSync never lists the user's groups: a taken name is learnt from Google's 409, and an
existing group is read by its resource name only.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from app.db import DbSession, unit_of_work
from app.google.errors import GroupNameTakenError
from app.google.people import ClientDataTag, ContactGroupInfo, GroupContacts, GroupScope, PeopleClient
from app.sync.gather import idle
from app.sync.models import ContactSync

MAX_GROUP_NAME_TRIES = 20


def create_if_missing(
    session: DbSession, sync: ContactSync, base_name: str, marker: ClientDataTag, client: PeopleClient
) -> bool:
    """Create the group on the first run; True if this run created it.

    GroupSync never lists the user's groups, so a taken name is learnt from Google's 409 and
    the next suffix tried. A create whose answer was lost may have made a group anyway; it
    cannot be found without listing, so the next attempt creates again (Google's 409 then
    moves it to the next suffix) and the run's message names the group that may be left over.
    """
    if sync.group_resource_name is not None:
        return False
    for attempt in range(1, MAX_GROUP_NAME_TRIES + 1):
        name = base_name if attempt == 1 else f"{base_name} ({attempt})"
        with unit_of_work(session, expire_on_commit=False):
            sync.group_create_sent = True
        try:
            info = client.create_group(name, marker)
        except GroupNameTakenError:
            continue
        with unit_of_work(session, expire_on_commit=False):
            sync.group_resource_name, sync.group_etag, sync.group_name = (
                info.resource_name,
                info.etag,
                info.name,
            )
            sync.group_create_sent = False
        return True
    raise GroupNameTakenError("contactGroups.create", f"every name like {base_name!r} is taken")


def open_members(
    session: DbSession, sync: ContactSync, scope: GroupScope, client: PeopleClient
) -> tuple[GroupContacts, AbstractSet[str]]:
    """The group's contacts and its members' resource names (the answer itself is not kept)."""
    idle(session)
    contacts, info = client.open_group(scope)
    _follow(session, sync, info)
    return contacts, info.member_resource_names


def none_left(
    session: DbSession,
    sync: ContactSync,
    scope: GroupScope,
    client: PeopleClient,
    settled: int,
) -> bool:
    """Whether the group still holds exactly the synced contacts, read without its members.

    Only the count is compared: a contact of GroupSync's taken out while one of the user's
    own is put in is found by the next run that reads the members (one with a change, or the
    repair run).
    """
    idle(session)
    info = client.read_group(scope)
    _follow(session, sync, info)
    return info.member_count == settled


def _follow(session: DbSession, sync: ContactSync, info: ContactGroupInfo) -> None:
    with unit_of_work(session, expire_on_commit=False):
        # A rename by the user is kept: GroupSync follows the group, not its name.
        sync.group_name, sync.group_etag = info.name, info.etag
