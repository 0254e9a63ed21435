"""Connecting Google Contacts in a real browser: GroupSync's disclosure, Google's consent page, connected."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.google.endpoints import CONTACTS_SCOPE
from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADA = "ada.lovelace@example.com"


def _to_consent_page(page: Page, live: LiveApp) -> None:
    sign_in(page, live, ADA)
    page.get_by_test_id("google-connection-link").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text("Not connected")
    page.get_by_test_id("connect").click()
    expect(page.get_by_test_id("disclosure")).to_contain_text("only inside that group")
    # Nothing has gone to Google yet: we are still on GroupSync's own page.
    assert page.url == f"{live.url}/google/disclosure"
    page.get_by_test_id("accept-disclosure").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    page.get_by_label(re.compile(re.escape(ADA))).check()


def test_disclosure_then_google_consent_then_connected(page: Page, live: LiveApp) -> None:
    _to_consent_page(page, live)
    expect(page.locator(f'input[name="scope"][value="{CONTACTS_SCOPE}"]')).to_be_checked()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text(f"Connected as {ADA}")
    # The callback answered with a redirect at once: the address bar holds no code.
    assert page.url == f"{live.url}/google/"
    expect(page.get_by_test_id("disconnect")).to_be_visible()
    assert screenshot(page, "google-connected").stat().st_size > 0

    page.get_by_test_id("disconnect").click()
    expect(page.get_by_test_id("confirm-consequences")).to_contain_text("syncs are turned off")
    page.get_by_test_id("confirm-action").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text("Not connected")
    expect(page.get_by_test_id("disconnect-receipt")).to_contain_text("stay in your Google Contacts")


def test_unticking_contacts_keeps_sync_off_and_explains(page: Page, live: LiveApp) -> None:
    _to_consent_page(page, live)
    page.locator(f'input[name="scope"][value="{CONTACTS_SCOPE}"]').uncheck()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text("Not connected")
    expect(page.get_by_role("status")).to_contain_text("did not give GroupSync access to your contacts")
    assert page.url == f"{live.url}/google/"
