"""Gathering details that the emulator cannot provoke."""

from __future__ import annotations

from app.sync.gather import learn
from app.sync.planner import RemoteContact, RowState
from app.sync.rows import Row


def test_mapping_follows_a_resource_name_google_changed() -> None:
    row = Row("a", RowState.SYNCED, resource_name="people/c1", etag="old", field_hash="hash")
    moved = RemoteContact("people/c2", "etag", "hash", in_group=True, in_user_groups=False)

    assert learn(row, moved)
    assert (row.resource_name, row.etag, row.field_hash) == ("people/c2", "etag", "hash")
    assert not learn(row, moved)
