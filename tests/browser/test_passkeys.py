"""In Chromium with a virtual authenticator (DevTools Protocol): add a passkey, then sign in with it.

WebAuthn needs a secure context and a relying-party id that is a domain, so this live server
is named ``localhost`` (plain HTTP on localhost counts as secure), not 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, Page, expect
from sqlalchemy import select

from app.accounts.models import Membership
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import Passkey, SecurityPolicy
from groupsync_emulator.cli import RunningEmulator
from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def live_localhost(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path, host="localhost") as running:
        yield running


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator that holds passkeys and verifies the user without asking."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_add_a_passkey_sign_in_with_it_and_confirm_a_rule_change(page: Page, live_localhost: LiveApp) -> None:
    live = live_localhost
    cdp, authenticator = virtual_authenticator(page)
    sign_in(page, live, "olena.kovalenko@example.com")
    page.get_by_test_id("security-link").click()
    expect(page.get_by_test_id("no-passkeys")).to_be_visible()
    page.get_by_test_id("passkey-name").fill("Virtual laptop")
    page.get_by_test_id("passkey-add").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("continue").click()
    expect(page.get_by_test_id("passkeys")).to_contain_text("Virtual laptop")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1
    assert stored[0]["rpId"] == "localhost"
    screenshot(page, "passkey-added")
    page.goto(f"{live.url}/dashboard")
    page.get_by_role("button", name="Sign out").click()

    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape("olena.kovalenko@example.com"))).check()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_test_id("passkey-sign-in").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()

    # The account's first person is its admin: the address rules are confirmed with the passkey too.
    page.goto(f"{live.url}/security/admin")
    page.get_by_label("Hours allowed for the web pages").fill("00:00-24:00")
    page.get_by_test_id("access-passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Address and hours rules saved.")
    with live.app.app_context():
        passkey = db.session.scalars(select(Passkey)).one()
        assert passkey.sign_count >= 0
        assert db.session.scalars(select(SecurityPolicy.web_hours)).one() == "00:00-24:00"
        assert passkey.name == "Virtual laptop"
        assert passkey.last_used_at is not None
        account_id = db.session.get_one(Membership, passkey.membership_id).account_id
        assert AuditAction.FACTOR_ENROLLED in [e.action for e in entries_of(db.session, account_id)]
