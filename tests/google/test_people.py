"""The group-scoped People API client layer against the emulator, over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask, current_app
from flask.testing import FlaskClient
from google.oauth2.credentials import Credentials
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Membership
from app.extensions import db
from app.google.credentials import UserOAuthCredentialsSource
from app.google.endpoints import CONTACTS_SCOPE, GoogleEndpoints
from app.google.errors import (
    AmbiguousWriteError,
    ContactLimitReachedError,
    GoogleUnavailableError,
    GroupDeletedError,
    GroupNameTakenError,
    NeedsReconnectError,
    PermissionDeniedError,
    QuotaExceededError,
    ScopeViolationError,
    StaleEtagError,
)
from app.google.pacing import Pacer
from app.google.people import (
    GroupContacts,
    GroupScope,
    PeopleClient,
    RequestContext,
    RetryPolicy,
)
from app.google.tokens import ATTEMPTS
from app.ledger.events import EventTag, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.services import GoogleRequestLedger
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import (
    ADA,
    connect,
    connection_of,
    ledger,
    offline_connection,
    settings_of,
    vault_of,
)
from tests.google.helpers import emulator_credentials
from tests.google.people_harness import GROUP_NAME, MARKER, Harness, open_group, tagged


def test_every_method_works_inside_the_group_and_each_request_has_one_ledger_entry(harness: Harness) -> None:
    personal = harness.seed_personal()
    client = harness.client()
    group = client.create_group(GROUP_NAME, MARKER)
    assert group.tagged
    with pytest.raises(GroupNameTakenError):
        client.create_group(GROUP_NAME, MARKER)
    assert client.get_group(group.resource_name, MARKER) == group

    contacts = client.contacts(GroupScope(group.resource_name, MARKER))
    created = contacts.batch_create([tagged("1", "Олена"), tagged("2", "Grace")])
    assert [r.ok for r in created] == [True, True]
    names = [r.person.resource_name for r in created if r.person]
    assert all(r.person is not None and r.person.verified for r in created)
    # The user also files the second contact under My Contacts, so it may later leave GroupSync's group.
    harness.google.call("POST", f"people/accounts/{ADA}/groups/myContacts/members", {"add": [names[1]]})
    personal_before = harness.personal_part(group.resource_name)

    members = contacts.list_members()
    assert sorted(members.member_resource_names) == sorted(names)
    read = contacts.batch_get(names, ["names"])
    assert read.found[names[0]].person["names"][0]["givenName"] == "Олена"

    updated = contacts.batch_update({names[0]: {"names": [{"givenName": "Olena"}]}}, ["names"])
    assert updated[0].ok
    assert harness.group_members(group.resource_name)[0]["clientData"][0]["value"] == "sync:1"

    assert client.count_contacts() == len(personal["contacts"]) + 2
    removed = contacts.modify_members(remove=[names[1]])
    assert removed.not_found == ()
    assert removed.cannot_remove_last_group == ()
    assert contacts.modify_members(add=[names[1]]).not_found == ()

    contacts.batch_delete([names[0]])
    assert [c["resourceName"] for c in harness.group_members(group.resource_name)] == [names[1]]
    # Put back by recorded name without a read: Google names the one the user (here: we) deleted.
    assert contacts.put_back([names[0]]).not_found == (names[0],)
    assert harness.personal_part(group.resource_name) == personal_before

    log = harness.log()
    ledger = harness.ledger()
    assert len(ledger) == len(log) == 12
    assert ledger == [(method, str(status)) for method, status in log]


def test_contacts_outside_the_scope_are_refused_before_any_request(harness: Harness) -> None:
    personal = harness.seed_personal()
    mum, dentist = personal["contacts"]
    book_club = personal["groups"]["Book club"]
    client = harness.client()
    contacts = open_group(client)
    group = contacts.scope.group_resource_name
    [ours] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    # The user drops a personal contact into GroupSync's group: a member, but not GroupSync's.
    harness.google.call(
        "POST",
        f"people/accounts/{ADA}/groups/{group.removeprefix('contactGroups/')}/members",
        {"add": [dentist]},
    )
    contacts.list_members()
    assert not contacts.batch_get([dentist], ["names"]).found[dentist].verified
    before = harness.snapshot()
    sent = len(harness.log())

    attempts: list[Callable[[], object]] = [
        lambda: contacts.batch_get([mum], ["names"]),
        lambda: contacts.batch_update({mum: {"names": [{"givenName": "X"}]}}, ["names"]),
        lambda: contacts.batch_update({dentist: {"names": [{"givenName": "X"}]}}, ["names"]),
        lambda: contacts.batch_update({ours: {"names": [], "memberships": []}}, ["names", "memberships"]),
        lambda: contacts.batch_delete([ours, dentist]),
        lambda: contacts.batch_delete([mum]),
        lambda: contacts.modify_members(add=[mum]),
        lambda: contacts.modify_members(remove=[dentist]),
        lambda: contacts.batch_create([{"names": [{"givenName": "Untagged"}]}]),
        lambda: contacts.batch_create(
            [
                {
                    **tagged("9", "Elsewhere"),
                    "memberships": [
                        {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}
                    ],
                }
            ]
        ),
        lambda: client.contacts(GroupScope("contactGroups/myContacts", MARKER)),
        lambda: GroupContacts(client, GroupScope(book_club, MARKER)).batch_create([tagged("9", "Z")]),
    ]
    for attempt in attempts:
        with pytest.raises((ScopeViolationError, ValueError)):
            attempt()
    assert len(harness.log()) == sent, "a refused call sent nothing"
    assert harness.snapshot() == before


def test_reads_are_retried_on_503_with_backoff(harness: Harness) -> None:
    client = harness.client()
    contacts = open_group(client)
    harness.faults(error_rate=1.0, error_code=503, methods=["contactGroups.get"], times=2)
    info = contacts.list_members()
    assert info.member_count == 0
    assert [s for s in harness.log() if s[0] == "contactGroups.get"] == [
        ("contactGroups.get", 503),
        ("contactGroups.get", 503),
        ("contactGroups.get", 200),
    ]
    assert len(harness.sleeps) == 2
    assert all(0 < s <= 32 + 1 for s in harness.sleeps)
    assert harness.ledger()[-3:] == [
        ("contactGroups.get", "503"),
        ("contactGroups.get", "503"),
        ("contactGroups.get", "200"),
    ]


def test_429_is_retried_after_the_quota_window_and_gives_up_with_a_typed_error(harness: Harness) -> None:
    client = harness.client()
    contacts = open_group(client)
    harness.google.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"read_requests": 1}})
    harness.on_sleep = lambda _: harness.google.advance_clock(61)
    assert contacts.list_members().member_count == 0
    assert [s for m, s in harness.log() if m == "contactGroups.get"] == [200]

    contacts.list_members()
    assert [s for m, s in harness.log() if m == "contactGroups.get"] == [200, 429, 200]

    harness.on_sleep = lambda _: None
    with pytest.raises(QuotaExceededError):
        contacts.list_members()
    assert [s for m, s in harness.log() if m == "contactGroups.get"][3:] == [429, 429, 429, 429]


def test_creates_are_retried_only_when_quota_proves_nothing_was_applied(harness: Harness) -> None:
    client = harness.client()
    contacts = open_group(client)
    harness.google.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"critical_write_requests": 6}})
    harness.on_sleep = lambda _: harness.google.advance_clock(61)
    contacts.batch_create([tagged("1", "One")])
    contacts.batch_create([tagged("2", "Two")])
    assert [s for m, s in harness.log() if m == "people.batchCreateContacts"] == [200, 429, 200]
    assert len(harness.group_members(contacts.scope.group_resource_name)) == 2


@pytest.mark.parametrize("after_apply", ["503", "drop"])
def test_a_create_failing_after_it_was_applied_is_ambiguous_and_never_resent(
    harness: Harness, after_apply: str
) -> None:
    client = harness.client()
    contacts = open_group(client)
    harness.faults(
        after_apply_rate=1.0, after_apply=after_apply, methods=["people.batchCreateContacts"], times=1
    )
    with pytest.raises(AmbiguousWriteError):
        contacts.batch_create([tagged("1", "Once")])
    creates = [
        e for e in harness.google.log(harness.log_start) if e["method"] == "people.batchCreateContacts"
    ]
    assert len(creates) == 1, "the create was sent exactly once"
    members = harness.group_members(contacts.scope.group_resource_name)
    assert len(members) == 1, "no twin contact"
    ledger_creates = [o for m, o in harness.ledger() if m == "people.batchCreateContacts"]
    assert ledger_creates == ["connection_dropped" if after_apply == "drop" else after_apply]


def test_a_create_refused_with_503_is_not_retried_either(harness: Harness) -> None:
    contacts = open_group(harness.client())
    harness.faults(error_rate=1.0, error_code=503, methods=["people.batchCreateContacts"], times=1)
    with pytest.raises(AmbiguousWriteError):
        contacts.batch_create([tagged("1", "Never")])
    assert [s for m, s in harness.log() if m == "people.batchCreateContacts"] == [503]
    assert harness.sleeps == []


def test_an_update_with_a_stale_etag_is_reported(harness: Harness) -> None:
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    contact_id = name.removeprefix("people/")
    edit = {"urls": [{"value": "https://example.org"}]}
    harness.google.call("POST", f"people/accounts/{ADA}/contacts/{contact_id}/edit", edit)
    with pytest.raises(StaleEtagError):
        contacts.batch_update({name: {"names": [{"givenName": "Ada L."}]}}, ["names"])
    contacts.batch_get([name], ["names"])
    assert contacts.batch_update({name: {"names": [{"givenName": "Ada L."}]}}, ["names"])[0].ok
    [member] = harness.group_members(contacts.scope.group_resource_name)
    assert member["urls"][0]["value"] == "https://example.org", "the user's own field survives"


def test_updates_may_only_send_owned_fields(harness: Harness) -> None:
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    for person, mask in (
        ({"names": [{"givenName": "A"}]}, ["names", "clientData"]),
        ({"photos": []}, ["names"]),
        ({"names": [{"givenName": "A"}]}, []),
    ):
        with pytest.raises(ValueError, match="owned fields"):
            contacts.batch_update({name: person}, mask)


def test_a_deleted_group_is_reported(harness: Harness) -> None:
    client = harness.client()
    contacts = open_group(client)
    gid = contacts.scope.group_resource_name.removeprefix("contactGroups/")
    harness.google.call("POST", f"people/accounts/{ADA}/groups/{gid}/delete", {})
    assert client.get_group(contacts.scope.group_resource_name, MARKER) is None
    sent = len(harness.log())
    with pytest.raises(ScopeViolationError):
        contacts.batch_create([tagged("1", "Into a deleted group")])
    assert len(harness.log()) == sent
    with pytest.raises(GroupDeletedError):
        contacts.list_members()


def test_an_expired_access_token_is_refreshed_and_the_refresh_is_in_the_ledger(harness: Harness) -> None:
    client = harness.client()
    harness.google.advance_clock(3601)
    open_group(client)
    assert harness.log() == [
        ("contactGroups.create", 401),
        ("oauth2.token", 200),
        ("contactGroups.create", 200),
    ]
    assert harness.ledger() == [
        ("contactGroups.create", "401"),
        ("oauth2.token.refresh", "200"),
        ("contactGroups.create", "200"),
    ]


def test_a_revoked_grant_needs_reconnect(harness: Harness) -> None:
    client = harness.client()
    harness.google.revoke_grant(ADA, harness.settings.google_client_id)
    with pytest.raises(NeedsReconnectError):
        client.count_contacts()
    assert harness.ledger() == [("contactGroups.get", "401"), ("oauth2.token.refresh", "400")]
    assert harness.log() == [("contactGroups.get", 401), ("oauth2.token", 400)]


def test_a_missing_contacts_scope_is_a_permission_error_without_retry(harness: Harness) -> None:
    harness.credentials = emulator_credentials(harness.settings, scopes=[CONTACTS_SCOPE + ".readonly"])
    harness.log_start = len(harness.google.log())
    with pytest.raises(PermissionDeniedError):
        harness.client().create_group(GROUP_NAME, MARKER)
    assert harness.log() == [("contactGroups.create", 403)]


def test_the_contact_limit_is_typed(harness: Harness) -> None:
    contacts = open_group(harness.client())
    filler = [{"person": {"names": [{"givenName": f"P{i}"}]}} for i in range(25_000)]
    harness.google.call("POST", f"people/accounts/{ADA}/seed", {"contacts": filler})
    with pytest.raises(ContactLimitReachedError):
        contacts.batch_create([tagged("1", "One too many")])
    assert len(harness.group_members(contacts.scope.group_resource_name)) == 0


def _google_error(status: int, state: str, reason: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": "narrow test",
            "status": state,
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}],
        }
    }


def test_a_quota_403_is_retried_but_a_permission_403_is_not(harness: Harness) -> None:
    """The emulator answers quota with 429 only; Google also uses 403 for quotas, so this one is narrow."""
    client = harness.client()
    url = f"{GoogleEndpoints.for_settings(harness.settings).people_api}/v1/contactGroups/myContacts"
    with responses.RequestsMock() as mocked:
        mocked.get(url, status=403, json=_google_error(403, "PERMISSION_DENIED", "RATE_LIMIT_EXCEEDED"))
        mocked.get(url, status=200, json={"resourceName": "contactGroups/myContacts"})
        assert client.count_contacts() == 0
        assert len(mocked.calls) == 2
    with responses.RequestsMock() as mocked:
        mocked.get(
            url, status=403, json=_google_error(403, "PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
        )
        with pytest.raises(PermissionDeniedError):
            client.count_contacts()
        assert len(mocked.calls) == 1
    assert [o for _, o in harness.ledger()] == ["403", "200", "403"]


def test_a_dropped_or_timed_out_read_is_retried(harness: Harness) -> None:
    harness.timeout = 1.0
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    harness.faults(drop_rate=1.0, methods=["people.getBatchGet"], times=1)
    assert contacts.batch_get([name], ["names"]).found[name].verified
    harness.faults(slow_rate=1.0, slow_ms=2500, methods=["people.getBatchGet"], times=1)
    # The emulator answers one request at a time per account: let the slow answer finish first.
    harness.on_sleep = lambda _: time.sleep(2.0)
    assert contacts.batch_get([name], ["names"]).found[name].verified
    reads = [o for m, o in harness.ledger() if m == "people.getBatchGet"]
    assert reads == ["connection_dropped", "200", "timeout", "200"]


def test_each_request_is_committed_to_the_ledger_before_google_answers(harness: Harness) -> None:
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    db.session.commit()
    harness.faults(slow_rate=1.0, slow_ms=1500, methods=["people.getBatchGet"], times=1)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    seen: list[list[str]] = []

    def watch() -> None:
        # Another connection, as a second process would see the database while the request is in flight.
        with app.app_context(), Session(db.engine) as other:
            for _ in range(100):
                tags = other.scalars(
                    select(LedgerEntry.tag).where(LedgerEntry.method == "people.getBatchGet")
                ).all()
                if tags:
                    seen.append(list(tags))
                    return
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert contacts.batch_get([name], ["names"]).found[name].verified
    watcher.join(5)
    assert seen == [["google.request_started"]], "committed while Google had not answered yet"
    db.session.rollback()
    # Both entries are the ledger's own commits: rolling the caller back loses neither.
    recorded = db.session.scalars(
        select(LedgerEntry.tag).where(LedgerEntry.method == "people.getBatchGet").order_by(LedgerEntry.seq)
    ).all()
    assert recorded == ["google.request_started", "google.request"]


def test_a_request_interrupted_before_it_is_answered_is_recorded_as_aborted(harness: Harness) -> None:
    class StopError(BaseException):
        """Like a worker's time limit: not an error the layer maps."""

    client = harness.client()
    assert client.count_contacts() == 0
    url = f"{GoogleEndpoints.for_settings(harness.settings).people_api}/v1/contactGroups/myContacts"

    def interrupt(_: Any) -> tuple[int, dict[str, str], str]:
        raise StopError

    with responses.RequestsMock() as mocked:
        mocked.add_callback(responses.GET, url, callback=interrupt)
        with pytest.raises(StopError):
            client.count_contacts()
    assert harness.ledger() == [("contactGroups.get", "200"), ("contactGroups.get", "aborted")]
    assert harness.log() == [("contactGroups.get", 200)]


