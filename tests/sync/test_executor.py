"""Executor details that the emulator cannot provoke."""

from __future__ import annotations

from app.sync.executor import _follow_renames
from app.sync.models import SyncedContact
from app.sync.planner import GoogleFacts, RemoteContact, RowState


def test_mapping_follows_a_resource_name_google_changed() -> None:
    row = SyncedContact(crm_id="a", resource_name="people/c1", state=RowState.SYNCED)
    moved = RemoteContact("people/c2", "etag", "hash", in_group=True, in_user_groups=False)

    inspected = _follow_renames({"a": row}, GoogleFacts(inspected={"people/c1": moved}))

    assert inspected == {"people/c2": moved}
    assert row.resource_name == "people/c2"
