"""A run waiting for Google holds no database transaction; a "sync now" pressed meanwhile is not lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership
from app.extensions import db
from app.ledger.events import Trigger
from app.sync.models import RunOutcome
from app.worker.tasks import claim_due
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory, sign_in_client
from tests.crm.conftest import make_api
from tests.google.connecting import ADA, csrf_token
from tests.sync.engine import World, person


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def elsewhere(app: Flask, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` as another web request would: its own thread, app context and session."""
    result: dict[str, Any] = {}

    def target() -> None:
        with app.app_context():
            try:
                result.update(work())
            except Exception as exc:  # reported to the test, which names it
                result["error"] = repr(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the other request never finished: it waits for the run's lock"
    return result


def pg_held(app: Flask) -> dict[str, int]:
    """Transactions open and locks held by other connections of this database (PostgreSQL)."""
    with db.engine.connect() as conn:
        idle = conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
        locks = conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE a.datname = current_database() AND l.pid <> pg_backend_pid()"
                " AND l.locktype IN ('transactionid', 'tuple', 'advisory')"
            )
        )
    return {"idle_in_transaction": int(idle or 0), "locks": int(locks or 0)}


def test_a_run_waiting_out_a_429_blocks_no_sign_in_page_or_crm_edit(world: World, app: Flask) -> None:
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(300)))
    api = make_api(app, world.account)
    member_id, sync_id = world.member.id, world.sync.id
    # One batch create per minute: the second batch meets a 429 and the run waits it out.
    world.google.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"critical_write_requests": 6}})
    seen: list[dict[str, Any]] = []

    def browse_and_edit() -> dict[str, Any]:
        membership = db.session.get(Membership, member_id)
        assert membership is not None
        client = sign_in_client(app, membership)
        pages = [
            client.get(p).status_code for p in ("/syncs", f"/syncs/{sync_id}", f"/syncs/{sync_id}/status")
        ]
        edited = api.put("/contacts/c1", {"given_name": "Edited meanwhile"}).status_code
        return {"pages": pages, "edited": edited}

    def wait(seconds: float) -> None:
        if not seen:
            if db.engine.dialect.name == "postgresql":
                seen.append({"held": pg_held(app)})
            seen.append(elsewhere(app, browse_and_edit))
        world.google.advance_clock(61)

    world.on_wait = wait
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert run.created == 300
    assert [
        e["status"] for e in world.google.log(world.mark) if e["method"] == "people.batchCreateContacts"
    ] == [
        200,
        429,
        200,
    ]
    assert seen, "the run never waited"
    *held, done = seen
    assert done == {"pages": [200, 200, 200], "edited": 200}
    if held:
        assert held[0]["held"] == {"idle_in_transaction": 0, "locks": 0}


def test_sync_now_pressed_during_a_run_starts_another_right_after(world: World, app: Flask) -> None:
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(300)))
    member_id, sync_id = world.member.id, world.sync.id
    world.google.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"critical_write_requests": 6}})
    pressed: list[int] = []

    def press() -> dict[str, Any]:
        membership = db.session.get(Membership, member_id)
        assert membership is not None
        client = sign_in_client(app, membership)
        token = csrf_token(client.get(f"/syncs/{sync_id}").text)
        return {"status": client.post(f"/syncs/{sync_id}/run", data={"csrf_token": token}).status_code}

    def wait(seconds: float) -> None:
        if not pressed:
            pressed.append(elsewhere(app, press)["status"])
        world.google.advance_clock(61)

    world.on_wait = wait
    run = world.run()

    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message
    assert pressed == [302]
    assert run.finished_at is not None
    sync = world.reload()
    assert sync.next_due_at is not None
    assert sync.next_due_at <= run.finished_at
    claimed = claim_due(
        db.session, world.settings, timedelta(minutes=5), now=run.finished_at + timedelta(seconds=1)
    )
    assert claimed == [(sync_id, Trigger.USER_SYNC_NOW)]


def test_without_a_request_the_next_run_waits_for_the_interval(world: World) -> None:
    world.upsert(person("c1", "Ann"))

    run = world.run()

    assert run is not None
    assert run.finished_at is not None
    sync = world.reload()
    assert sync.next_due_at == run.finished_at + timedelta(seconds=world.settings.sync_interval_seconds)