def test_an_update_repeated_after_an_ambiguous_failure_is_reported_ambiguous(harness: Harness) -> None:
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    harness.faults(after_apply_rate=1.0, after_apply="503", methods=["people.batchUpdateContacts"], times=1)
    with pytest.raises(AmbiguousWriteError) as raised:
        contacts.batch_update({name: {"names": [{"givenName": "Ada L."}]}}, ["names"])
    assert raised.value.resource_names == (name,)
    assert [s for m, s in harness.log() if m == "people.batchUpdateContacts"] == [503, 400]
    [member] = harness.group_members(contacts.scope.group_resource_name)
    assert member["names"][0]["givenName"] == "Ada L.", "applied exactly once"


def test_ledger_entries_name_the_kind_records_and_data_categories(harness: Harness) -> None:
    contacts = open_group(harness.client())
    contacts.batch_create([tagged("1", "Ada"), tagged("2", "Grace")])
    db.session.flush()
    entry = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.method == "people.batchCreateContacts", LedgerEntry.tag == EventTag.GOOGLE_REQUEST
        )
    ).one()
    assert (entry.kind, entry.records, entry.purpose, entry.destination) == (
        "create",
        2,
        "contact_sync",
        "google",
    )
    assert json.loads(entry.categories) == ["clientData", "memberships", "metadata", "names"]
    assert entry.google_account is not None
    assert ADA not in entry.google_account, "the Google account is stored pseudonymised"


