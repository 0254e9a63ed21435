"""Quotas, seeded faults and strict mode of the emulator's People API, seen through the real client."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from typing import Any

import httplib2
import pytest
from googleapiclient.discovery import Resource
from googleapiclient.errors import HttpError

from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.hooks import HookError, HooksClient
from tests.emulator.conftest import ADA, CONTACTS, OAuthDriver
from tests.emulator.test_people_api import error_of, people_service, person, reason_of


@pytest.fixture
def api(emulator: RunningEmulator, oauth: OAuthDriver) -> Resource:
    service, _ = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    return service


@pytest.fixture
def new_api(emulator: RunningEmulator, oauth: OAuthDriver) -> Callable[[], Resource]:
    """A further client for Ada (httplib2 connections are not shared between threads)."""
    token = oauth.tokens(scope=CONTACTS)["access_token"]
    return lambda: people_service(emulator.url, token)[0]


def faults(hooks: HooksClient, **plan: Any) -> None:
    hooks.call("POST", "people/faults", {"identity": ADA, "plan": plan})


def contact_count(hooks: HooksClient) -> int:
    return len(hooks.call("GET", f"people/accounts/{ADA}/snapshot")["contacts"])


def test_quota_exhaustion_is_a_429_with_the_metric_and_no_retry_after(
    api: Resource, hooks: HooksClient
) -> None:
    hooks.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"critical_write_requests": 7}})
    batch = {"contacts": [{"contactPerson": person("Q")}], "readMask": ""}
    api.people().batchCreateContacts(body=batch).execute()  # a batch costs 6 critical writes
    with pytest.raises(HttpError) as excinfo:
        api.people().batchCreateContacts(body=batch).execute()
    assert excinfo.value.status_code == 429
    assert error_of(excinfo)["status"] == "RESOURCE_EXHAUSTED"
    assert reason_of(excinfo) == "RATE_LIMIT_EXCEEDED"
    assert error_of(excinfo)["details"][0]["metadata"]["quota_metric"] == (
        "people.googleapis.com/critical_write_requests"
    )
    assert "retry-after" not in excinfo.value.resp, "Google leaves the back-off to the client"

    api.people().createContact(body=person("Fits")).execute()  # the refused batch was not charged
    with pytest.raises(HttpError) as excinfo:
        api.people().createContact(body=person("Over")).execute()
    assert excinfo.value.status_code == 429
    assert api.people().connections().list(resourceName="people/me", personFields="names").execute()
    hooks.advance_clock(61)
    api.people().createContact(body=person("Next minute")).execute()
    assert contact_count(hooks) == 3


def test_batch_delete_costs_ten_writes(api: Resource, hooks: HooksClient) -> None:
    created = api.people().createContact(body=person("D")).execute()
    hooks.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"write_requests": 9}})
    with pytest.raises(HttpError) as excinfo:
        api.people().batchDeleteContacts(body={"resourceNames": [created["resourceName"]]}).execute()
    assert excinfo.value.status_code == 429
    assert (
        error_of(excinfo)["details"][0]["metadata"]["quota_metric"] == "people.googleapis.com/write_requests"
    )
    api.people().deleteContact(resourceName=created["resourceName"]).execute()


def test_server_error_before_apply_changes_nothing(api: Resource, hooks: HooksClient) -> None:
    faults(hooks, error_rate=1.0, error_code=503, methods=["people.createContact"], times=1)
    with pytest.raises(HttpError) as excinfo:
        api.people().createContact(body=person("Fails")).execute()
    assert excinfo.value.status_code == 503
    assert error_of(excinfo)["status"] == "UNAVAILABLE"
    assert contact_count(hooks) == 0
    api.people().createContact(body=person("Works")).execute()
    assert contact_count(hooks) == 1


def test_failure_after_apply_is_ambiguous(api: Resource, hooks: HooksClient) -> None:
    faults(hooks, after_apply_rate=1.0, after_apply="500", times=1)
    with pytest.raises(HttpError) as excinfo:
        api.people().createContact(body=person("Applied")).execute()
    assert excinfo.value.status_code == 500
    assert contact_count(hooks) == 1, "the 500 came after the contact was stored"
    log = hooks.log()
    assert log[-1]["method"] == "people.createContact"
    assert log[-1]["status"] == 500


def test_dropped_connection_reaches_the_client_as_a_connection_error(
    api: Resource, hooks: HooksClient
) -> None:
    faults(hooks, drop_rate=1.0)
    with pytest.raises((http.client.HTTPException, ConnectionError, httplib2.HttpLib2Error)):
        api.people().createContact(body=person("Never")).execute()
    faults(hooks)
    assert contact_count(hooks) == 0


def test_dropped_answer_after_apply_is_resent_by_httplib2_and_makes_a_twin(
    api: Resource, hooks: HooksClient
) -> None:
    """Why creates must be made idempotent by GroupSync: the library retries a dropped create silently."""
    faults(hooks, after_apply_rate=1.0, after_apply="drop", times=1)
    api.people().createContact(body=person("Twin")).execute()
    assert contact_count(hooks) == 2


def test_latency_and_slow_responses(api: Resource, hooks: HooksClient) -> None:
    faults(hooks, latency_ms=150)
    started = time.monotonic()
    api.contactGroups().list().execute()
    assert time.monotonic() - started >= 0.15
    faults(hooks, slow_rate=1.0, slow_ms=250)
    started = time.monotonic()
    api.contactGroups().list().execute()
    assert time.monotonic() - started >= 0.25


def test_seeded_faults_replay_the_same_outcomes(api: Resource, hooks: HooksClient) -> None:
    def outcomes() -> list[int]:
        faults(hooks, error_rate=0.5, error_code=500, seed=11)
        seen = []
        for _ in range(16):
            try:
                api.contactGroups().list().execute()
                seen.append(200)
            except HttpError as error:
                seen.append(error.status_code)
        return seen

    first = outcomes()
    assert set(first) == {200, 500}
    assert outcomes() == first


def test_global_plan_applies_to_accounts_without_their_own(api: Resource, hooks: HooksClient) -> None:
    hooks.call("POST", "people/faults", {"identity": None, "plan": {"error_rate": 1.0}})
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().list().execute()
    assert excinfo.value.status_code == 503
    faults(hooks)  # Ada's own (empty) plan takes precedence over the global one
    assert api.contactGroups().list().execute()["contactGroups"]


def test_strict_mode_rejects_concurrent_mutations(
    new_api: Callable[[], Resource], hooks: HooksClient
) -> None:
    def race() -> list[int]:
        statuses: list[int] = []

        def create(api: Resource, name: str) -> None:
            try:
                api.people().createContact(body=person(name)).execute()
                statuses.append(200)
            except HttpError as error:
                statuses.append(error.status_code)

        threads = [threading.Thread(target=create, args=(new_api(), f"R{i}")) for i in range(2)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join(timeout=10)
        return sorted(statuses)

    faults(hooks, latency_ms=500)
    assert race() == [200, 200]
    hooks.call("POST", f"people/accounts/{ADA}/limits", {"strict_sequential": True})
    assert race() == [200, 409]
    assert contact_count(hooks) == 3


@pytest.mark.parametrize(
    "plan",
    [{"error_rate": 2}, {"error_code": 502}, {"after_apply": "404"}, {"surprise": 1}, {"latency_ms": -1}],
)
def test_bad_fault_plans_are_refused(hooks: HooksClient, plan: dict[str, Any]) -> None:
    with pytest.raises(HookError) as excinfo:
        faults(hooks, **plan)
    assert excinfo.value.status == 400
    assert "plan" in excinfo.value.body
