from pathlib import Path

import pytest

from app.config import ConfigError, Mode, Settings


def test_production_requires_every_secret_and_names_each() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"GROUPSYNC_ENV": "production"}, instance_path=Path("/tmp/x"))
    text = str(info.value)
    for name in (
        "GROUPSYNC_SECRET_KEY",
        "GROUPSYNC_GOOGLE_CLIENT_ID",
        "GROUPSYNC_GOOGLE_CLIENT_SECRET",
        "GROUPSYNC_TOKEN_KEYS",
        "GROUPSYNC_OPERATOR_NAME",
        "GROUPSYNC_OPERATOR_ADDRESS",
        "GROUPSYNC_SUPPORT_EMAIL",
        "GROUPSYNC_PRIVACY_EMAIL",
        "GROUPSYNC_MAIL_FROM",
        "GROUPSYNC_MAIL_TRANSPORT",
    ):
        assert name in text


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_demo_and_test_get_a_demo_operator_and_console_mail(mode: str, tmp_path: Path) -> None:
    from app.config import DEMO_OPERATOR

    settings = Settings.from_env({"GROUPSYNC_ENV": mode}, instance_path=tmp_path)
    assert settings.operator == DEMO_OPERATOR
    assert "not a real company" in settings.operator.legal_name
    assert settings.mail_transport == "console"
    assert settings.mail_from == "GroupSync <no-reply@localhost>"