def test_clients_sharing_a_pacer_never_overlap_requests_for_one_account(harness: Harness) -> None:
    harness.google.call("POST", f"people/accounts/{ADA}/limits", {"strict_sequential": True})
    harness.faults(latency_ms=30)
    pacer = Pacer(10_000)
    context = RequestContext(
        account_id=harness.account.id, user_id=None, google_sub=ADA, trigger=Trigger.SYSTEM, actor="system"
    )
    endpoints = GoogleEndpoints.for_settings(harness.settings)
    errors: list[BaseException] = []

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run(n: int) -> None:
        # Each worker has its own database session, as separate sync runs do.
        with app.app_context(), Session(db.engine) as session:
            client = PeopleClient(
                harness.credentials,
                endpoints,
                context,
                GoogleRequestLedger(session),
                pacer,
                timeout_seconds=5.0,
            )
            try:
                contacts = open_group(client, f"Group {n}")
                for i in range(3):
                    contacts.batch_create([tagged(f"{n}-{i}", f"P{i}")])
                session.commit()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    statuses = [s for m, s in harness.log() if m == "people.batchCreateContacts"]
    assert statuses == [200] * 9, "strict mode saw no overlapping mutation"
    assert len(harness.ledger()) == len(harness.log()) == 12


def test_retry_after_is_honoured_and_capped(harness: Harness) -> None:
    """The emulator, like Google, sends no Retry-After; a proxy in between might, so this one is narrow."""
    client = harness.client()
    url = f"{GoogleEndpoints.for_settings(harness.settings).people_api}/v1/contactGroups/myContacts"
    unavailable = _google_error(503, "UNAVAILABLE", "BACKEND_ERROR")
    with responses.RequestsMock() as mocked:
        mocked.get(url, status=503, json=unavailable, headers={"Retry-After": "7"})
        mocked.get(url, status=429, json=unavailable, headers={"Retry-After": "86400"})
        mocked.get(url, status=200, json={"resourceName": "contactGroups/myContacts"})
        assert client.count_contacts() == 0
    assert harness.sleeps[0] >= 7
    assert harness.sleeps[1] == RetryPolicy().max_retry_after


