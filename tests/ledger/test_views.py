from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from app import create_app
from app.accounts.models import Account, Membership, Role
from app.accounts.tenancy import ANY_ROLE, require_role
from app.extensions import db
from app.ledger import human_view
from app.ledger.events import Destination, EventTag, FlowKind, HumanViewReason, Purpose
from app.ledger.human_view import requires_view_reason
from app.ledger.models import LedgerEntry
from tests.conftest import Factory, make_settings, sign_in_client
from tests.ledger.helpers import fill, give_reason

SignedIn = Callable[[Membership], FlaskClient]

LEDGER_PAGES = (
    "/ledger",
    "/ledger/summary",
    "/ledger/export.csv",
    "/ledger/export.ndjson",
    "/ledger/evidence-pack",
)


@pytest.fixture
def two_accounts(factory: Factory) -> tuple[Account, Account]:
    ours, theirs = factory.account("Ours"), factory.account("Theirs")
    fill(ours.id, 2, method="people.batchCreateContacts", user_id=11)
    fill(ours.id, 1, method="people.connections.list", user_id=12, purpose=Purpose.SIGN_IN, outcome="401")
    fill(theirs.id, 1, method="people.secretTheirs")
    return ours, theirs


GUARDED_LEDGER_PAGES = LEDGER_PAGES[:4]
"""They name the users whose Google data flowed: a reviewer gives a reason first (recorded)."""


@pytest.fixture
def reviewer(factory: Factory, signed_in: SignedIn, two_accounts: tuple[Account, Account]) -> FlaskClient:
    client = signed_in(factory.member(two_accounts[0], Role.REVIEWER))
    for path in GUARDED_LEDGER_PAGES:
        give_reason(client, path, HumanViewReason.LEGAL.value)
    return client


def test_ledger_pages_ask_why_and_record_the_view(
    factory: Factory, signed_in: SignedIn, two_accounts: tuple[Account, Account]
) -> None:
    membership = factory.member(two_accounts[0], Role.REVIEWER)
    client = signed_in(membership)
    for path in GUARDED_LEDGER_PAGES:
        page = client.get(path).get_data(as_text=True)
        assert 'data-testid="human-view-form"' in page, path
        assert "people.batchCreateContacts" not in page, path
    give_reason(client, "/ledger/export.ndjson", HumanViewReason.SECURITY.value)
    assert client.get("/ledger/export.ndjson").mimetype == "application/x-ndjson"
    views = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.tag == EventTag.HUMAN_VIEW.value)
    ).all()
    assert [(v.actor, json.loads(v.detail)) for v in views] == [
        (f"user:{membership.user_id}", {"reason": "security", "view": "ledger"})
    ]


