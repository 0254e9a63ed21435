"""The README's first quick start, `groupsync-demo` (what `make demo` runs), walked through in Chromium.

The demo runs as a separate process, as a person starts it, on free ports and a fresh
instance folder. Its member signs in through the emulator, connects Google, turns the demo
list's sync on, and the embedded worker fills the group; the personal contacts the demo
seeded in that Google account are left as they were.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from groupsync_emulator.demo import DEMO_ACCOUNT
from groupsync_emulator.demo_data import DEMO_SIZE
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.oauth_state import IDENTITIES
from tests.worker.cluster import _wait_until

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

MEMBER = IDENTITIES[1]
"""The demo's member (Олена)."""


@dataclass(frozen=True)
class RunningDemo:
    url: str
    emulator_url: str
    output: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    port, emulator_port = _free_port(), _free_port()
    output = tmp_path / "demo.log"
    command = [
        str(Path(sys.executable).with_name("groupsync-demo")),
        f"--port={port}",
        f"--emulator-port={emulator_port}",
        f"--instance={tmp_path / 'instance'}",
    ]
    # A clean environment, as on a fresh machine: nothing from the test run's settings leaks in.
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("GROUPSYNC_", "GOOGLE_"))
    }
    with output.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    running = RunningDemo(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}", output)
    try:
        _wait_until("the demo answers", lambda: _answers(running.url), timeout=60, interval=0.5)
        yield running
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_demo_member_signs_in_connects_and_fills_the_group(page: Page, demo: RunningDemo) -> None:
    banner = demo.output.read_text(encoding="utf-8")
    assert f"GroupSync demo: {demo.url}" in banner
    assert MEMBER.email in banner
    personal_before = HooksClient(demo.emulator_url).call("GET", f"people/accounts/{MEMBER.sub}/snapshot")
    assert len(personal_before["contacts"]) == 2, "the demo seeds the member's own contacts"

    page.goto(demo.url)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("continue-with-google").click()
    page.get_by_label(re.compile(re.escape(MEMBER.email))).check()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    expect(page.locator("body")).to_contain_text(DEMO_ACCOUNT)

    page.get_by_test_id("google-connection-link").click()
    page.get_by_test_id("connect").click()
    page.get_by_test_id("accept-disclosure").click()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("connection-state")).to_contain_text(f"Connected as {MEMBER.email}")

    page.goto(f"{demo.url}/dashboard")
    page.get_by_test_id("sync-link").click()
    page.get_by_test_id("sync-turn-on").click()
    # The demo's own embedded worker picks the sync up; the page follows it without a reload.
    expect(page.get_by_test_id("sync-progress-text")).to_contain_text("ok", timeout=60_000)
    expect(page.get_by_test_id("sync-in-group")).to_have_text(str(DEMO_SIZE))

    after = HooksClient(demo.emulator_url).call("GET", f"people/accounts/{MEMBER.sub}/snapshot")
    assert len(after["contacts"]) == DEMO_SIZE + 2
    for name, contact in personal_before["contacts"].items():
        assert after["contacts"][name] == contact, "a personal contact changed"
