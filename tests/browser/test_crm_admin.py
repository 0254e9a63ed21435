"""The CRM admin pages in a real browser: an API key shown once and used, a CSV imported, a list made."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CSV = (
    "\ufeffCRM id;First name;Last name;Email;Phone\n"
    "c1;Олена;Коваленко;olena@example.com;+380 44 123 4567\n"
    "c2;Emma;Smith;not-an-address;\n"
    "c3;Oliver;Brown;oliver@example.com;\n"
)


def test_admin_creates_a_key_imports_a_csv_and_sees_the_list(
    page: Page, live: LiveApp, tmp_path: Path
) -> None:
    sign_in(page, live)
    page.get_by_test_id("crm-keys-link").click()
    page.get_by_label("Name").fill("CRM production")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("api-key-secret").inner_text()
    assert secret.startswith("gsk_")
    screenshot(page, "crm-api-key-created")
    # Reloading re-sends the form: no second key, and the secret is not shown again.
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("This form already created its key")
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)
    expect(
        page.get_by_test_id("api-keys").get_by_role("row").filter(has_text="CRM production")
    ).to_have_count(1)

    # The CRM uses the key over real HTTP.
    headers = {"Authorization": f"Bearer {secret}"}
    created = requests.put(f"{live.url}/api/v1/lists/vip", json={"name": "VIP"}, headers=headers, timeout=10)
    assert created.status_code == 201

    page.get_by_test_id("crm-nav-keys").click()
    expect(page.get_by_test_id("api-keys")).to_contain_text("CRM production")
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)

    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    page.get_by_test_id("crm-nav-import").click()
    page.get_by_test_id("csv-file").set_input_files(str(csv_file))
    page.get_by_test_id("csv-list").fill("Customers")
    page.get_by_test_id("csv-upload").click()
    expect(page.get_by_test_id("csv-preview")).to_contain_text("Коваленко")
    page.get_by_test_id("csv-map-4").select_option("phone_work")
    page.get_by_test_id("csv-import").click()
    expect(page.get_by_test_id("csv-summary")).to_have_text("2 created, 0 updated, 0 unchanged, 1 skipped.")
    expect(page.get_by_test_id("csv-row-3")).to_contain_text("column 'Email'")
    screenshot(page, "crm-import-report")

    page.get_by_test_id("crm-nav-lists").click()
    expect(page.get_by_test_id("crm-list-vip")).to_contain_text("VIP")
    customers = page.get_by_test_id("crm-lists").get_by_role("row").filter(has_text="Customers")
    expect(customers.get_by_test_id("crm-list-size")).to_have_text("2")
    contact = requests.get(f"{live.url}/api/v1/contacts/c1", headers=headers, timeout=10).json()
    assert contact["phones"] == [{"value": "+380441234567", "type": "work"}]


def test_admin_creates_and_renames_a_list(page: Page, live: LiveApp) -> None:
    sign_in(page, live)
    page.get_by_test_id("crm-lists-link").click()
    page.get_by_label("New list").fill("Partners")
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("status")).to_contain_text("List 'Partners' created")
    partners = page.get_by_test_id("crm-lists").get_by_role("row").filter(has_text="Partners")
    expect(partners).to_have_count(1)

    partners.get_by_label("New name of Partners").fill("Key partners")
    partners.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status")).to_contain_text("'Partners' is now 'Key partners'")
    renamed = page.get_by_test_id("crm-lists").get_by_role("row").filter(has_text="Key partners")
    expect(renamed).to_have_count(1)
    screenshot(page, "crm-list-renamed")
