"""Signing in with Google in a real browser, clicking through the emulator's consent page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_sign_in_through_the_consent_page_lands_on_the_dashboard(page: Page, live: LiveApp) -> None:
    sign_in(page, live, "olena.kovalenko@example.com")
    assert page.url == f"{live.url}/dashboard"
    expect(page.get_by_test_id("who")).to_contain_text("Олена Коваленко")
    expect(page.get_by_test_id("who")).to_contain_text("admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "groupsync_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert screenshot(page, "sign-in-dashboard").stat().st_size > 0


def test_deny_on_the_consent_page_returns_signed_out(page: Page, live: LiveApp) -> None:
    page.goto(live.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_contain_text("cancelled")
    assert page.url == f"{live.url}/sign-in"
