"""The production wheel of the root project: built offline from a copy of the repository, it holds
GroupSync and nothing of the local Google emulator, its test hooks or the demo (those ship in the
separate ``groupsync-emulator`` distribution under emulator/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "instance", "test-artifacts", ".*_cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    # A copy, so the build's own build/ and egg-info never land in the working tree.
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    out = work / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("groupsync-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_product_and_no_emulator_or_demo(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "app/__init__.py" in names
    assert any(n.startswith("app/templates/") for n in names)
    leaked = [
        name
        for name in names
        if name.startswith(("groupsync_emulator/", "emulator/", "app/emulator/", "tests/"))
        or name in {"app/demo.py", "app/crm/demo_data.py"}
        or "/__emulator__" in name
    ]
    assert leaked == []
    sources = [name for name in names if name.endswith((".py", ".html"))]
    hooks = [name for name in sources if b"__emulator__" in wheel.read(name)]
    assert hooks == [], "test hooks of the emulator are referenced from the product"


def _commands(env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "groupsync"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listing = result.stdout.split("Commands:")[1]
    return {line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line.strip()}


def test_the_wheel_installs_one_command_and_it_has_no_demo_or_emulator(
    wheel: zipfile.ZipFile, tmp_path: Path
) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    section = wheel.read(entry_points).decode().split("[console_scripts]")[1].split("[")[0]
    assert [line.split("=")[0].strip() for line in section.splitlines() if "=" in line] == ["groupsync"]

    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    # Neither before any configuration exists (where the old standalone commands hung)...
    unconfigured = _commands(base)
    assert not {"demo", "emulator"} & unconfigured
    # ...nor with a configured app, whose own groups are then listed.
    configured = _commands(
        {
            **base,
            "GROUPSYNC_ENV": "test",
            "GROUPSYNC_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'help.db'}",
        }
    )
    assert {"worker", "ledger", "crm"} <= configured
    assert not {"demo", "emulator"} & configured


def test_the_image_copies_only_the_product() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    sources = {part for parts in copied for part in parts if not part.startswith("--")}
    assert "app" in sources
    assert not {"emulator", "emulator/", "groupsync_emulator", "."} & sources
