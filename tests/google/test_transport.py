"""The one transport to Google: quota units charged per request, 429s reported to the pacer, ledger pairs."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.google.limits import COST_BATCH_MUTATE, Bucket, request_cost
from app.google.pacing import MARGIN_SECONDS, WINDOW_SECONDS, Pacer
from app.google.retry import TransientError, TransportFailureError
from app.google.transport import AuthRequest, GoogleTransport
from app.ledger.events import Destination, EventTag, Flow
from app.ledger.models import LedgerEntry
from app.ledger.services import GoogleRequestLedger
from tests.google.helpers import FakeClock
from tests.ledger.helpers import flow

URL = "https://people.example.test/v1/people:batchCreateContacts"
QUOTA_429 = {
    "error": {
        "code": 429,
        "status": "RESOURCE_EXHAUSTED",
        "message": "Quota exceeded",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "metadata": {"quota_metric": "people.googleapis.com/critical_write_requests"},
            }
        ],
    }
}


def _request_flow(method: str = "people.batchCreateContacts") -> Flow:
    return flow(
        1, tag=EventTag.GOOGLE_REQUEST, destination=Destination.GOOGLE, outcome="started", method=method
    )


def _recorded() -> list[tuple[str, str]]:
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
    return [(e.tag, e.outcome) for e in entries]


def test_requests_are_charged_their_units_and_a_429_slows_the_account(app: Flask) -> None:
    clock = FakeClock()
    pacer = Pacer(60, clock=clock, sleep=clock.sleep)
    transport = GoogleTransport(GoogleRequestLedger(db.session), timeout=5.0, pacer=pacer, pacing_key="sub-1")
    with responses.RequestsMock() as mocked:
        mocked.post(URL, json={"createdPeople": []})
        for _ in range(10):  # 60 critical write units: the whole minute's budget, at once
            transport.send(_request_flow(), "POST", URL, body=b"{}", cost=COST_BATCH_MUTATE)
        assert clock.sleeps == []
        transport.send(_request_flow(), "POST", URL, body=b"{}", cost=COST_BATCH_MUTATE)
        assert clock.sleeps == [pytest.approx(WINDOW_SECONDS + MARGIN_SECONDS)], "the 11th waited"
    assert pacer.budget("sub-1", Bucket.CRITICAL_WRITE) == 60

    clock = FakeClock()
    pacer = Pacer(60, clock=clock, sleep=clock.sleep)
    transport = GoogleTransport(GoogleRequestLedger(db.session), timeout=5.0, pacer=pacer, pacing_key="sub-2")
    with responses.RequestsMock() as mocked:
        mocked.post(URL, json=QUOTA_429, status=429, headers={"Retry-After": "30"})
        answer = transport.send(_request_flow(), "POST", URL, body=b"{}", cost=COST_BATCH_MUTATE)
        assert answer.status == 429
        assert pacer.budget("sub-2", Bucket.CRITICAL_WRITE) == 30, "the bucket Google named is halved"
        mocked.post(URL, json={"createdPeople": []})
        transport.send(_request_flow(), "POST", URL, body=b"{}", cost=COST_BATCH_MUTATE)
    assert clock.sleeps == [30.0], "nothing left before Retry-After"


def test_every_request_is_recorded_ahead_and_paired_with_its_outcome(app: Flask) -> None:
    transport = GoogleTransport(GoogleRequestLedger(db.session), timeout=5.0)
    with responses.RequestsMock() as mocked:
        mocked.post(URL, json={"createdPeople": [{}, {}]})
        mocked.post(URL, body=requests.ConnectionError("refused"))
        transport.send(_request_flow(), "POST", URL, body=b"{}", count_key="createdPeople")
        with pytest.raises(TransportFailureError) as failed:
            transport.send(_request_flow(), "POST", URL, body=b"{}")
    assert failed.value.sent, "a dropped connection may have reached Google"
    db.session.rollback()  # the caller's rollback takes nothing back
    assert _recorded() == [
        ("google.request_started", "started"),
        ("google.request", "200"),
        ("google.request_started", "started"),
        ("google.request", "connection_dropped"),
    ]
    records = db.session.scalars(select(LedgerEntry.records).order_by(LedgerEntry.seq)).all()
    assert records[1] == 2, "a read's records are counted from the answer"
    ids = [json.loads(d)["request_id"] for d in db.session.scalars(select(LedgerEntry.detail))]
    assert ids[0] == ids[1] != ids[2] == ids[3]


def test_google_auths_own_retries_are_replaced_by_the_retry_policy(app: Flask) -> None:
    """A token endpoint's 503 reaches app.google.retry as an exception, never google-auth's retry loop."""
    transport = GoogleTransport(GoogleRequestLedger(db.session), timeout=5.0)
    request = AuthRequest(transport, _request_flow("oauth2.token.refresh"), raise_transient=True)
    with responses.RequestsMock() as mocked:
        mocked.post(URL, status=503, json={"error": "temporarily_unavailable"}, headers={"Retry-After": "4"})
        with pytest.raises(TransientError) as transient:
            request(URL, method="POST", body=b"grant_type=refresh_token")
    assert (transient.value.outcome, transient.value.retry_after) == ("503", 4.0)
    assert _recorded()[-1] == ("google.request", "503")


def test_a_full_listings_first_page_is_charged_to_its_own_quota_too() -> None:
    assert request_cost("people.connections.list", full_listing_start=True) == {
        Bucket.CRITICAL_READ: 1,
        Bucket.FULL_SYNC_FIRST_PAGE: 1,
    }
    assert request_cost("people.connections.list") == {Bucket.CRITICAL_READ: 1}
    assert request_cost("oauth2.token.refresh") == {}
