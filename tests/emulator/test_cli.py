"""``groupsync-emulator`` as an operator runs it: a real process on a real port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from app.cli import main
from groupsync_emulator.cli import emulator_command
from groupsync_emulator.hooks import HooksClient
from tests.emulator.conftest import ADA, CLIENT_ID, CLIENT_SECRET, TIMEOUT, OAuthDriver

EMULATOR = Path(sys.executable).parent / "groupsync-emulator"


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [str(EMULATOR), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", first_line)
    if match is None:
        process.kill()
        pytest.fail(f"the emulator did not start: {first_line}{process.stdout.read()}")
    return process, match.group(1)


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_demo_mode_serves_hooks_and_keeps_state_in_the_state_file(
    tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    state_file = tmp_path / "demo.sqlite3"
    process, url = _start("--mode", "demo", "--state-file", str(state_file), "--token-lifetime", "120")
    stop.append(process)
    driver = OAuthDriver(url, HooksClient(url))
    driver.hooks.register_client(CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1:9/oauth/callback"])
    tokens = driver.tokens()
    assert tokens["expires_in"] == 120
    process.terminate()
    process.wait(timeout=10)

    restarted, url = _start("--mode", "demo", "--state-file", str(state_file))
    stop.append(restarted)
    refreshed = OAuthDriver(url, HooksClient(url)).token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text


def test_standalone_mode_registers_the_client_from_the_environment_and_has_no_hooks(
    stop: list[subprocess.Popen[str]],
) -> None:
    env = {
        "GROUPSYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
        "GROUPSYNC_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GROUPSYNC_PUBLIC_URL": "http://127.0.0.1:5000",
    }
    process, url = _start("--mode", "standalone", env=env)
    stop.append(process)
    assert requests.get(f"{url}/__emulator__/identities", timeout=TIMEOUT).status_code == 404
    page = requests.get(
        f"{url}/o/oauth2/v2/auth",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:5000/google/callback",
            "response_type": "code",
            "scope": "openid email",
            "login_hint": ADA,
        },
        timeout=TIMEOUT,
    )
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text


def test_access_log_leaves_query_strings_out(stop: list[subprocess.Popen[str]]) -> None:
    process, url = _start("--mode", "standalone")
    stop.append(process)
    canary = "ya29.canary-token-in-a-query-string"
    assert requests.post(f"{url}/revoke", params={"token": canary}, timeout=TIMEOUT).status_code == 400
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert '"POST /revoke" 400' in output
    assert canary not in output


def test_client_id_without_secret_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        emulator_command, ["--client-id", "x"], env={"GROUPSYNC_GOOGLE_CLIENT_SECRET": ""}
    )
    assert result.exit_code == 2
    assert "--client-id and --client-secret go together" in result.output


def test_the_emulator_and_the_demo_are_not_groupsync_commands() -> None:
    """They ship in their own distribution; the product's CLI knows neither."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Commands:" in result.output
    assert not {"emulator", "demo"} & set(main.commands)
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert not {"emulator", "demo"} & listed
