"""A reviewer in a real browser: dashboard, ledger, filter, summary, and an evidence pack that verifies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import session
from playwright.sync_api import Browser, sync_playwright

from app.accounts.models import Account, Membership, Role, User
from app.accounts.tenancy import sign_in
from app.emulator.cli import RunningEmulator
from app.extensions import db
from app.ledger.events import Purpose
from app.ledger.services import make_checkpoints
from app.ledger.signing import Signer
from app.ledger.verify import verify_pack
from tests.ledger.helpers import fill
from tests.live_server import LiveApp, live_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def live(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path) as running:
        yield running


def _reviewer_cookie(live: LiveApp) -> str:
    """A signed-in reviewer's session cookie, made the way the app makes it."""
    with live.app.app_context():
        account = Account(name="Acme Reviewed")
        user = User(google_sub="sub-reviewer", email="reviewer@acme.test", name="Rita Reviewer")
        membership = Membership(account=account, user=user, role=Role.REVIEWER)
        db.session.add_all([account, user, membership])
        db.session.commit()
        fill(account.id, 3, method="people.batchCreateContacts")
        fill(account.id, 1, method="oauth.token", purpose=Purpose.ACCOUNT_CONNECTION)
        make_checkpoints(db.session, Signer.for_settings(live.app.config["GROUPSYNC"]))
        with live.app.test_request_context("/"):
            sign_in(membership)
            token = session["login"]
    serializer = live.app.session_interface.get_signing_serializer(live.app)  # type: ignore[attr-defined]
    return str(serializer.dumps({"login": token}))


def test_reviewer_browses_filters_summarises_and_downloads_a_verifiable_pack(
    live: LiveApp, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(accept_downloads=True)
    context.add_cookies([{"name": "groupsync_session", "value": _reviewer_cookie(live), "url": live.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if "Content Security" in message.text else None
    )

    page.goto(f"{live.url}/dashboard")
    page.get_by_test_id("ledger-link").click()
    page.wait_for_selector("[data-testid=ledger-title]")
    assert page.get_by_test_id("ledger-entry").count() == 4

    page.select_option("select[name=purpose]", "account_connection")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ledger?*purpose=account_connection*")
    assert page.get_by_test_id("ledger-entry").count() == 1

    page.get_by_test_id("ledger-summary-link").click()
    page.wait_for_selector("[data-testid=no-third-party]")
    assert page.input_value("select[name=purpose]") == "account_connection"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ledger-summary.png"), full_page=True)

    page.get_by_test_id("ledger-browse-link").click()
    with page.expect_download() as download:
        page.get_by_test_id("ledger-evidence-pack").click()
    pack = tmp_path / "pack.zip"
    download.value.save_as(pack)
    report = verify_pack(pack)
    assert report.ok, report.lines()
    assert [c.entries for c in report.chains] == [4]
    assert errors == []
    context.close()
