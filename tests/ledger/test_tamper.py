"""The tamper suite: every way of rewriting an evidence pack is caught, by GroupSync's verifier
and by the single-file ``verify.py`` the pack carries, run in a virtualenv holding nothing but
``cryptography`` (and with no ``cryptography`` at all, through the ``openssl`` command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from flask import Flask

from app.ledger.standalone_verify import PackError, Trust, Verdict, trust_from_args, verify_pack
from app.ledger.verify import verify_pack as project_verify_pack
from tests.ledger import packs

VENV_TIMEOUT = 300


def _venv(root: Path, *packages: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=VENV_TIMEOUT)
    python = root / "bin" / "python"
    if packages:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
            check=True,
            timeout=VENV_TIMEOUT,
        )
    return python


@pytest.fixture(scope="session")
def stranger_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only ``cryptography``: a reviewer's machine without GroupSync."""
    return _venv(tmp_path_factory.mktemp("stranger") / "venv", "cryptography")


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the standard library only: signatures go through ``openssl``."""
    return _venv(tmp_path_factory.mktemp("bare") / "venv")


def _standalone(python: Path, pack: Path, *args: str) -> tuple[int, dict[str, object]]:
    """Run the pack's own verify.py, extracted next to it, from an empty directory."""
    script = pack.with_suffix(".verify.py")
    with zipfile.ZipFile(pack) as archive:
        script.write_bytes(archive.read("verify.py"))
    workdir = pack.parent / f"{pack.stem}-cwd"
    workdir.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(python), "-I", str(script), str(pack), "--json", *args],
        cwd=workdir,
        env={"PATH": os.environ["PATH"], "HOME": str(workdir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert not list(workdir.iterdir()), "verify.py wrote files"
    report = json.loads(done.stdout) if done.stdout else {"verdict": "failed", "error": done.stderr}
    return done.returncode, report


@pytest.fixture
def genuine(app: Flask, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Account 1's signed pack, account 2's, and the published key."""
    packs.populate()
    mine = packs.build(app, tmp_path, 1, "mine.zip")
    other = packs.build(app, tmp_path, 2, "other.zip")
    return mine, other, packs.published_key(app, tmp_path)


def _tampered(tamper: packs.Tamper, mine: Path, other: Path) -> Path:
    files = packs.read(mine)
    if tamper.needs_other:
        tamper.change(files, packs.read(other))
    else:
        tamper.change(files)
    return packs.write(files, mine.with_name(f"tampered-{tamper.change.__name__}.zip"))


def test_a_genuine_pack_is_verified_only_with_the_published_key(genuine: tuple[Path, Path, Path]) -> None:
    mine, _, key = genuine
    pinned = trust_from_args([key], [])
    report = verify_pack(mine, pinned)
    assert report.verdict is Verdict.VERIFIED, report.lines()
    assert {r.chain: r.redacted for r in report.chains} == {"account:1": 0, "installation": 1}
    assert verify_pack(mine, Trust(key_ids=(pinned.keys[0].key_id,))).verdict is Verdict.VERIFIED
    unpinned = verify_pack(mine)
    assert unpinned.verdict is Verdict.INTEGRITY_ONLY
    assert unpinned.exit_code() == 2
    assert unpinned.exit_code(accept_integrity_only=True) == 0


def test_the_issue_forgery_no_longer_verifies(genuine: tuple[Path, Path, Path]) -> None:
    """Remove a batchDeleteContacts pair, re-chain, rebuild the manifest, drop signature and checkpoints."""
    mine, other, key = genuine
    forged = _tampered(packs.TAMPERS[9], mine, other)
    assert packs.TAMPERS[9].change is packs.forge_request_pair_removal
    unpinned = verify_pack(forged)
    assert unpinned.verdict is Verdict.INTEGRITY_ONLY
    assert unpinned.exit_code() != 0
    pinned = verify_pack(forged, trust_from_args([key], []))
    assert pinned.verdict is Verdict.FAILED
    assert "pack: manifest is not signed by a trusted key" in [str(p) for p in pinned.problems]


@pytest.mark.parametrize("tamper", packs.TAMPERS, ids=[t.name for t in packs.TAMPERS])
def test_every_tampering_is_caught(genuine: tuple[Path, Path, Path], tamper: packs.Tamper) -> None:
    mine, other, key = genuine
    tampered = _tampered(tamper, mine, other)
    pinned = project_verify_pack(tampered, trust_from_args([key], []))
    assert pinned.verdict is Verdict.FAILED, pinned.lines()
    assert pinned.exit_code(accept_integrity_only=True) == 1
    assert project_verify_pack(tampered).verdict is tamper.unpinned


def test_the_shipped_verifier_agrees_on_the_whole_suite(
    genuine: tuple[Path, Path, Path], stranger_python: Path
) -> None:
    mine, other, key = genuine
    cases = [mine, *(_tampered(t, mine, other) for t in packs.TAMPERS)]
    for pack in cases:
        for args, trust in (((), Trust()), (("--public-key", str(key)), trust_from_args([key], []))):
            code, report = _standalone(stranger_python, pack, *args)
            ours = project_verify_pack(pack, trust)
            assert (code, report["verdict"]) == (ours.exit_code(), ours.verdict.value), (pack.name, report)
            assert report["problems"] == [str(p) for p in ours.problems], pack.name


def test_the_shipped_verifier_imports_nothing_from_groupsync(
    genuine: tuple[Path, Path, Path], stranger_python: Path
) -> None:
    mine, _, key = genuine
    with zipfile.ZipFile(mine) as archive:
        source = archive.read("verify.py").decode()
    assert "import app" not in source
    assert "from app" not in source
    probe = subprocess.run(
        [str(stranger_python), "-c", "import flask"], capture_output=True, check=False, timeout=60
    )
    assert probe.returncode != 0, "the stranger's virtualenv must not hold GroupSync's dependencies"
    assert _standalone(stranger_python, mine, "--public-key", str(key))[0] == 0


def test_without_cryptography_the_openssl_command_checks_signatures(
    genuine: tuple[Path, Path, Path], bare_python: Path
) -> None:
    mine, other, key = genuine
    code, report = _standalone(bare_python, mine, "--public-key", str(key))
    assert (code, report["verdict"]) == (0, "verified"), report
    resigned = _tampered(packs.TAMPERS[10], mine, other)
    assert _standalone(bare_python, resigned, "--public-key", str(key))[0] == 1
    broken = packs.read(mine)
    packs.edit_checkpoint(broken)
    code, report = _standalone(bare_python, packs.write(broken, mine.with_name("bad-cp.zip")))
    assert code == 1
    assert any("checkpoint signature is invalid" in p for p in report["problems"])  # type: ignore[union-attr]


def _groupsync_without_configuration(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``groupsync`` run from an empty directory with an empty environment (no GROUPSYNC_* at all)."""
    command = Path(sys.executable).with_name("groupsync")
    return subprocess.run(
        [str(command), *args],
        cwd=workdir,
        env={"PATH": os.environ["PATH"], "HOME": str(workdir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_groupsync_verifies_a_pack_with_no_configuration_and_writes_nothing(
    genuine: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    mine, other, key = genuine
    workdir = tmp_path / "empty"
    workdir.mkdir()
    done = _groupsync_without_configuration(workdir, "ledger", "verify", "--pack", str(mine))
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("INTEGRITY ONLY: evidence pack mine.zip")
    assert "Traceback" not in done.stderr
    done = _groupsync_without_configuration(
        workdir, "ledger", "verify", "--pack", str(mine), "--public-key", str(key)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VERIFIED: evidence pack mine.zip")
    forged = _tampered(packs.TAMPERS[9], mine, other)
    done = _groupsync_without_configuration(
        workdir, "ledger", "verify", "--pack", str(forged), "--public-key", str(key)
    )
    assert done.returncode == 1
    assert "PROBLEM pack: manifest is not signed by a trusted key" in done.stdout
    done = _groupsync_without_configuration(workdir, "ledger", "verify")
    assert done.returncode == 1
    assert "invalid configuration" in done.stderr
    assert "Traceback" not in done.stderr, "the database needs configuration: say which, plainly"
    assert list(workdir.iterdir()) == [], "verifying a pack must write nothing"


def test_malformed_fields_are_a_clear_failure_not_a_crash(
    genuine: tuple[Path, Path, Path], stranger_python: Path
) -> None:
    mine, _, key = genuine
    files = packs.read(mine)
    rows = packs.lines(files)
    request = next(i for i, r in enumerate(rows) if r.get("tag") == "google.request")
    del rows[request]["detail"]
    packs.set_lines(files, rows)
    packs.refresh_manifest(files)
    broken = packs.write(files, mine.with_name("malformed.zip"))
    with pytest.raises(PackError, match=r"malformed\.zip is malformed"):
        verify_pack(broken)
    code, report = _standalone(stranger_python, broken, "--public-key", str(key))
    assert code == 1
    assert "is malformed" in str(report["error"])
