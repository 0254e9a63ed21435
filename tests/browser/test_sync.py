"""Turning a sync on in a real browser, watching its progress bar, and finding the group filled in Google."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.accounts.models import Membership, User
from app.crm.services import change_members, grant_access, put_list, store_contact_data
from app.crm.values import ContactData
from app.extensions import db
from app.worker.embedded import EmbeddedWorker
from tests.browser.conftest import screenshot, sign_in
from tests.google.connecting import ADA
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADA_EMAIL = "ada.lovelace@example.com"


def _connect(page: Page) -> None:
    page.get_by_test_id("google-connection-link").click()
    page.get_by_test_id("connect").click()
    page.get_by_test_id("accept-disclosure").click()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text(f"Connected as {ADA_EMAIL}")


def _crm_list_for_ada(live: LiveApp, size: int) -> None:
    with live.app.app_context():
        membership = db.session.scalar(select(Membership).join(User).where(User.email == ADA_EMAIL))
        assert membership is not None
        contacts = [ContactData(crm_id=f"c{i}", given_name=f"Customer {i}") for i in range(size)]
        store_contact_data(db.session, membership.account_id, contacts)
        db.session.commit()
        contact_list, _ = put_list(db.session, membership.account_id, "customers", {"name": "Customers"})
        ids: list[object] = [c.crm_id for c in contacts]
        change_members(db.session, membership.account_id, "customers", {"contact_ids": ids}, add=True)
        grant_access(db.session, contact_list, membership, "user:0")


def test_turn_on_watch_progress_and_find_the_group_filled(page: Page, live: LiveApp) -> None:
    sign_in(page, live, ADA_EMAIL)
    _connect(page)
    _crm_list_for_ada(live, 250)
    page.goto(f"{live.url}/dashboard")
    page.get_by_test_id("sync-link").click()
    page.get_by_test_id("sync-turn-on").click()
    expect(page.get_by_test_id("sync-progress-text")).to_contain_text("waiting for the first run")

    worker = EmbeddedWorker(live.app, tick_seconds=0.5)
    worker.start()
    try:
        # The page polls the status endpoint: the bar fills and the counts appear without a reload.
        expect(page.get_by_test_id("sync-progress-text")).to_contain_text("ok", timeout=30_000)
        expect(page.get_by_test_id("sync-in-group")).to_have_text("250")
        expect(page.get_by_test_id("sync-status")).to_contain_text("ok")
    finally:
        worker.stop()
    progress = page.get_by_test_id("sync-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max")
    # Once the run has ended the page reloads itself, so the group and the run history are current.
    expect(page.get_by_test_id("sync-group")).to_contain_text("Customers")
    assert screenshot(page, "sync-filled").stat().st_size > 0

    snapshot = live.google.call("GET", f"people/accounts/{ADA}/snapshot")
    (group,) = [rn for rn, g in snapshot["groups"].items() if g["name"].endswith(" · Customers")]
    members = [c for c in snapshot["contacts"].values() if group in c["memberships"]]
    names = sorted(c["fields"]["names"][0]["givenName"] for c in members)
    assert names == sorted(f"Customer {i}" for i in range(250))
