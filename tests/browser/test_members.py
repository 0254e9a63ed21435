"""An admin invites a colleague, the colleague joins by signing in, the admin removes them again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import TIMEOUT_MS, screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_invite_join_and_removal(page: Page, browser: Browser, live: LiveApp) -> None:
    sign_in(page, live, "ada.lovelace@example.com")
    page.get_by_test_id("people-link").click()
    invite = page.get_by_test_id("invite-form")
    invite.get_by_label("E-mail").fill("grace.hopper@example.org")
    invite.get_by_label("Role").select_option("reviewer")
    invite.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("status")).to_contain_text("Invited grace.hopper@example.org as reviewer")

    colleague = browser.new_context()
    colleague.set_default_timeout(TIMEOUT_MS)
    grace = colleague.new_page()
    try:
        sign_in(grace, live, "grace.hopper@example.org")
        expect(grace.get_by_test_id("who")).to_contain_text("Ada Lovelace's account · reviewer")

        page.reload()
        row = page.get_by_test_id("members").get_by_role("row").filter(has_text="grace.hopper@example.org")
        row.get_by_role("link", name="Remove…").click()
        expect(page.get_by_test_id("confirm-title")).to_contain_text("Remove grace.hopper@example.org?")
        page.get_by_test_id("confirm-action").click()
        expect(page.get_by_role("status")).to_contain_text("was removed from the account and signed out")
        screenshot(page, "members-after-removal")

        grace.reload()
        expect(grace.get_by_test_id("continue-with-google")).to_be_visible()
    finally:
        colleague.close()
