"""What one run learns of GroupSync's group before planning, read with as few requests and fields as possible.

Only the group's members are read (see :mod:`app.sync.executor` for the order of a run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from app.db import DbSession, unit_of_work
from app.google.fields import OWNED_FIELDS
from app.google.limits import MAX_BATCH_GET, MAX_MEMBER_CHANGES
from app.google.people import FetchedPerson, GroupContacts
from app.sync.mapping import field_hash, read_tag
from app.sync.models import ContactSync
from app.sync.planner import GoogleFacts, RemoteContact, RowState
from app.sync.repair_scan import Glanced, glance
from app.sync.rows import Row

# Google's own groups; a contact in any other group (besides GroupSync's) is in one the user made.
SYSTEM_GROUP_IDS = frozenset(
    {"myContacts", "starred", "chatBuddies", "friends", "family", "coworkers", "all", "blocked"}
)


@dataclass
class Gathered:
    facts: GoogleFacts
    readded: int
    changed_rows: list[Row]
    """Rows whose Google side (resource name, etag, hash) this gathering learnt."""


class Gatherer:
    """What the planner must know about the group, read with as few requests and fields as possible."""

    def __init__(
        self,
        session: DbSession,
        sync: ContactSync,
        contacts: GroupContacts,
        rows: Mapping[str, Row],
    ) -> None:
        self.session = session
        self.sync = sync
        self.contacts = contacts
        self.rows = rows
        self.rows_by_rn: dict[str, Row] = {}

    def gather(
        self,
        wanted: Callable[[str], str | None],
        members: AbstractSet[str],
        *,
        repair: bool,
        glanced: Glanced | None = None,
    ) -> Gathered:
        """What the plan needs; ``glanced``: a streamed repair pass already compared the etags."""
        by_rn = {
            r.resource_name: r for r in self.rows.values() if r.resource_name and r.state is RowState.SYNCED
        }
        self.rows_by_rn = by_rn
        absent = [rn for rn in by_rn if rn not in members]
        intents = any(r.state is RowState.INTENDED for r in self.rows.values())
        strays: dict[str, list[RemoteContact]] = {}
        idle(self.session)
        # A contact the user told GroupSync to leave alone may leave the group: nothing to adopt then.
        if repair or intents or any(not by_rn[rn].stop_syncing for rn in absent):
            unknown = sorted(members - by_rn.keys())
            if unknown:
                strays = self._strays(unknown)
        missing: set[str] = set(glanced.missing) if glanced else set()
        put_back: list[str] = []
        for rn in absent:
            row = by_rn[rn]
            if wanted(row.crm_id) is not None and not row.stop_syncing and row.crm_id not in strays:
                put_back.append(rn)
            else:
                # Left the CRM list (or renamed and found again): not GroupSync's to look at.
                missing.add(rn)
        readded: set[str] = set()
        for start in range(0, len(put_back), MAX_MEMBER_CHANGES):
            chunk = put_back[start : start + MAX_MEMBER_CHANGES]
            answer = self.contacts.put_back(chunk)
            missing.update(answer.not_found)
            readded.update(rn for rn in chunk if rn not in answer.not_found)

        # Changed in the CRM or leaving the list: the contacts this run may write.
        to_read = [
            rn
            for rn, row in by_rn.items()
            if rn not in missing and not row.stop_syncing and wanted(row.crm_id) != row.field_hash
        ]
        if repair:
            to_read += self._changed_in_google(
                [rn for rn in by_rn if rn not in missing], set(to_read), missing
            )
        elif glanced is not None:
            reading = set(to_read)
            to_read += [rn for rn in glanced.moved if rn not in reading and rn not in missing]
        inspected: dict[str, RemoteContact] = {}
        changed: list[Row] = []
        # A batch at a time: only the small verdicts outlive each answer, not the persons in it.
        for start in range(0, len(to_read), MAX_BATCH_GET):
            result = self.contacts.batch_get(to_read[start : start + MAX_BATCH_GET], OWNED_FIELDS)
            missing.update(result.missing)
            for requested, person in result.found.items():
                row = by_rn[requested]
                remote = self._remote(person, row)
                inspected[remote.resource_name] = remote
                if learn(row, remote):
                    changed.append(row)
        facts = GoogleFacts(inspected=inspected, missing=frozenset(missing), strays=strays)
        return Gathered(facts, len(readded), changed)

    def _changed_in_google(self, members: Sequence[str], wanted: set[str], missing: set[str]) -> list[str]:
        """Members whose etag moved since GroupSync last saw them (read with scope fields only).

        A repair run compares every member this way; only those Google changed are then read
        in full and hashed.
        """
        rest = [rn for rn in members if rn not in wanted and not self.rows_by_rn[rn].stop_syncing]
        if not rest:
            return []
        moved: list[str] = []
        for start in range(0, len(rest), MAX_BATCH_GET):
            glanced = glance(self.contacts, rest[start : start + MAX_BATCH_GET], self._etag)
            missing.update(glanced.missing)
            moved.extend(glanced.moved)
        return moved

    def _etag(self, resource_name: str) -> str | None:
        return self.rows_by_rn[resource_name].etag

    def _strays(self, unknown: Sequence[str]) -> dict[str, list[RemoteContact]]:
        """Unmapped members carrying this sync's tag, by CRM id (scope fields only)."""
        strays: dict[str, list[RemoteContact]] = {}
        for start in range(0, len(unknown), MAX_BATCH_GET):
            for person in self.contacts.batch_get(unknown[start : start + MAX_BATCH_GET], ()).found.values():
                tagged = read_tag(person.person)
                if tagged is not None and tagged[0] == self.sync.tag and person.in_group:
                    strays.setdefault(tagged[1], []).append(self._remote(person, None))
        return strays

    def _remote(self, person: FetchedPerson, row: Row | None) -> RemoteContact:
        ours = self.contacts.scope.group_resource_name
        own_groups = [
            g for g in person.group_memberships if g != ours and g.rsplit("/", 1)[-1] not in SYSTEM_GROUP_IDS
        ]
        if row is None:
            digest = ""
        elif row.etag == person.etag and row.field_hash is not None:
            # Same etag, same contact: the hash of the last read or write still holds.
            digest = row.field_hash
        else:
            digest = field_hash(person.person)
        return RemoteContact(
            resource_name=person.resource_name,
            etag=person.etag,
            field_hash=digest,
            in_group=person.in_group,
            in_user_groups=bool(own_groups),
        )


def learn(row: Row, remote: RemoteContact) -> bool:
    """Take what this run read into the mapping row; True if anything changed.

    Google may give a contact a new resource name: the mapping follows it before anything is planned.
    """
    seen = (remote.resource_name, remote.etag, remote.field_hash)
    if (row.resource_name, row.etag, row.field_hash) == seen:
        return False
    row.resource_name, row.etag, row.field_hash = seen
    return True


def idle(session: DbSession) -> None:
    """End the session's transaction (reads included) before a request to Google.

    Nothing may hold a database lock while Google answers or a Retry-After is waited out;
    on SQLite even an open read transaction would stall the web app's writes.
    """
    with unit_of_work(session, expire_on_commit=False):
        pass


def settled(row: Row, wanted: str | None, facts: GoogleFacts) -> bool:
    """Whether nothing about this synced contact can change this run (so the plan leaves it out)."""
    rn = row.resource_name
    return (
        row.state is RowState.SYNCED
        and rn is not None
        and not row.stop_syncing
        and wanted is not None
        and wanted == row.field_hash
        and rn not in facts.missing
        and rn not in facts.inspected
        and row.crm_id not in facts.strays
    )
