"""Domain users at scale: each user's access token is minted at most once per lifetime (an hour),
whichever run or worker asks; it is never stored in clear; and each user's People requests are
paced on that user's own quota, not on a shared one."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.config import Settings
from app.crm.services import put_list, store_contact_data
from app.db import utcnow
from app.extensions import db
from app.google.domain import JWT_BEARER_METHOD
from app.google.endpoints import GoogleEndpoints
from app.google.limits import Bucket
from app.google.pacing import Pacer
from app.google.people import PeopleClient, RequestContext
from app.google.retry import RetryPolicy
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.ledger.services import GoogleRequestLedger
from app.sync.models import RunOutcome
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.sync.engine import person
from tests.workspace.test_domain_proof import database_dump, emitted_log  # noqa: F401 (a fixture)
from tests.workspace.world import OKSANA, TARAS, DomainWorld


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, tmp_path: Path) -> DomainWorld:
    return DomainWorld(app, google, factory, tmp_path / "mail")


def _tokens_served(world: DomainWorld, email: str) -> int:
    """JWT-bearer token requests Google (the emulator) answered for ``email``."""
    sub = world.google_sub(email)
    return sum(1 for e in world.google.log() if e["method"] == "oauth2.token" and e["sub"] == sub)


def _tokens_ledgered(world: DomainWorld, user_id: int) -> int:
    return len(
        db.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value,
                LedgerEntry.method == JWT_BEARER_METHOD,
                LedgerEntry.user_id == user_id,
            )
        ).all()
    )


def test_a_users_token_is_minted_once_an_hour_across_runs_lists_and_workers(world: DomainWorld) -> None:
    world.ready()
    second, _ = put_list(db.session, world.account.id, "suppliers", {"name": "Suppliers"})
    db.session.commit()
    first_sync = world.assign(world.taras)
    world.list = second
    second_sync = world.assign(world.taras)
    oksana_sync = world.assign(world.oksana)

    # Six runs of Taras's two syncs and two of Oksana's, each with credentials built afresh.
    for sync in (first_sync, second_sync, oksana_sync, first_sync, second_sync, oksana_sync):
        run = world.run(sync)
        assert run is not None
        assert run.outcome is RunOutcome.OK, run.message
    world.run(first_sync)
    world.run(second_sync)
    assert (_tokens_served(world, TARAS), _tokens_ledgered(world, world.taras.user_id)) == (1, 1)
    assert (_tokens_served(world, OKSANA), _tokens_ledgered(world, world.oksana.user_id)) == (1, 1)

    # Past its lifetime less the margin, the sealed token is not handed out: one new one is minted.
    connection = world.connection(world.taras)
    sealed = world.vault.access_token(connection)
    assert sealed is not None
    assert sealed.expires_at is not None
    assert timedelta(minutes=55) < sealed.expires_at - utcnow() <= timedelta(hours=1)
    world.vault.store_access_token(connection, sealed.token, utcnow() + timedelta(minutes=4))
    db.session.commit()
    world.run(first_sync)
    world.run(second_sync)
    assert (_tokens_served(world, TARAS), _tokens_ledgered(world, world.taras.user_id)) == (2, 2)
    assert _tokens_served(world, OKSANA) == 1


def test_no_access_token_is_ever_stored_or_logged_in_clear(
    world: DomainWorld,
    emitted_log: io.StringIO,  # noqa: F811 (the fixture imported above)
) -> None:
    world.ready()
    syncs = [world.assign(member) for member in (world.taras, world.oksana)]
    for sync in syncs:
        world.run(sync)
    tokens = {}
    for member in (world.taras, world.oksana):
        connection = world.connection(member)
        assert connection.access_token_ciphertext is not None
        sealed = world.vault.access_token(connection)
        assert sealed is not None
        tokens[member.user.email] = sealed.token
    assert len(set(tokens.values())) == 2

    dump = database_dump()
    log_text = emitted_log.getvalue()
    assert log_text, "the log handler captured nothing, so the check would prove nothing"
    for email, token in tokens.items():
        assert len(token) >= 20, "too short a token to be a meaningful canary"
        assert token.encode() not in dump, f"{email}'s access token is in the database in clear"
        assert token not in log_text, f"{email}'s access token is in the log"


def _paced_people(pacer: Pacer) -> Callable[..., PeopleClient]:
    def build(
        settings: Settings, credentials: Any, context: RequestContext, ledger: GoogleRequestLedger
    ) -> PeopleClient:
        return PeopleClient(
            credentials,
            GoogleEndpoints.for_settings(settings),
            context,
            ledger,
            pacer,
            timeout_seconds=5.0,
            retry=RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, jitter=0.0),
        )

    return build


def test_each_domain_user_is_paced_on_their_own_quota(world: DomainWorld) -> None:
    world.ready()
    clock = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    # The smallest budgets the pacer allows: one batch create (6 critical reads and writes) a minute.
    budgets = {Bucket.CRITICAL_READ: 6, Bucket.CRITICAL_WRITE: 6, Bucket.READ: 60, Bucket.WRITE: 60}
    people = _paced_people(Pacer(budgets, clock=lambda: clock[0], sleep=sleep))
    taras, oksana = world.assign(world.taras), world.assign(world.oksana)

    assert world.run(taras, people) is not None
    assert waits == [], "Taras's first run fits his minute: the test needs a full bucket, not a wait"
    assert world.run(oksana, people) is not None
    assert waits == [], "Oksana waited for Taras's quota"

    # Taras's own minute is used up: the edit's reads and its batch update (6 + 6) each wait for
    # a minute of his own window to pass.
    store_contact_data(db.session, world.account.id, [person("c1", "Renamed")])
    db.session.commit()
    run = world.run(taras, people)
    assert run is not None
    assert (run.outcome, run.updated) == (RunOutcome.OK, 1)
    assert waits
    assert all(55 <= wait <= 61 for wait in waits), waits
