"""The library's People API resources are shared by every run; each request goes over its run's HTTP."""

from __future__ import annotations

import pytest
from google.oauth2.credentials import Credentials

from app.google.errors import NeedsReconnectError
from app.google.resources import people_resources
from tests.google.people_harness import Harness


def test_the_resources_are_built_once_per_api_endpoint() -> None:
    first = people_resources("http://127.0.0.1:9/")

    assert people_resources("http://127.0.0.1:9/") is first
    assert people_resources("http://127.0.0.2:9/") is not first


def test_a_request_made_from_the_shared_resources_alone_is_never_sent() -> None:
    request = people_resources("http://127.0.0.1:9/").groups.get(resourceName="contactGroups/myContacts")

    with pytest.raises(RuntimeError, match="own HTTP"):
        request.execute()


def test_each_client_sends_with_its_own_credentials_and_ledger(harness: Harness) -> None:
    good = harness.client()
    harness.credentials = Credentials(token="not-a-token")
    bad = harness.client()

    good.count_contacts()
    with pytest.raises(NeedsReconnectError):
        bad.count_contacts()
    good.count_contacts()

    assert harness.log() == [
        ("contactGroups.get", 200),
        ("contactGroups.get", 401),
        ("contactGroups.get", 200),
    ]
    assert [method for method, _ in harness.ledger()] == ["contactGroups.get"] * 3
