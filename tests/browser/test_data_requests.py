"""A person in the CRM asks about their data on a phone: the public form in their language, the
mailed link, the confirmation, and an admin's page for the request; no serious axe violation,
nothing wider than the window."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from app.accounts.models import Account
from app.crm import services as crm_services
from app.extensions import db
from app.mail import sent_files
from groupsync_emulator.cli import RunningEmulator
from tests.browser.conftest import TIMEOUT_MS, screenshot
from tests.live_server import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

_axe = Axe()
OLENA = "olena@people.example"


@pytest.fixture
def mail_live(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path, mail_transport=f"file:{tmp_path / 'mail'}") as running:
        yield running


def _check(page: Page, problems: list[str], name: str) -> None:
    results = _axe.run(page)
    problems += [
        f"{name}: {v['id']} ({v['impact']})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    overflow = int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))
    if overflow > 0:
        problems.append(f"{name}: {overflow}px wider than the window")
    screenshot(page, f"data-request-{name}-390")


def test_the_public_form_on_a_phone_in_ukrainian(
    browser: Browser, mail_live: LiveApp, tmp_path: Path
) -> None:
    with mail_live.app.app_context():
        account = Account(name="Acme CRM")
        db.session.add(account)
        db.session.commit()
        crm_services.upsert_contact(
            db.session,
            account.id,
            "c1",
            {"given_name": "Олена", "emails": [{"value": "olena@people.example"}]},
        )
        slug = account.request_slug
    context = browser.new_context(locale="uk", viewport={"width": 390, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []

    page.goto(f"{mail_live.url}/data-requests/{slug}")
    assert page.locator("html").get_attribute("lang") == "uk"
    page.get_by_test_id("send-data-request").click()
    expect(page.locator("#email-error")).to_be_visible()  # nothing filled: the field is named
    _check(page, problems, "form-errors")
    page.get_by_label("Ваша адреса електронної пошти").fill(OLENA)
    page.get_by_label("Видалення даних про мене").check()
    page.get_by_label(re.compile("^Подробиці")).fill("Видаліть, будь ласка, мої дані.")
    page.get_by_test_id("send-data-request").click()
    expect(page.get_by_test_id("data-request-sent")).to_be_visible()
    _check(page, problems, "sent")

    (mail,) = sent_files(tmp_path / "mail")
    found = re.search(r"http\S+/data-requests/confirm/\S+", str(mail.get_content()))
    assert found is not None
    page.goto(found.group(0))
    page.get_by_test_id("confirm-data-request").click()
    expect(page.get_by_test_id("data-request-confirmed")).to_be_visible()
    _check(page, problems, "confirmed")
    context.close()
    assert problems == []
