"""An admin on a phone, in Ukrainian: the getting-started checklist, then two destructive actions
through the shared confirmation page (withdraw a list from a member, delete a contact and undo
it); every step passes axe (no serious or critical violation) and nothing is wider than the window."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.accounts.models import Account, Membership, Role, User
from app.crm import services as crm
from app.extensions import db
from app.google.models import ConnectionStatus, GoogleConnection
from app.sync.models import ContactSync, SyncedContact
from app.sync.planner import RowState
from tests.browser.conftest import TIMEOUT_MS, screenshot
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADMIN = "ada.lovelace@example.com"
_axe = Axe()


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
    screenshot(page, f"confirm-{name}-390-uk")


def _sign_in(page: Page, live: LiveApp) -> None:
    page.goto(live.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("age-confirmed").check()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape(ADMIN))).check()
    page.locator("#allow").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()


def _a_member_syncing_two_contacts(live: LiveApp) -> None:
    with live.app.app_context():
        account = db.session.scalars(select(Account)).one()
        for crm_id, name in (("c1", "Olena"), ("c2", "Taras")):
            crm.upsert_contact(db.session, account.id, crm_id, {"given_name": name, "family_name": "Коваль"})
        contact_list, _ = crm.put_list(db.session, account.id, "l1", {"name": "Клієнти"})
        crm.change_members(db.session, account.id, "l1", {"contact_ids": ["c1", "c2"]}, add=True)
        member = Membership(
            account=account,
            user=User(google_sub="olena-sub", email="olena@example.com", name="Олена Коваль"),
            role=Role.MEMBER,
        )
        db.session.add(member)
        db.session.commit()
        crm.grant_access(db.session, contact_list, member, "test")
        connection = GoogleConnection(
            account_id=account.id,
            user_id=member.user_id,
            email="olena@gmail.example",
            status=ConnectionStatus.CONNECTED,
        )
        db.session.add(connection)
        db.session.flush()
        sync = ContactSync(
            account_id=account.id,
            membership_id=member.id,
            list_id=contact_list.id,
            connection_id=connection.id,
        )
        db.session.add(sync)
        db.session.flush()
        for crm_id in ("c1", "c2"):
            db.session.add(
                SyncedContact(
                    sync_id=sync.id, crm_id=crm_id, state=RowState.SYNCED, resource_name=f"people/{crm_id}"
                )
            )
        db.session.commit()


def test_confirming_destructive_actions_on_a_phone_in_ukrainian(browser: Browser, live: LiveApp) -> None:
    context = browser.new_context(locale="uk", viewport={"width": 390, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    try:
        _sign_in(page, live)
        assert page.locator("html").get_attribute("lang") == "uk"
        checklist = page.get_by_test_id("onboarding")
        expect(checklist).to_contain_text("Перші кроки")
        expect(page.get_by_test_id("step-contacts")).to_have_attribute("data-done", "no")
        _check(page, problems, "checklist")

        _a_member_syncing_two_contacts(live)
        page.reload()  # contacts, a list, shared with a member: every step done, the checklist is gone
        expect(page.get_by_test_id("dashboard-title")).to_be_visible()
        expect(page.get_by_test_id("onboarding")).to_have_count(0)

        # Withdraw the list from the member: the question counts what leaves her Google account.
        page.goto(f"{live.url}/admin/crm")
        page.get_by_test_id("withdraw-link").click()
        expect(page.get_by_test_id("confirm-title")).to_contain_text(
            "Відкликати «Клієнти» у olena@example.com?"  # noqa: RUF001
        )
        consequences = page.get_by_test_id("confirm-consequences")
        expect(consequences).to_contain_text("списку 2 контакти.")
        expect(consequences).to_contain_text("2 контакти зникнуть із групи GroupSync")
        _check(page, problems, "withdraw-question")
        page.get_by_test_id("confirm-action").click()
        expect(page.get_by_role("status")).to_contain_text("«Клієнти»")
        assert page.url == f"{live.url}/admin/crm"  # after the redirect: reloading sends nothing
        _check(page, problems, "withdrawn")

        # Delete a contact, then undo it within the sync interval.
        page.goto(f"{live.url}/admin/crm/contacts")
        page.get_by_role("link", name="Видалити…").first.click()
        expect(page.get_by_test_id("confirm-title")).to_contain_text("Видалити контакт")
        expect(page.get_by_test_id("confirm-reassurance")).to_contain_text("доти його можна скасувати")
        _check(page, problems, "delete-question")
        page.get_by_test_id("confirm-action").click()
        expect(page.get_by_test_id("deleted-receipt")).to_be_visible()
        _check(page, problems, "deleted")
        page.get_by_test_id("undo-delete").click()
        expect(page.get_by_role("status")).to_contain_text("повернуто")
    finally:
        context.close()
    assert problems == []
