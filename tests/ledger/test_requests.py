"""Write-ahead recording of Google requests, and how verification pairs started entries with outcomes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select

from app.accounts.models import Account, Membership, Role
from app.db import utcnow
from app.extensions import db
from app.ledger.events import Destination, EventTag, Flow
from app.ledger.models import LedgerEntry
from app.ledger.queries import incident, summarize
from app.ledger.services import (
    REQUEST_ID,
    GoogleRequestLedger,
    UncommittedWorkError,
    purge_ledger,
    record,
)
from app.ledger.verify import verify_database
from tests.conftest import Factory
from tests.ledger.helpers import flow, give_reason


def request_flow(account_id: int | None = 1, **changes: Any) -> Flow:
    values: dict[str, Any] = {"tag": EventTag.GOOGLE_REQUEST, "destination": Destination.GOOGLE}
    return flow(account_id, **{"outcome": "started", **values, **changes})


def _tags() -> list[tuple[str, str]]:
    db.session.expire_all()
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.chain, LedgerEntry.seq))
    return [(e.tag, e.outcome) for e in entries]


def test_start_and_outcome_are_committed_at_once_on_the_ledgers_own_session(app: Flask) -> None:
    ledger = GoogleRequestLedger(db.session)
    db.session.add(Account(name="Pending work"))  # added, not flushed: not a database write yet
    started = ledger.start(request_flow())
    db.session.rollback()
    # The started entry survived the caller's rollback; the caller's own work was left to the caller.
    assert _tags() == [("google.request_started", "started")]
    assert db.session.scalar(select(Account.name)) is None

    ledger.finish(started, started.ended("200", records=3))
    db.session.rollback()
    assert _tags()[-1] == ("google.request", "200"), "the outcome is committed too"
    report = verify_database(db.session)
    assert report.ok, report.lines()
    assert not any("without a recorded outcome" in w for w in report.warnings)

    again = ledger.start(request_flow())  # the process "dies" before the answer
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
    assert [(e.tag, e.outcome, e.records) for e in entries] == [
        ("google.request_started", "started", 3),
        ("google.request", "200", 3),
        ("google.request_started", "started", 3),
    ]
    assert entries[0].detail == entries[1].detail != entries[2].detail, "pairs share a request id"
    assert again.request_id in entries[2].detail
    report = verify_database(db.session)
    assert report.ok, report.lines()
    assert sum("without a recorded outcome" in w for w in report.warnings) == 1


def test_a_caller_holding_uncommitted_writes_is_refused_before_anything_is_recorded(app: Flask) -> None:
    ledger = GoogleRequestLedger(db.session)
    db.session.add(Account(name="Flushed, not committed"))
    db.session.flush()
    with pytest.raises(UncommittedWorkError, match="commit the database work before calling Google"):
        ledger.start(request_flow())
    db.session.commit()
    started = ledger.start(request_flow())  # committed: now it may
    db.session.add(Account(name="Written while Google answered"))
    db.session.flush()
    with pytest.raises(UncommittedWorkError):
        ledger.finish(started, started.ended("200"))
    db.session.rollback()
    ledger.finish(started, started.ended("200"))
    assert _tags() == [("google.request_started", "started"), ("google.request", "200")]


def test_a_sign_in_outcome_may_land_on_another_chain_than_its_start(app: Flask) -> None:
    ledger = GoogleRequestLedger(db.session)
    started = ledger.start(request_flow(None, user_id=None, google_account=None))
    ledger.finish(started, replace(started.ended("ok"), account_id=1))
    db.session.commit()
    report = verify_database(db.session)
    assert report.ok, report.lines()
    assert not any("without a recorded outcome" in w for w in report.warnings)


def test_google_requests_cannot_bypass_the_write_ahead(app: Flask) -> None:
    with pytest.raises(ValueError, match="GoogleRequestLedger"):
        record(db.session, request_flow(outcome="200"))
    with pytest.raises(ValueError, match="only Google requests"):
        GoogleRequestLedger(db.session).start(flow(tag=EventTag.TOKEN_REFRESHED))


def test_an_outcome_without_its_started_entry_is_a_problem(app: Flask) -> None:
    record(db.session, request_flow(outcome="200", detail={REQUEST_ID: "f" * 32}))
    db.session.commit()
    report = verify_database(db.session)
    assert not report.ok
    assert "Google request outcome without its write-ahead entry" in str(report.problems[0])


def test_an_outcome_that_contradicts_its_started_entry_is_a_problem(app: Flask) -> None:
    ledger = GoogleRequestLedger(db.session)
    started = ledger.start(request_flow(method="people.connections.list"))
    ledger.finish(started, replace(started.ended("200"), method="people.deleteContact"))
    db.session.commit()
    report = verify_database(db.session)
    assert [str(p) for p in report.problems] == [
        "chain account:1 seq 2: Google request outcome does not match its write-ahead entry"
    ]


def test_retention_may_purge_a_started_entry_whose_outcome_it_keeps(app: Flask) -> None:
    days = app.config["GROUPSYNC"].retention_ledger_days
    cutoff = utcnow() - timedelta(days=days)
    pair = {REQUEST_ID: "a" * 32}
    started = request_flow(tag=EventTag.GOOGLE_REQUEST_STARTED, detail=pair)
    record(db.session, started, now=cutoff - timedelta(seconds=5))
    record(db.session, request_flow(outcome="200", detail=pair), now=cutoff + timedelta(seconds=5))
    db.session.commit()
    purge_ledger(db.session, utcnow())
    assert [tag for tag, _ in _tags()] == ["google.request", "retention.purged"]
    report = verify_database(db.session)
    assert report.ok, report.lines()


def _three_requests_one_unfinished() -> None:
    ledger = GoogleRequestLedger(db.session)
    for _ in range(2):
        started = ledger.start(request_flow())
        ledger.finish(started, started.ended("200", records=3))
    ledger.start(request_flow(user_id=8))  # the process "died" while Google answered
    db.session.commit()


def test_summaries_count_each_request_once_including_one_without_outcome(app: Flask) -> None:
    _three_requests_one_unfinished()
    summary = summarize(db.session, select(LedgerEntry))
    (period,) = summary.periods
    assert (period.flows, period.records, summary.requests_without_outcome) == (3, 9, 1)


def test_the_summary_page_tells_reviewers_of_requests_without_outcome(
    app: Flask, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    account = factory.account()
    reviewer = signed_in(factory.member(account, Role.REVIEWER))
    give_reason(reviewer, "/ledger/summary")  # the summary names users: a recorded human view
    assert "requests-without-outcome" not in reviewer.get("/ledger/summary").get_data(as_text=True)
    GoogleRequestLedger(db.session).start(request_flow(account.id))
    page = reviewer.get("/ledger/summary").get_data(as_text=True)
    assert "1 request to Google was recorded before it was sent but has no recorded outcome" in page


def test_incidents_count_each_request_once_including_one_without_outcome(app: Flask) -> None:
    _three_requests_one_unfinished()
    now = utcnow()
    rows = incident(db.session, now - timedelta(hours=1), now + timedelta(minutes=1))
    assert [(r.account_id, r.user_id, r.flows) for r in rows] == [(1, 7, 2), (1, 8, 1)]


def test_recording_never_touches_the_callers_session(app: Flask) -> None:
    account = Account(name="Loaded")
    db.session.add(account)
    db.session.commit()
    assert account.name == "Loaded"
    account.name = "Renamed, not flushed"
    ledger = GoogleRequestLedger(db.session)
    started = ledger.start(request_flow())
    ledger.finish(started, started.ended("200"))
    # Nothing was flushed, committed or expired: a sync run holds thousands of loaded rows.
    assert account in db.session.dirty
    assert not inspect(account).expired_attributes
    db.session.rollback()
    assert account.name == "Loaded"
