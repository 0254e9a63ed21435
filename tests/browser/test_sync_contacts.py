"""What a sync did, contact by contact, in a real browser: live "N of M contacts" on the sync page,
the contacts page with its search and states, in English on a laptop and in Ukrainian on a phone
(390 px), and the run history still there after the sync is turned off; no serious axe violation,
nothing wider than the window."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.worker.embedded import EmbeddedWorker
from tests.browser.conftest import TIMEOUT_MS, screenshot
from tests.browser.test_sync import ADA_EMAIL, _connect, _crm_list_for_ada
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

_axe = Axe()


def _context(browser: Browser, language: str, width: int) -> BrowserContext:
    context = browser.new_context(locale=language, viewport={"width": width, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _sign_in(page: Page, live: LiveApp) -> None:
    """Through the emulator's consent page by test ids, so in any language."""
    page.goto(live.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("age-confirmed").check()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape(ADA_EMAIL))).check()
    page.locator("#allow").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()


def _check(page: Page, problems: list[str], name: str) -> None:
    results = _axe.run(page)
    problems += [
        f"{name}: {v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    overflow = int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))
    if overflow > 0:
        problems.append(f"{name}: {overflow}px wider than the window")
    screenshot(page, f"sync-contacts-{name}")


def test_what_was_synced_on_a_laptop_in_english_and_a_phone_in_ukrainian(
    browser: Browser, live: LiveApp
) -> None:
    problems: list[str] = []
    laptop = _context(browser, "en", 1280)
    page = laptop.new_page()
    _sign_in(page, live)
    _connect(page)
    _crm_list_for_ada(live, 120)
    page.goto(f"{live.url}/syncs")
    page.get_by_test_id("sync-turn-on").click()
    worker = EmbeddedWorker(live.app, tick_seconds=0.5)
    worker.start()
    try:
        # Counted in contacts, not batches; the page polls and reloads itself when the run ends.
        expect(page.get_by_test_id("sync-contacts-progress")).to_contain_text(
            "120 of 120 contacts", timeout=30_000
        )
    finally:
        worker.stop()
    expect(page.get_by_test_id("sync-progress-text")).to_contain_text("ok")
    _check(page, problems, "detail-en-1280")

    page.get_by_test_id("sync-contacts-link").click()
    expect(page.get_by_test_id("sync-run-contacts")).to_contain_text("120 of 120 contacts written")
    expect(page.get_by_test_id("sync-contact-c0").get_by_test_id("sync-contact-state")).to_have_text(
        "created in this run"
    )
    expect(page.get_by_test_id("sync-contacts-pages")).to_contain_text("Page 1 of 3")
    _check(page, problems, "list-en-1280")
    page.get_by_test_id("sync-contact-search").fill("customer 11")
    page.get_by_test_id("sync-contact-search").press("Enter")
    # "Customer 11" and "Customer 110" to "Customer 119".
    expect(page.locator("[data-testid^=sync-contact-c]")).to_have_count(11)
    _check(page, problems, "search-en-1280")
    laptop.close()

    phone = _context(browser, "uk", 390)
    page = phone.new_page()
    _sign_in(page, live)
    page.goto(f"{live.url}/syncs")
    page.get_by_test_id("sync-detail-link").click()
    page.get_by_test_id("sync-turn-off").click()
    # Turned off: the overview still leads to the sync, whose runs stay visible.
    page.get_by_test_id("sync-detail-link").click()
    expect(page.get_by_test_id("sync-off")).to_contain_text("Цю синхронізацію вимкнено")
    expect(page.get_by_test_id("sync-run-row")).to_have_count(1)
    _check(page, problems, "detail-off-uk-390")
    page.get_by_test_id("sync-contacts-link").click()
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_test_id("sync-contact-c0").get_by_test_id("sync-contact-state")).to_have_text(
        "створено під час цього запуску"
    )
    _check(page, problems, "list-uk-390")
    page.get_by_test_id("sync-contacts-next").click()
    expect(page.get_by_test_id("sync-contacts-pages")).to_contain_text("2")
    _check(page, problems, "page-2-uk-390")
    phone.close()

    assert problems == []
