"""PeopleState on its own: paging and sync under concurrent change, etags, quota windows, input checks."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from app.google.limits import COST_BATCH_MUTATE, COST_CRITICAL_READ
from groupsync_emulator.discovery import check_json
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.people_records import Account, FaultPlan, PeopleSettings, Quotas
from groupsync_emulator.people_state import PeopleState

NOW = 1_700_000_000.0
SUB = "110000000000000000001"


@pytest.fixture
def people() -> PeopleState:
    return PeopleState(PeopleSettings())


@pytest.fixture
def account(people: PeopleState) -> Account:
    return people.account(SUB, NOW)


def create(people: PeopleState, account: Account, *names: str) -> list[str]:
    persons = [{"names": [{"givenName": n}]} for n in names]
    return [c.resource_name for c in people.create_contacts(account, persons, ["p"] * len(persons), NOW)]


def listing(people: PeopleState, account: Account, **kwargs: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mask": frozenset({"names"}),
        "page_size": 2,
        "page_token": None,
        "sync_token": None,
        "request_sync_token": True,
        "sort_order": "LAST_MODIFIED_ASCENDING",
        "sources": frozenset({"READ_SOURCE_TYPE_CONTACT"}),
        "now": NOW,
    }
    return people.list_connections(account, **{**params, **kwargs})


def edit(people: PeopleState, account: Account, name: str, given: str) -> None:
    people.user_edit_contact(account, name, {"names": [{"givenName": given}]}, NOW)


def test_changes_during_paging_lose_nothing(people: PeopleState, account: Account) -> None:
    names = create(people, account, "a", "b", "c", "d", "e")
    page = listing(people, account)
    seen = [p["resourceName"] for p in page["connections"]]
    assert seen == names[:2]
    edit(people, account, names[0], "a, edited after it was listed")
    edit(people, account, names[3], "d, edited before it was listed")
    (added,) = create(people, account, "f")
    while "nextPageToken" in page:
        page = listing(people, account, page_token=page["nextPageToken"])
        seen += [p["resourceName"] for p in page["connections"]]
    assert seen == [names[0], names[1], names[2], names[4]], "unchanged contacts are never skipped"
    changes = listing(people, account, sync_token=page["nextSyncToken"], page_size=100)
    assert {p["resourceName"] for p in changes["connections"]} == {names[0], names[3], added}


def test_sync_token_is_bound_to_its_request(people: PeopleState, account: Account) -> None:
    create(people, account, "a")
    token = listing(people, account)["nextSyncToken"]
    with pytest.raises(GoogleApiError) as excinfo:
        listing(people, account, sync_token=token, mask=frozenset({"emailAddresses"}))
    assert excinfo.value.code == 400
    other = people.account("someone-else", NOW)
    with pytest.raises(GoogleApiError) as excinfo:
        listing(people, other, sync_token=token)
    assert excinfo.value.message == "Sync token is invalid."


def test_every_mutation_changes_the_etags_it_should(people: PeopleState, account: Account) -> None:
    group = people.create_group(account, {"name": "G"}, NOW)
    (name,) = create(people, account, "a")
    contact = account.contacts[name]

    def etags() -> tuple[str, str, str]:
        my_contacts = account.groups["myContacts"]
        return (
            people.person_etag(account, contact),
            people.group_etag(account, group),
            people.group_etag(account, my_contacts),
        )

    start = etags()
    people.modify_members(account, group.resource_name, [name], [], NOW)
    joined = etags()
    assert joined[0] != start[0]
    assert joined[1] != start[1]
    assert joined[2] == start[2], "myContacts' membership did not change"
    people.modify_members(account, group.resource_name, [name], [], NOW)
    assert etags() == joined, "adding a member twice changes nothing"
    edit(people, account, name, "b")
    edited = etags()
    assert edited[0] != joined[0]
    assert edited[1:] == joined[1:]


def test_quota_window_slides(people: PeopleState, account: Account) -> None:
    account.quotas = Quotas(critical_read_requests=7)
    people.charge(SUB, COST_BATCH_MUTATE, NOW)
    people.charge(SUB, COST_CRITICAL_READ, NOW + 30)
    with pytest.raises(GoogleApiError) as excinfo:
        people.charge(SUB, COST_CRITICAL_READ, NOW + 59)
    assert excinfo.value.code == 429
    assert excinfo.value.metadata["quota_metric"] == "people.googleapis.com/critical_read_requests"
    people.charge(SUB, COST_CRITICAL_READ, NOW + 60)


def test_faults_disarm_after_times_and_respect_methods(people: PeopleState, account: Account) -> None:
    people.configure_faults(SUB, FaultPlan(error_rate=1.0, methods=frozenset({"people.get"}), times=2), NOW)
    assert people.draw_faults(SUB, "contactGroups.list", mutation=False).before is None
    assert [people.draw_faults(SUB, "people.get", mutation=False).before for _ in range(3)] == [
        "503",
        "503",
        None,
    ]


def test_a_slow_answer_counts_as_a_fault(people: PeopleState, account: Account) -> None:
    people.configure_faults(SUB, FaultPlan(latency_ms=10, slow_rate=1.0, slow_ms=500, times=1), NOW)
    delays = [people.draw_faults(SUB, "people.get", mutation=False).delay_seconds for _ in range(2)]
    assert delays == [0.51, 0.01], "latency stays; the slow fault fires once"


def test_fail_after_apply_only_hits_mutations(people: PeopleState, account: Account) -> None:
    people.configure_faults(SUB, FaultPlan(after_apply_rate=1.0, after_apply="drop"), NOW)
    assert people.draw_faults(SUB, "people.get", mutation=False).after_apply is None
    assert people.draw_faults(SUB, "people.createContact", mutation=True).after_apply == "drop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"names": [{"givenName": "a", "surname": "b"}]}, "Unknown name \"surname\" at 'person.names[0]'"),
        ({"birthdays": [{"date": {"year": "nineteen"}}]}, "person.birthdays[0].date.year"),
        ({"memberships": {"contactGroupMembership": {}}}, "person.memberships"),
        ({"metadata": {"sources": [{"type": "TWITTER"}]}}, "person.metadata.sources[0].type"),
    ],
)
def test_json_checked_against_the_discovery_document(body: dict[str, Any], message: str) -> None:
    with pytest.raises(GoogleApiError) as excinfo:
        check_json("Person", body, "person")
    assert excinfo.value.code == 400
    assert message in excinfo.value.message


def test_a_saved_state_forgets_mutations_in_flight(people: PeopleState, account: Account) -> None:
    people.begin_mutation(SUB)
    restored = pickle.loads(pickle.dumps(people))  # noqa: S301  (bytes this test just made)
    restored.begin_mutation(SUB)
    with pytest.raises(GoogleApiError) as excinfo:
        people.begin_mutation(SUB)
    assert excinfo.value.status == "ABORTED"


def test_contacts_always_keep_a_membership(people: PeopleState, account: Account) -> None:
    group = people.create_group(account, {"name": "G"}, NOW)
    (name,) = create(people, account, "a")
    people.modify_members(account, group.resource_name, [name], ["people/c1"], NOW)
    answer = people.modify_members(account, "contactGroups/myContacts", [], [name], NOW)
    assert answer == {}
    answer = people.modify_members(account, group.resource_name, [], [name], NOW)
    assert answer == {"canNotRemoveLastContactGroupResourceNames": [name]}
    people.delete_group(account, group.resource_name, delete_contacts=False, now=NOW)
    assert account.contacts[name].groups == ["myContacts"]
