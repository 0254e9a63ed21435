"""A Workspace admin connects the domain in a real browser: key upload, statement, Test, a list for
a colleague who is told by e-mail and at sign-in, the group filled, the colleague turning a sync
off, and the delegation removed in the emulator: a clear failure, nothing deleted in Google."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.accounts.models import Account, Membership, Role, User
from app.crm.services import change_members, put_list, store_contact_data
from app.crm.values import ContactData
from app.extensions import db
from app.google.models import GoogleConnection
from app.mail import sent_files
from app.sync.models import ContactSync
from app.worker.embedded import EmbeddedWorker
from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.workspace_views import WorkspaceHooks
from tests.browser.conftest import TIMEOUT_MS, screenshot, sign_in
from tests.live_server import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DOMAIN = "acme.example"
ADMIN = "maria@acme.example"
TARAS = "taras@acme.example"
OKSANA = "oksana@acme.example"
CONTACTS = "https://www.googleapis.com/auth/contacts"


@pytest.fixture
def domain_live(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path, mail_transport=f"file:{tmp_path / 'mail'}") as running:
        yield running


def _colleagues_and_list(live: LiveApp, google_users: dict[str, str]) -> None:
    with live.app.app_context():
        admin = db.session.scalar(select(Membership).join(User).where(User.email == ADMIN))
        assert admin is not None
        account = db.session.get(Account, admin.account_id)
        for email in (TARAS, OKSANA):
            user = User(google_sub=google_users[email], email=email, name=email.split("@")[0].title())
            db.session.add(Membership(account=account, user=user, role=Role.MEMBER))
        db.session.commit()
        contacts = [ContactData(crm_id=f"c{i}", given_name=f"Supplier {i}") for i in range(30)]
        store_contact_data(db.session, admin.account_id, contacts)
        db.session.commit()
        put_list(db.session, admin.account_id, "suppliers", {"name": "Suppliers"})
        ids: list[object] = [c.crm_id for c in contacts]
        change_members(db.session, admin.account_id, "suppliers", {"contact_ids": ids}, add=True)


def _assign(page: Page, *emails: str) -> None:
    """Tick the members (after trying the "every member" box both ways) and give them the list at once."""
    every, boxes = page.get_by_test_id("assign-all"), page.get_by_test_id("assign-member")
    every.check()
    for n in range(boxes.count()):
        expect(boxes.nth(n)).to_be_checked()
    every.uncheck()
    for n in range(boxes.count()):
        expect(boxes.nth(n)).not_to_be_checked()
    for email in emails:
        page.locator(f'[data-testid="assign-member"][data-email="{email}"]').check()
    page.get_by_test_id("assign-list").select_option(label="Suppliers")
    page.get_by_role("button", name="Give the list").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"will be synced into the Google Contacts of {len(emails)} member"
    )


def test_an_admin_connects_the_domain_and_a_colleagues_group_fills(
    page: Page, browser: Browser, domain_live: LiveApp, tmp_path: Path
) -> None:
    live = domain_live
    ws = WorkspaceHooks(live.google)
    created = ws.add_domain(
        DOMAIN, [{"email": e, "name": e.split("@")[0].title()} for e in (ADMIN, TARAS, OKSANA)]
    )
    google_users = {u["email"]: u["sub"] for u in created}
    service_account = ws.create_service_account("acme-groupsync", "contacts-sync")
    key_path = tmp_path / "key.json"
    key = ws.create_key(service_account["email"])
    key_path.write_text(json.dumps(key))
    ws.set_delegation(DOMAIN, service_account["unique_id"], [CONTACTS])

    sign_in(page, live, ADMIN)
    _colleagues_and_list(live, google_users)
    page.get_by_test_id("workspace-link").click()
    page.get_by_test_id("domain-name").fill(DOMAIN)
    page.get_by_test_id("mode-customer-key").check()
    page.get_by_role("button", name="Add the domain").click()
    page.get_by_test_id("key-file").set_input_files(str(key_path))
    page.get_by_role("button", name="Upload the key").click()
    expect(page.get_by_test_id("key-info")).to_contain_text(service_account["email"])
    expect(page.get_by_test_id("client-id")).to_have_text(service_account["unique_id"])
    expect(page.get_by_test_id("scope-string")).to_have_text(CONTACTS)
    assert key["private_key"].splitlines()[1] not in page.content()
    page.get_by_test_id("statement-confirm").check()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_test_id("test-domain").click()
    expect(page.get_by_role("status").first).to_contain_text("Test passed")
    _assign(page, TARAS, OKSANA)
    screenshot(page, "workspace-set-up")

    mails = sent_files(tmp_path / "mail")
    assert sorted(str(m["To"]) for m in mails) == [OKSANA, TARAS]

    worker = EmbeddedWorker(live.app, tick_seconds=0.5)
    worker.start()
    try:
        with live.app.app_context():
            for _ in range(60 * 4):
                db.session.expire_all()
                syncs = db.session.scalars(select(ContactSync)).all()
                if len(syncs) == 2 and all(s.last_success_at for s in syncs):
                    break
                page.wait_for_timeout(250)
            else:
                pytest.fail("the colleagues' first syncs did not finish")
        snapshot = live.google.call("GET", f"people/accounts/{TARAS}/snapshot")
        assert len(snapshot["contacts"]) == 30

        colleague = browser.new_context()
        colleague.set_default_timeout(TIMEOUT_MS)
        taras = colleague.new_page()
        sign_in(taras, live, TARAS)
        expect(taras.get_by_test_id("domain-notice-banner")).to_be_visible()
        taras.get_by_test_id("my-domain-syncs-link").click()
        taras.locator("[data-testid^=turn-off-]").first.click()
        expect(taras.get_by_test_id("my-domain-syncs")).to_contain_text("off (your choice)")
        colleague.close()
        page.goto(f"{live.url}/workspace/")
        expect(page.get_by_test_id("assignments")).to_contain_text("turned off by the member")

        # The admin removes the delegation in the Admin console; Oksana's next token is refused.
        before = live.google.call("GET", f"people/accounts/{OKSANA}/snapshot")
        ws.set_delegation(DOMAIN, service_account["unique_id"], [])
        with live.app.app_context():
            connection = db.session.scalar(
                select(GoogleConnection)
                .join(User, User.id == GoogleConnection.user_id)
                .where(User.email == OKSANA)
            )
            assert connection is not None
            assert connection.access_token_expires_at is not None
            connection.access_token_expires_at = connection.access_token_expires_at.replace(year=2000)
            sync = db.session.scalar(select(ContactSync).where(ContactSync.connection_id == connection.id))
            assert sync is not None
            sync.next_due_at = sync.last_success_at
            db.session.commit()
        for _ in range(60):
            page.goto(f"{live.url}/admin/syncs")
            if page.get_by_test_id("domain-failing").count():
                break
            page.wait_for_timeout(500)
        expect(page.get_by_test_id("domain-failing")).to_contain_text("unauthorized_client")
    finally:
        worker.stop()
    screenshot(page, "workspace-failing")
    assert live.google.call("GET", f"people/accounts/{OKSANA}/snapshot") == before
