"""The Limited Use ledger in a real browser: browse, filter, summary, and an evidence pack that verifies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.accounts.models import Account
from app.db import utcnow
from app.extensions import db
from app.ledger.events import Purpose
from app.ledger.services import make_checkpoints
from app.ledger.signing import Signer
from app.ledger.standalone_verify import Trust, Verdict, verify_pack
from app.ledger.tasks import build_requested_packs
from tests.browser.conftest import screenshot, sign_in
from tests.ledger.helpers import fill
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def give_reason(page: Page) -> None:
    """A page of Google-derived data asks why first; the answer is recorded in the ledger."""
    expect(page.get_by_test_id("human-view-form")).to_be_visible()
    page.get_by_label(re.compile("Security")).check()
    page.get_by_test_id("human-view-submit").click()


def test_admin_reviews_the_ledger_and_downloads_a_verifiable_pack(
    page: Page, live: LiveApp, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if "Content Security" in message.text else None
    )
    sign_in(page, live)
    with live.app.app_context():
        account = db.session.scalars(select(Account)).one()
        account_id = account.id
        fill(account.id, 3, method="people.batchCreateContacts")
        fill(account.id, 1, method="people.connections.list", purpose=Purpose.ACCOUNT_CONNECTION)
        make_checkpoints(db.session, Signer.for_settings(live.app.config["GROUPSYNC"]))

    page.get_by_test_id("ledger-link").click()
    give_reason(page)
    expect(page.get_by_test_id("ledger-title")).to_be_visible()
    # Sign-in's own token exchange is there too: every request to Google is in the ledger, and
    # so is this admin's recorded reason for reading it.
    expect(page.get_by_test_id("ledger-entry")).to_have_count(6)
    expect(page.get_by_test_id("ledger-entries")).to_contain_text("oauth2.token")

    page.select_option("select[name=purpose]", "account_connection")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("ledger-entry")).to_have_count(1)

    page.get_by_test_id("ledger-summary-link").click()
    give_reason(page)
    expect(page.get_by_test_id("no-third-party")).to_be_visible()
    expect(page.locator("select[name=purpose]")).to_have_value("account_connection")
    screenshot(page, "ledger-summary")

    page.get_by_test_id("ledger-browse-link").click()
    page.get_by_test_id("ledger-evidence-pack").click()
    page.get_by_test_id("evidence-pack-request").click()
    expect(page.get_by_test_id("evidence-pack-state")).to_contain_text("waiting for the worker")
    with live.app.app_context():
        # What the worker's chore does (it alone holds the signing key); the page refreshes itself.
        assert build_requested_packs(db.session(), live.app.config["GROUPSYNC"], utcnow()) == 1
        key_id = Signer.for_settings(live.app.config["GROUPSYNC"]).key_id
    page.get_by_test_id("evidence-pack-download").click()
    page.get_by_label(re.compile("Legal")).check()
    with page.expect_download() as download:
        page.get_by_test_id("human-view-submit").click()
    pack = tmp_path / "pack.zip"
    download.value.save_as(pack)
    report = verify_pack(pack, Trust(key_ids=(key_id,)))
    assert report.verdict is Verdict.VERIFIED, report.lines()
    # The sign-in's code exchange started on the installation chain and ended on the account's.
    chains = {c.chain: c for c in report.chains}
    assert chains[f"account:{account_id}"].entries == 7, "5 entries and 2 recorded reasons"
    # Only that entry is shown; the installation chain's others are redacted to their hashes.
    assert chains["installation"].entries - chains["installation"].redacted == 1
    assert errors == []
