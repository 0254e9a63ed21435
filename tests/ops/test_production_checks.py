"""Production mode refuses each unsafe setting by name, and accepts a safe set."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings

SAFE = {
    "GROUPSYNC_ENV": "production",
    "GROUPSYNC_SECRET_KEY": "s" * 48,
    "GROUPSYNC_TOKEN_KEYS": "k1:" + "A" * 43 + "=",
    "GROUPSYNC_GOOGLE_CLIENT_ID": "1234.apps.googleusercontent.com",
    "GROUPSYNC_GOOGLE_CLIENT_SECRET": "client-secret-value",
    "GROUPSYNC_PUBLIC_URL": "https://groupsync.example.com",
    "DATABASE_URL": "postgresql://groupsync@db/groupsync",
    "WEB_CONCURRENCY": "4",
    "GROUPSYNC_OPERATOR_NAME": "Acme CRM LLC",
    "GROUPSYNC_OPERATOR_ADDRESS": "5 Khreshchatyk St, Kyiv 01001, Ukraine",
    "GROUPSYNC_SUPPORT_EMAIL": "support@acme.example",
    "GROUPSYNC_PRIVACY_EMAIL": "dpo@acme.example",
    "GROUPSYNC_MAIL_FROM": "GroupSync <groupsync@acme.example>",
    "GROUPSYNC_MAIL_TRANSPORT": "smtp://smtp.acme.example:587",
}


def problems(tmp_path: Path, **changes: str | None) -> list[str]:
    env = {k: v for k, v in {**SAFE, **changes}.items() if v is not None}
    try:
        Settings.from_env(env, instance_path=tmp_path)
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_safe_production_configuration_starts(tmp_path: Path) -> None:
    assert problems(tmp_path) == []


def test_no_secret_key_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, GROUPSYNC_SECRET_KEY=None) == ["GROUPSYNC_SECRET_KEY is required (not set)"]


def test_no_token_encryption_key_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, GROUPSYNC_TOKEN_KEYS=None)
    assert problem.startswith("GROUPSYNC_TOKEN_KEYS (or GROUPSYNC_TOKEN_KEYS_FILE) is required")


def test_an_http_public_url_is_refused_because_redirect_uris_come_from_it(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, GROUPSYNC_PUBLIC_URL="http://groupsync.example.com")
    assert problem.startswith("GROUPSYNC_PUBLIC_URL must be https:// in production")
    assert "redirect URIs" in problem


def test_the_emulator_host_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, GOOGLE_EMULATOR_HOST="127.0.0.1:8765")
    assert problem.startswith("GOOGLE_EMULATOR_HOST must not be set in production")


def test_flask_debug_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, FLASK_DEBUG="1")
    assert problem.startswith("FLASK_DEBUG must be off in production")
    assert problems(tmp_path, FLASK_DEBUG="0") == []


def test_sqlite_with_more_than_one_web_process_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert problem.startswith("WEB_CONCURRENCY is 4 but DATABASE_URL is SQLite")
    assert problems(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", WEB_CONCURRENCY="1") == []


def test_every_refusal_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        GROUPSYNC_SECRET_KEY=None,
        GROUPSYNC_PUBLIC_URL="http://x.example.com",
        GOOGLE_EMULATOR_HOST="127.0.0.1:1",
        FLASK_DEBUG="true",
    )
    assert len(found) == 4, found


@pytest.mark.parametrize("mode", ["test", "demo", "development"])
def test_other_modes_allow_what_production_refuses(tmp_path: Path, mode: str) -> None:
    assert (
        problems(
            tmp_path,
            GROUPSYNC_ENV=mode,
            GROUPSYNC_PUBLIC_URL="http://127.0.0.1:5000",
            GOOGLE_EMULATOR_HOST="127.0.0.1:8765",
            FLASK_DEBUG="1",
        )
        == []
    )


def test_production_refuses_to_start_without_the_operator_contacts_naming_each(tmp_path: Path) -> None:
    missing = dict.fromkeys(
        (
            "GROUPSYNC_OPERATOR_NAME",
            "GROUPSYNC_OPERATOR_ADDRESS",
            "GROUPSYNC_SUPPORT_EMAIL",
            "GROUPSYNC_PRIVACY_EMAIL",
        )
    )
    assert problems(tmp_path, **missing) == [f"{name} is required (not set)" for name in missing]


def test_operator_addresses_must_be_email_addresses(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, GROUPSYNC_PRIVACY_EMAIL="call us")
    assert problem == "GROUPSYNC_PRIVACY_EMAIL must be an e-mail address (got 'call us')"


def test_production_sends_mail_by_smtp_only_and_needs_its_sender(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, GROUPSYNC_MAIL_TRANSPORT=None)
    assert problem.startswith("GROUPSYNC_MAIL_TRANSPORT=console is for demo and test")
    (problem,) = problems(tmp_path, GROUPSYNC_MAIL_TRANSPORT="file:/srv/mail")
    assert problem.startswith("GROUPSYNC_MAIL_TRANSPORT=file:/srv/mail is for demo and test")
    (problem,) = problems(tmp_path, GROUPSYNC_MAIL_FROM="nobody")
    assert problem == "GROUPSYNC_MAIL_FROM must hold an e-mail address (got 'nobody')"
    (problem,) = problems(tmp_path, GROUPSYNC_MAIL_FROM=None)
    assert problem == "GROUPSYNC_MAIL_FROM is required (not set)"
