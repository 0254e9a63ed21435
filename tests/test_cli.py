"""``groupsync`` on a machine where nothing is configured: help answers, commands name what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GROUPSYNC = Path(sys.executable).parent / "groupsync"
GROUPS = ["keys", "ledger", "crm", "accounts", "connections", "worker", "db", "routes", "run", "shell"]


def _bare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``groupsync`` from an empty directory with an empty environment, as a fresh install would."""
    return subprocess.run(
        [str(GROUPSYNC), *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_top_level_help_lists_every_group_without_configuration(tmp_path: Path) -> None:
    result = _bare(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert set(GROUPS) <= listed


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_help_answers_without_configuration(tmp_path: Path, group: str) -> None:
    result = _bare(tmp_path, group, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: groupsync {group} ")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [["keys", "rotate", "--help"], ["ledger", "verify", "--help"], ["db", "upgrade", "--help"]]
)
def test_a_command_help_inside_a_group_needs_no_configuration(tmp_path: Path, command: list[str]) -> None:
    result = _bare(tmp_path, *command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: groupsync {' '.join(command[:-1])} ")


@pytest.mark.parametrize("command", [["keys", "rotate"], ["ledger", "verify"], ["routes"], ["db", "current"]])
def test_an_unconfigured_run_names_each_missing_setting(tmp_path: Path, command: list[str]) -> None:
    result = _bare(tmp_path, *command)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("Error: invalid configuration:")
    for variable in ("GROUPSYNC_SECRET_KEY", "GROUPSYNC_GOOGLE_CLIENT_ID", "GROUPSYNC_TOKEN_KEYS"):
        assert variable in result.stderr


def test_an_unknown_command_is_named_without_building_the_app(tmp_path: Path) -> None:
    result = _bare(tmp_path, "no-such-command")
    assert result.returncode == 2
    assert "No such command 'no-such-command'" in result.stderr
    assert "invalid configuration" not in result.stderr
