"""What a run keeps of Google's answers: the member list packed, nothing per request left behind."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import tenacity
from sqlalchemy import select

from app.extensions import db
from app.google.member_names import MemberNames
from app.google.people import GroupScope
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from tests.google.people_harness import MARKER, Harness, open_group, tagged

MEMBERS = 120
"""Enough members that a batch read's address is longer than the client library sends as a GET."""


@pytest.fixture
def group(harness: Harness) -> tuple[GroupScope, list[str]]:
    contacts = open_group(harness.client())
    created = contacts.batch_create([tagged(str(i), f"Contact {i}") for i in range(MEMBERS)])
    return contacts.scope, [r.person.resource_name for r in created if r.person]


@pytest.fixture
def no_collection() -> Iterator[None]:
    """Garbage stays until looked at: what requests leave behind is then counted, not collected."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _retry_controllers() -> int:
    return sum(isinstance(o, tenacity.Retrying) for o in gc.get_objects())


def test_the_member_list_comes_back_packed_and_the_ledger_counts_its_names(
    harness: Harness, group: tuple[GroupScope, list[str]]
) -> None:
    scope, names = group
    contacts, info = harness.client().open_group(scope)

    assert isinstance(info.member_resource_names, MemberNames)
    assert info.member_resource_names == set(names)
    assert contacts.batch_get(names[:3], ["names"]).found.keys() == set(names[:3])
    db.session.flush()
    read = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.method == "contactGroups.get", LedgerEntry.tag == EventTag.GOOGLE_REQUEST)
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).one()
    assert read.records == MEMBERS


def test_an_empty_group_reads_as_no_members(harness: Harness) -> None:
    _, info = harness.client().open_group(open_group(harness.client()).scope)
    assert len(info.member_resource_names) == 0
    assert info.member_resource_names == set()


def test_batch_reads_leave_no_address_cached_and_no_retry_controller_behind(
    harness: Harness, group: tuple[GroupScope, list[str]], no_collection: None
) -> None:
    scope, names = group
    contacts, _ = harness.client().open_group(GroupScope(scope.group_resource_name, MARKER))
    contacts.batch_get(names[:100], ["names"])
    controllers = _retry_controllers()

    for _ in range(5):
        urlsplit("http://example.test/?an-address-split-before")
        read = contacts.batch_get(names[:100], ["names"])
        assert len(read.found) == 100
        # The client library split the 100 names' address as it sent the GET as a POST.
        assert urlsplit.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert _retry_controllers() == controllers, "one controller per sender, not one per request"
    assert harness.log()[-1] == ("people.getBatchGet", 200)
