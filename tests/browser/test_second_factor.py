"""In a real browser: set up TOTP, then sign in with Google and a code; a refused address."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.accounts.models import Account
from app.db import utcnow
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import SecurityPolicy
from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_totp_enrolment_then_sign_in_with_a_code(page: Page, live: LiveApp) -> None:
    sign_in(page, live, "olena.kovalenko@example.com")
    page.get_by_test_id("security-link").click()
    page.get_by_test_id("enrol-link").click()
    page.get_by_test_id("enrol-start").click()
    secret = page.get_by_test_id("totp-secret").inner_text()
    totp = pyotp.TOTP(secret)
    # The code of the step before now: the sign-in below then uses a new one (codes are single-use).
    page.get_by_test_id("code").fill(totp.at(utcnow() - timedelta(seconds=30)))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("continue").click()
    page.get_by_role("button", name="Sign out").click()

    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label("olena.kovalenko@example.com").check()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_test_id("code").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("That code is not right")
    page.get_by_test_id("code").fill(totp.now())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    page.goto(f"{live.url}/security/")
    expect(page.get_by_test_id("factor-status")).to_contain_text("Recovery codes left: 10")
    assert screenshot(page, "second-factor-signed-in").stat().st_size > 0


def test_a_refused_address_gets_a_page_naming_the_rule(page: Page, live: LiveApp) -> None:
    sign_in(page, live, "olena.kovalenko@example.com")
    with live.app.app_context():
        account_id = db.session.scalars(select(Account.id)).one()
        db.session.add(
            SecurityPolicy(
                account_id=account_id,
                second_factor="off",
                idle_minutes=720,
                absolute_hours=336,
                time_zone="UTC",
                web_networks="10.0.0.0/8\n2001:db8::/32",
                api_networks="",
                web_hours="",
                api_hours="",
            )
        )
        db.session.commit()
    response = page.goto(f"{live.url}/dashboard")
    assert response is not None
    assert response.status == 403
    refusal = page.get_by_test_id("refusal")
    expect(refusal).to_have_attribute("data-rule", "address_not_allowed")
    expect(refusal).to_contain_text("your address 127.0.0.1 is not one of them")
    screenshot(page, "access-refused")
    # The refusal page offers its own sign-out besides the navigation's.
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    with live.app.app_context():
        assert [e.action for e in entries_of(db.session, account_id)] == [AuditAction.ACCESS_REFUSED]
