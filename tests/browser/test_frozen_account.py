"""An account frozen for inactivity: every page says so, and its admin unfreezes it with one button."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.accounts.models import Account
from app.db import utcnow
from app.extensions import db
from app.flows import inactivity
from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _freeze(live: LiveApp) -> None:
    """A year and more without a sign-in, then the chore's warning and, a week later, its freeze."""
    now = utcnow()
    with live.app.app_context():
        account = db.session.scalars(select(Account)).one()
        account.last_active_at = now - timedelta(days=400)
        db.session.commit()
        settings = live.app.config["GROUPSYNC"]
        inactivity.run(db.session(), settings, now - timedelta(days=8))
        inactivity.run(db.session(), settings, now)
        db.session.expire_all()
        assert db.session.scalars(select(Account)).one().frozen_at is not None
        db.session.remove()


def test_the_frozen_banner_and_unfreezing(page: Page, live: LiveApp) -> None:
    sign_in(page, live, "ada.lovelace@example.com")
    expect(page.get_by_test_id("account-life")).to_be_visible()
    expect(page.get_by_test_id("frozen-banner")).to_have_count(0)

    _freeze(live)
    page.reload()
    banner = page.get_by_test_id("frozen-banner")
    expect(banner).to_contain_text("This account is frozen")
    expect(banner).to_contain_text("its syncs are stopped")
    expect(page.get_by_test_id("life-frozen")).to_be_visible()
    violations = [
        f"{v['id']} ({v['impact']})"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert violations == []
    screenshot(page, "account-frozen")

    page.get_by_test_id("unfreeze").click()
    expect(page.get_by_role("status")).to_contain_text("The account is in use again")
    expect(page.get_by_test_id("frozen-banner")).to_have_count(0)
    with live.app.app_context():
        assert db.session.scalars(select(Account)).one().frozen_at is None
        db.session.remove()