def _groupsync_client(app: Flask, member: Membership, credentials: Credentials) -> PeopleClient:
    context = RequestContext(
        account_id=member.account_id,
        user_id=member.user_id,
        google_sub=ADA,
        trigger=Trigger.SYSTEM,
        actor="system",
    )
    return PeopleClient(
        credentials,
        GoogleEndpoints.for_settings(settings_of(app)),
        context,
        GoogleRequestLedger(db.session),
        Pacer(10_000),
        timeout_seconds=5.0,
    )


def _google_requests(account_id: int) -> list[tuple[str, str]]:
    return [(e.method or "", e.outcome) for e in ledger(account_id) if e.tag == EventTag.GOOGLE_REQUEST.value]


def test_with_groupsync_credentials_each_request_and_refresh_is_recorded_once(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    member = factory.member(factory.account())
    connect(signed_in(member), google)
    connection = connection_of(member)
    assert connection is not None
    source = UserOAuthCredentialsSource(db.session(), vault_of(app), settings_of(app))
    client = _groupsync_client(app, member, source.credentials_for(connection))
    recorded_before = len(_google_requests(member.account_id))
    log_start = len(google.log())
    google.advance_clock(3601)

    client.create_group(GROUP_NAME, MARKER)

    assert [(e["method"], e["status"]) for e in google.log(log_start)] == [
        ("contactGroups.create", 401),
        ("oauth2.token", 200),
        ("contactGroups.create", 200),
    ]
    assert _google_requests(member.account_id)[recorded_before:] == [
        ("contactGroups.create", "401"),
        ("oauth2.token.refresh", "200"),
        ("contactGroups.create", "200"),
    ]


def test_a_token_endpoint_that_stays_down_sends_no_people_request(app: Flask, factory: Factory) -> None:
    """The token endpoint's faults are played by `responses`: the emulator has no fault plan for OAuth."""
    member = factory.member(factory.account())
    connection = offline_connection(app, member, CONTACTS_SCOPE)
    source = UserOAuthCredentialsSource(db.session(), vault_of(app), settings_of(app), sleep=lambda _: None)
    client = _groupsync_client(app, member, source.credentials_for(connection))
    with responses.RequestsMock() as mocked:
        for _ in range(ATTEMPTS):
            mocked.post(GoogleEndpoints.for_settings(settings_of(app)).token_uri, status=503)
        with pytest.raises(GoogleUnavailableError):
            client.create_group(GROUP_NAME, MARKER)
        assert len(mocked.calls) == ATTEMPTS
    assert _google_requests(member.account_id) == [("oauth2.token.refresh", "503")] * ATTEMPTS


def test_a_delete_repeated_after_an_ambiguous_failure_is_reported_ambiguous(harness: Harness) -> None:
    contacts = open_group(harness.client())
    [name] = [r.person.resource_name for r in contacts.batch_create([tagged("1", "Ada")]) if r.person]
    contacts.list_members()
    harness.faults(after_apply_rate=1.0, after_apply="500", methods=["people.batchDeleteContacts"], times=1)
    with pytest.raises(AmbiguousWriteError) as raised:
        contacts.batch_delete([name])
    assert raised.value.resource_names == (name,)
    deletes = [s for m, s in harness.log() if m == "people.batchDeleteContacts"]
    assert deletes[0] == 500
    assert len(deletes) == 2
    assert 400 <= deletes[1] < 500
    assert harness.group_members(contacts.scope.group_resource_name) == []


def test_open_group_puts_members_in_scope_in_one_request_and_only_for_a_tagged_group(
    harness: Harness,
) -> None:
    personal = harness.seed_personal()
    creator = open_group(harness.client())
    group = creator.scope
    [name] = [r.person.resource_name for r in creator.batch_create([tagged("1", "Ada")]) if r.person]

    client = harness.client()
    sent = len(harness.log())
    contacts, info = client.open_group(group)
    assert info.member_resource_names == {name}
    assert len(harness.log()) == sent + 1
    assert contacts.batch_get([name], ["names"]).found[name].verified

    with pytest.raises(ScopeViolationError):
        client.open_group(GroupScope(personal["groups"]["Book club"], MARKER))


def test_members_not_read_leave_scope_once_the_run_lets_the_member_list_go(harness: Harness) -> None:
    creator = open_group(harness.client())
    names = [
        r.person.resource_name
        for r in creator.batch_create([tagged("1", "Ada"), tagged("2", "Bo")])
        if r.person
    ]
    client = harness.client()
    contacts, _ = client.open_group(creator.scope)
    read = contacts.batch_get(names[:1], ())
    assert set(read.found) == {names[0]}

    contacts.forget_unread()
    sent = len(harness.log())

    # The member never read is out of scope; the one read stays readable and writable.
    with pytest.raises(ScopeViolationError):
        contacts.batch_get(names[1:], ())
    assert len(harness.log()) == sent
    assert contacts.is_verified(names[0])
    assert set(contacts.batch_get(names[:1], ()).found) == {names[0]}


def test_count_contacts_reads_my_contacts_member_count_and_no_person_or_group_name(
    harness: Harness,
) -> None:
    client = harness.client()
    assert client.count_contacts() == 0, "Google leaves a zero count out of its answer"
    harness.seed_personal()
    contacts = open_group(client)
    contacts.batch_create([tagged("1", "Ada"), tagged("2", "Grace")])

    assert client.count_contacts() == 4

    db.session.flush()
    count = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.method == "contactGroups.get", LedgerEntry.tag == EventTag.GOOGLE_REQUEST)
        .order_by(LedgerEntry.seq)
    ).all()[-1]
    assert (count.kind, count.records, json.loads(count.categories)) == ("read", 1, ["contactGroups"])
    counts = [e for e in harness.google.log(harness.log_start) if e["path"].endswith("/myContacts")]
    assert [e["contacts_touched"] for e in counts] == [[], []]
    assert harness.ledger() == [(method, str(status)) for method, status in harness.log()]
