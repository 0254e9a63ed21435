"""Browser-test harness: Debian's Chromium driven by Playwright against a live GroupSync and the emulator.

Everything runs on loopback: the emulator (session fixture ``emulator``) and, per test, a fresh
GroupSync on its own SQLite file served by a threaded werkzeug server (``live``). ``page``
opens a clean browser context (no cookies) and saves a screenshot of where a failed test
stopped under ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from groupsync_emulator.cli import RunningEmulator
from tests.live_server import LiveApp, live_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser-up` (installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def live(emulator: RunningEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    with live_app(emulator, tmp_path) as running:
        yield running


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        screenshot(opened, f"failed-{request.node.name}")
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, live: LiveApp, email: str = "ada.lovelace@example.com") -> None:
    """From the landing page through the emulator's consent page (pick ``email``, Allow) to the dashboard."""
    page.goto(live.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("age-confirmed").check()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape(email))).check()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