def test_reviewer_browses_only_own_account(reviewer: FlaskClient) -> None:
    response = reviewer.get("/ledger")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Its 3 entries, and the reviewer's own recorded reasons for opening the ledger pages.
    assert page.count('data-testid="ledger-entry"') == 3 + len(GUARDED_LEDGER_PAGES)
    assert page.count(f"<td>{EventTag.HUMAN_VIEW.value}</td>") == len(GUARDED_LEDGER_PAGES)
    assert "people.batchCreateContacts" in page
    assert "people.secretTheirs" not in page


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("purpose=sign_in", 1),
        ("user=11", 2),
        ("method=people.batchCreateContacts", 2),
        ("outcome=401", 1),
        ("tag=user_data.exported&purpose=contact_sync", 2),
        ("from=2000-01-01&to=2000-01-02", 0),
    ],
)
def test_filters(reviewer: FlaskClient, query: str, count: int) -> None:
    page = reviewer.get(f"/ledger?{query}").get_data(as_text=True)
    assert page.count('data-testid="ledger-entry"') == count


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("user=bob", "User id must be a whole number, not “bob”"),
        ("purpose=ads", "Purpose must be one of"),
        ("from=soon", "From must be a date"),
    ],
)
def test_bad_filter_is_named(reviewer: FlaskClient, query: str, message: str) -> None:
    response = reviewer.get(f"/ledger?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert reviewer.get(f"/ledger/export.csv?{query}").status_code == 400


def test_every_bad_filter_is_named_at_once_and_no_unfiltered_entry_is_shown(
    reviewer: FlaskClient, two_accounts: tuple[Account, Account]
) -> None:
    fill(two_accounts[0].id, 2)
    query = "from=2026-13-45&to=yesterday&user=bob"
    response = reviewer.get(f"/ledger?{query}", headers={"Accept-Language": "uk"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "«Від» має бути датою" in page
    assert "«До» має бути датою" in page
    assert "ID користувача має бути цілим числом" in page
    assert 'data-testid="ledger-entry"' not in page
    summary = reviewer.get(f"/ledger/summary?{query}")
    assert summary.status_code == 400
    assert 'data-testid="ledger-destinations"' not in summary.get_data(as_text=True)
    export = reviewer.get(f"/ledger/export.csv?{query}")
    assert export.status_code == 400
    assert len(export.get_data(as_text=True).splitlines()) == 3


def test_the_outcome_filter_offers_the_outcomes_recorded(
    reviewer: FlaskClient, two_accounts: tuple[Account, Account]
) -> None:
    fill(two_accounts[0].id, 1, outcome="401")
    fill(two_accounts[1].id, 1, outcome="418")
    page = reviewer.get("/ledger").get_data(as_text=True)
    assert '<option value="401">' in page
    assert '<option value="418">' not in page, "another account's outcomes are not offered"


@pytest.mark.parametrize("role", [Role.MEMBER])
def test_members_cannot_review(factory: Factory, signed_in: SignedIn, role: Role) -> None:
    client = signed_in(factory.member(factory.account(), role))
    for path in LEDGER_PAGES:
        assert client.get(path).status_code == 403


def test_admin_may_review(
    factory: Factory, signed_in: SignedIn, two_accounts: tuple[Account, Account]
) -> None:
    client = signed_in(factory.member(two_accounts[0], Role.ADMIN))
    assert client.get("/ledger").status_code == 200


def test_summary_proves_destinations_and_lists_deletions(
    reviewer: FlaskClient, two_accounts: tuple[Account, Account]
) -> None:
    fill(
        two_accounts[0].id,
        1,
        tag=EventTag.DATA_DELETED,
        kind=FlowKind.LIFECYCLE,
        purpose=Purpose.USER_DATA_RIGHTS,
        destination=Destination.GROUPSYNC_STORE,
        outcome="deleted",
        user_id=12,
        records=0,
    )
    page = reviewer.get("/ledger/summary").get_data(as_text=True)
    assert 'data-testid="no-third-party"' in page
    assert "user_data.deleted" in page
    assert "contact_sync" in page
    assert "emailAddresses" in page
    assert f"{4 + len(GUARDED_LEDGER_PAGES)} flows" in page, "the reviewer's recorded views count too"


def test_exports_are_scoped_filtered_and_inert(
    reviewer: FlaskClient, two_accounts: tuple[Account, Account]
) -> None:
    fill(two_accounts[0].id, 1, outcome="=HYPERLINK(1)", method="people.get", user_id=13)
    response = reviewer.get("/ledger/export.csv?user=13")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["outcome"] for r in rows] == ["'=HYPERLINK(1)"]
    lines = reviewer.get("/ledger/export.ndjson").get_data(as_text=True).splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 4 + len(GUARDED_LEDGER_PAGES)
    assert {e["chain"] for e in entries} == {f"account:{two_accounts[0].id}"}


def test_ledger_pages_change_nothing(reviewer: FlaskClient) -> None:
    before = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    for path in LEDGER_PAGES:
        reviewer.get(path)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before


@pytest.fixture
def guarded_app(database_url: str, tmp_path: Path, app: Flask) -> Flask:
    """A second app on the same database with one page guarded by requires_view_reason."""
    other = create_app(make_settings(database_url, tmp_path))
    page = Blueprint("guarded", __name__)

    @page.get("/guarded/<int:user_id>")
    @require_role(*ANY_ROLE)
    @requires_view_reason("sync_health", subject_arg="user_id")
    def guarded(user_id: int) -> str:
        return f"google data of {user_id}"

    other.register_blueprint(page)
    return other


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_human_view_requires_and_records_a_reason(guarded_app: Flask, factory: Factory) -> None:
    membership = factory.member(factory.account(), Role.ADMIN)
    client = sign_in_client(guarded_app, membership)
    first = client.get("/guarded/42").get_data(as_text=True)
    assert "google data of 42" not in first
    assert 'data-testid="human-view-form"' in first
    form = {"view": "sync_health", "next": "/guarded/42", "subject": "42", "csrf_token": _token(first)}
    missing = client.post("/ledger/human-view", data=form)
    assert missing.status_code == 400
    assert "Choose the reason" in missing.get_data(as_text=True)
    answered = client.post("/ledger/human-view", data={**form, "reason": HumanViewReason.SECURITY.value})
    assert answered.status_code == 302
    assert answered.headers["Location"] == "/guarded/42"
    assert "google data of 42" in client.get("/guarded/42").get_data(as_text=True)
    assert "google data of 43" not in client.get("/guarded/43").get_data(as_text=True)
    entry = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.tag == EventTag.HUMAN_VIEW.value)
    ).one()
    assert (entry.account_id, entry.user_id, entry.actor) == (
        membership.account_id,
        42,
        f"user:{membership.user_id}",
    )
    assert json.loads(entry.detail) == {"reason": "security", "view": "sync_health"}
    assert entry.purpose == Purpose.SECURITY.value


def test_human_view_needs_csrf_token(guarded_app: Flask, factory: Factory) -> None:
    client = sign_in_client(guarded_app, factory.member(factory.account(), Role.ADMIN))
    data = {"view": "v", "next": "/guarded/1", "reason": "security"}
    assert client.post("/ledger/human-view", data=data).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


def test_human_view_grant_expires(
    guarded_app: Flask, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sign_in_client(guarded_app, factory.member(factory.account(), Role.ADMIN))
    page = client.get("/guarded/7").get_data(as_text=True)
    form = {"view": "v", "next": "/guarded/7", "reason": "user_consent", "csrf_token": _token(page)}
    client.post("/ledger/human-view", data=form)
    assert "google data of 7" in client.get("/guarded/7").get_data(as_text=True)
    later = time.time() + human_view.GRANT_SECONDS + 1
    monkeypatch.setattr(human_view.time, "time", lambda: later)
    assert "google data of 7" not in client.get("/guarded/7").get_data(as_text=True)


def test_bad_filter_in_export_is_plain_text(reviewer: FlaskClient) -> None:
    response = reviewer.get("/ledger/export.ndjson?purpose=<script>x</script>")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
