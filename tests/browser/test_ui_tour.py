"""Every role's pages in every language, on a phone (390 px) and a laptop (1,280 px): no serious or
critical axe-core violation, nothing wider than the window, screenshots under test-artifacts/.
And the member's path to a Google connection works from the keyboard alone."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.accounts.models import Account, Invitation, Role
from app.crm import services as crm
from app.extensions import db
from tests.browser.conftest import TIMEOUT_MS, screenshot
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADMIN, MEMBER, REVIEWER = (
    "ada.lovelace@example.com",
    "olena.kovalenko@example.com",
    "grace.hopper@example.org",
)
WIDTHS = (390, 1280)
PAGES = {
    Role.ADMIN: [
        "/dashboard",
        "/syncs",
        "/google/",
        "/admin/crm",
        "/admin/crm/contacts",
        "/admin/crm/api-keys",
        "/admin/crm/import",
        "/account/members",
        "/admin/syncs",
        "/admin/jobs",
        "/admin/data-requests",
        "/ledger",
        "/ledger/summary",
        "/privacy/my-data",
        "/settings",
        "/security/",
        "/security/admin",
        "/security/audit",
        "/privacy",
        "/no-such-page",
    ],
    Role.MEMBER: ["/dashboard", "/syncs", "/google/", "/google/disclosure", "/privacy/my-data", "/ledger"],
    Role.REVIEWER: ["/dashboard", "/ledger", "/ledger/summary", "/privacy/my-data", "/admin/crm"],
}
# A title every page in that language shows in its navigation.
DASHBOARD = {"uk": "Головна", "en": "Dashboard", "ru": "Главная"}
_axe = Axe()


def _context(browser: Browser, language: str, width: int) -> BrowserContext:
    context = browser.new_context(locale=language, viewport={"width": width, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _sign_in(page: Page, live: LiveApp, email: str) -> None:
    """Through the emulator's consent page by test ids and e-mail address, so in any language."""
    page.goto(live.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("age-confirmed").check()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape(email))).check()
    page.locator("#allow").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()


def _serious_violations(page: Page) -> list[str]:
    results = _axe.run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (tables scroll inside their own box)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.fixture
def seeded(live: LiveApp, browser: Browser) -> LiveApp:
    """Ada is the admin (first sign-in); Olena is invited as member with a list, Grace as reviewer."""
    context = _context(browser, "en", 1280)
    _sign_in(context.new_page(), live, ADMIN)
    context.close()
    with live.app.app_context():
        account = db.session.query(Account).one()
        admin = account.memberships[0]
        db.session.add_all(
            [
                Invitation(
                    account_id=account.id, email=MEMBER, role=Role.MEMBER, invited_by_user_id=admin.user_id
                ),
                Invitation(
                    account_id=account.id,
                    email=REVIEWER,
                    role=Role.REVIEWER,
                    invited_by_user_id=admin.user_id,
                ),
            ]
        )
        db.session.commit()
        crm.put_list(db.session, account.id, "vip", {"name": "Ключові клієнти"})
        for n in range(3):
            crm.upsert_contact(
                db.session,
                account.id,
                f"c{n}",
                {"given_name": f"Contact{n}", "family_name": "Тестовий", "company": "Acme LLC"},
            )
    return live


@pytest.mark.parametrize("language", ["uk", "en", "ru"])
def test_every_role_in_every_language_at_both_widths(
    browser: Browser, seeded: LiveApp, language: str
) -> None:
    problems: list[str] = []
    for role, email in ((Role.ADMIN, ADMIN), (Role.MEMBER, MEMBER), (Role.REVIEWER, REVIEWER)):
        for width in WIDTHS:
            context = _context(browser, language, width)
            page = context.new_page()
            _sign_in(page, seeded, email)
            for path in PAGES[role]:
                page.goto(seeded.url + path)
                assert page.locator("html").get_attribute("lang") == language, path
                expect(page.get_by_test_id("main-nav")).to_contain_text(DASHBOARD[language])
                problems += [f"{role.value} {width}px {path}: {v}" for v in _serious_violations(page)]
                if (overflow := _overflow(page)) > 0:
                    problems.append(f"{role.value} {width}px {path}: {overflow}px wider than the window")
                name = path.strip("/").replace("/", "-") or "home"
                screenshot(page, f"ui-{language}-{role.value}-{width}-{name}")
            context.close()
    assert problems == []


def test_the_emulator_sign_in_page_is_accessible_in_every_language(browser: Browser, live: LiveApp) -> None:
    problems = []
    for language in ("uk", "en", "ru"):
        for width in WIDTHS:
            context = _context(browser, language, width)
            page = context.new_page()
            page.goto(live.url)
            page.get_by_test_id("sign-in").click()
            page.get_by_test_id("continue-with-google").click()
            expect(page.locator("#allow")).to_be_visible()
            assert page.locator("html").get_attribute("lang") == language
            # Google's order: the way out first, the primary action last.
            assert page.locator(".buttons button").evaluate_all("bs => bs.map(b => b.id)") == [
                "deny",
                "allow",
            ]
            problems += [f"{language} {width}px: {v}" for v in _serious_violations(page)]
            if (overflow := _overflow(page)) > 0:
                problems.append(f"{language} {width}px: {overflow}px wider than the window")
            screenshot(page, f"ui-{language}-emulator-consent-{width}")
            context.close()
    assert problems == []


def _tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _press_enter_and_wait(page: Page) -> None:
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_member_connects_google_with_the_keyboard_alone(browser: Browser, seeded: LiveApp) -> None:
    context = _context(browser, "uk", 390)
    page = context.new_page()
    _sign_in(page, seeded, MEMBER)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    _tab_to(page, "nav.main-nav a[href*='/google']")
    _press_enter_and_wait(page)
    expect(page.get_by_test_id("connection-state")).to_contain_text("Не підключено")  # noqa: RUF001 (Ukrainian)
    _tab_to(page, "[data-testid=connect]")
    _press_enter_and_wait(page)
    _tab_to(page, "[data-testid=accept-disclosure]")
    _press_enter_and_wait(page)
    expect(page.locator("#allow")).to_be_visible()
    _tab_to(page, "#allow")
    _press_enter_and_wait(page)
    expect(page.get_by_test_id("connection-state")).to_contain_text(MEMBER)
    screenshot(page, "ui-uk-member-keyboard-connected-390")
    context.close()