def test_operator_settings_are_read(tmp_path: Path) -> None:
    env = {
        "GROUPSYNC_ENV": "demo",
        "GROUPSYNC_OPERATOR_NAME": "Acme CRM LLC",
        "GROUPSYNC_OPERATOR_ADDRESS": "5 Khreshchatyk St, Kyiv",
        "GROUPSYNC_SUPPORT_EMAIL": "help@acme.example",
        "GROUPSYNC_PRIVACY_EMAIL": "dpo@acme.example",
        "GROUPSYNC_OPERATOR_LOGO_URL": "https://acme.example/logo.png",
        "GROUPSYNC_MAIL_TRANSPORT": "smtp://mail.acme.example:587",
        "GROUPSYNC_MAIL_SMTP_USERNAME": "groupsync",
        "GROUPSYNC_MAIL_SMTP_PASSWORD": "relay-password",
    }
    settings = Settings.from_env(env, instance_path=tmp_path)
    assert settings.operator.legal_name == "Acme CRM LLC"
    assert settings.operator.address == "5 Khreshchatyk St, Kyiv"
    assert settings.operator.support_email == "help@acme.example"
    assert settings.operator.privacy_email == "dpo@acme.example"
    assert settings.operator.logo_url == "https://acme.example/logo.png"
    assert settings.mail_transport == "smtp://mail.acme.example:587"
    assert (settings.mail_smtp_username, settings.mail_smtp_password) == ("groupsync", "relay-password")
    assert "relay-password" not in repr(settings)
    with pytest.raises(ConfigError, match="GROUPSYNC_OPERATOR_LOGO_URL must be an absolute http"):
        Settings.from_env({**env, "GROUPSYNC_OPERATOR_LOGO_URL": "logo.png"}, instance_path=tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be an sqlite"),
        ("GROUPSYNC_SYNC_INTERVAL_SECONDS", "soon", "must be a whole number"),
        ("GROUPSYNC_SYNC_INTERVAL_SECONDS", "1", "must be at least 10"),
        ("GROUPSYNC_PUBLIC_URL", "ftp://x", "absolute http(s) URL"),
        ("GOOGLE_EMULATOR_HOST", "no-port", "host:port"),
        ("GROUPSYNC_LOG_JSON", "maybe", "true or false"),
        ("GROUPSYNC_ENV", "staging", "GROUPSYNC_ENV must be one of"),
        ("GROUPSYNC_TOKEN_KEYS", "not a key", "keyid:base64key"),
        ("GROUPSYNC_MASS_DELETE_SHARE", "2", "between 0.0 and 1.0"),
        ("GROUPSYNC_RETENTION_DONE_JOB_DAYS", "a week", "must be a whole number"),
        ("GROUPSYNC_RETENTION_DONE_JOB_DAYS", "0", "must be at least 1"),
        ("GROUPSYNC_RETENTION_FAILED_JOB_DAYS", "3", "must be at least 7"),
        ("GROUPSYNC_WORKER_METRICS_PORT", "70000", "port number from 1 to 65535"),
        ("GROUPSYNC_WORKER_METRICS_PORT", "http", "port number from 1 to 65535"),
        ("GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE", "many", "must be a whole number"),
        ("GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE", "0", "must be at least 1"),
        ("GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE", "6001", "must be at most 6000"),
        ("GROUPSYNC_INACTIVE_FREEZE_DAYS", "a year", "must be a whole number"),
        ("GROUPSYNC_INACTIVE_FREEZE_DAYS", "7", "must be at least 14"),
        ("GROUPSYNC_INACTIVE_UNFREEZE_DAYS", "1", "must be at least 7"),
        ("GROUPSYNC_INACTIVE_COPY_DAYS", "0", "must be at least 1"),
        ("GROUPSYNC_INACTIVE_WARN_DAYS", "400", "must be fewer than GROUPSYNC_INACTIVE_FREEZE_DAYS"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str, fragment: str) -> None:
    env = {"GROUPSYNC_ENV": "test", name: value}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert any(name in p and fragment in p for p in info.value.problems), info.value.problems


def test_test_mode_invents_throwaway_secrets_and_defaults_to_sqlite(tmp_path: Path) -> None:
    settings = Settings.from_env({"GROUPSYNC_ENV": "test", "GROUPSYNC_INSTANCE_PATH": str(tmp_path)})
    assert settings.mode is Mode.TEST
    assert len(settings.secret_key) >= 32
    assert settings.database_url == f"sqlite:///{tmp_path / 'groupsync.sqlite3'}"
    assert not settings.session_cookie_secure


def test_postgres_urls_select_psycopg3() -> None:
    settings = Settings.from_env({"GROUPSYNC_ENV": "test", "DATABASE_URL": "postgres://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_job_retention_defaults_and_values_are_read() -> None:
    defaults = Settings.from_env({"GROUPSYNC_ENV": "test"})
    assert (defaults.retention_done_job_days, defaults.retention_failed_job_days) == (7, 30)
    chosen = Settings.from_env(
        {
            "GROUPSYNC_ENV": "test",
            "GROUPSYNC_RETENTION_DONE_JOB_DAYS": "2",
            "GROUPSYNC_RETENTION_FAILED_JOB_DAYS": " 90 ",
        }
    )
    assert (chosen.retention_done_job_days, chosen.retention_failed_job_days) == (2, 90)


def test_domain_first_runs_per_minute_defaults_to_20_and_is_read() -> None:
    assert Settings.from_env({"GROUPSYNC_ENV": "test"}).domain_first_runs_per_minute == 20
    chosen = Settings.from_env({"GROUPSYNC_ENV": "test", "GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE": "5"})
    assert chosen.domain_first_runs_per_minute == 5


def test_worker_metrics_need_the_token_and_a_multiprocess_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"GROUPSYNC_ENV": "test", "GROUPSYNC_WORKER_METRICS_PORT": "9102"})
    assert [p.split(":")[0] for p in info.value.problems] == [
        "GROUPSYNC_WORKER_METRICS_PORT needs GROUPSYNC_METRICS_TOKEN",
        "GROUPSYNC_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR (an empty directory)",
    ]
    settings = Settings.from_env(
        {
            "GROUPSYNC_ENV": "test",
            "GROUPSYNC_WORKER_METRICS_PORT": "9102",
            "GROUPSYNC_METRICS_TOKEN": "metrics-token-0123456789",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        }
    )
    assert settings.worker_metrics_port == 9102
    assert Settings.from_env({"GROUPSYNC_ENV": "test"}).worker_metrics_port is None
