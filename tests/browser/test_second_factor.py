"""A second factor in a real browser: set up TOTP, sign out, sign in with Google and then the code."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from app.db import utcnow
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
