"""The one place GroupSync reads its configuration.

Every setting comes from the environment (``GROUPSYNC_*``, ``DATABASE_URL`` and
``GOOGLE_EMULATOR_HOST``). :meth:`Settings.from_env` validates all of them at once and
raises :class:`ConfigError` naming each bad or missing variable, so a misconfigured
deployment fails at start instead of on the first request that needs the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from app.config_values import EnvReader


class Mode(StrEnum):
    """How the installation runs; only ``production`` enforces every safety check."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"
    DEMO = "demo"
    TEST = "test"

    @property
    def relaxed(self) -> bool:
        """Demo and test mode may invent throw-away secrets and use plain HTTP."""
        return self is not Mode.PRODUCTION


class ConfigError(Exception):
    """One or more settings are missing or malformed; ``problems`` names each variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Operator:
    """The installation's operator: the legal entity users and Google can reach."""

    legal_name: str
    address: str
    support_email: str
    privacy_email: str
    """The data-protection contact."""
    logo_url: str | None = None


DEMO_OPERATOR = Operator(
    legal_name="GroupSync Demo Operator (not a real company)",
    address="1 Example Street, Kyiv, Ukraine",
    support_email="support@groupsync.example",
    privacy_email="privacy@groupsync.example",
)
"""What demo and test installations show; production must name its own operator."""


@dataclass(frozen=True)
class Settings:
    mode: Mode
    secret_key: str
    database_url: str
    public_url: str
    google_client_id: str
    google_client_secret: str
    google_emulator_host: str | None
    token_keys: str
    """Keyring spec ``kid:base64key[,kid:base64key...]``; the first key is primary."""
    ledger_signing_key_file: Path | None
    instance_path: Path
    log_level: str = "INFO"
    log_json: bool = True
    session_cookie_secure: bool = True
    receipt_signing_key_file: Path | None = None
    """Ed25519 key signing deletion receipts; separate from the ledger key, which the web process must
    not read (``GROUPSYNC_RECEIPT_SIGNING_KEY_FILE``; demo and test generate one)."""
    sync_interval_seconds: int = 900
    sync_repair_interval_seconds: int = 14_400
    """How often a run reads every contact of the group to find and undo edits made in Google."""
    sync_change_delay_seconds: int = 30
    celery_broker_url: str | None = None
    celery_visibility_timeout_seconds: int = 3600
    http_timeout_seconds: float = 30.0
    google_critical_reads_per_minute: int = 60
    """People API quota units per Google account per minute, per bucket (see app/google/limits.py)."""
    google_critical_writes_per_minute: int = 60
    google_reads_per_minute: int = 60
    google_writes_per_minute: int = 60
    mass_delete_share: float = 0.2
    mass_delete_minimum: int = 50
    retention_connection_days: int = 180
    retention_ledger_days: int = 400
    retention_done_job_days: int = 7
    """Days the record of a background job that finished is kept."""
    retention_failed_job_days: int = 30
    """Days a failed background job stays on the admin's failed-jobs page before its record is deleted."""
    privacy_policy_dir: Path | None = None
    """The operator's privacy policy versions (``v1.md``, ``v2.md``...); ``None`` serves the shipped text."""
    vault_key_provider: str = "KEYRING"
    """``KEYRING`` encrypts with the token keys directly; ``ENVELOPE`` wraps a fresh data key with them."""
    proxy_hops: int = 0
    """Reverse proxies in front of the web app whose X-Forwarded-* headers are trusted (ProxyFix)."""
    web_concurrency: int = 1
    """Web worker processes (gunicorn reads the same variable); SQLite allows only one."""
    metrics_token: str | None = None
    """Bearer token that ``/metrics`` requires; unset, ``/metrics`` is not served."""
    worker_metrics_port: int | None = None
    """Port on which each Celery worker serves its own ``/metrics`` (same token); unset, none."""
    worker_max_attempts: int = 3
    """Deliveries of one Celery job before it is marked failed and not run again."""
    sync_lease_seconds: int = 600
    """How long a sync run holds its Google account without renewing; a dead run blocks it this long."""
    domain_service_account: str | None = None
    """The installation's service account (what a Marketplace domain install authorizes); unset, none."""
    domain_service_account_key_file: Path | None = None
    """Its JSON key file (from a secret store); unset, GroupSync signs keyless through IAM signJwt."""
    domain_first_runs_per_minute: int = 20
    """First syncs of domain users that may start in any 60 seconds, across the installation: an
    admin giving a list to hundreds of users at once gets their first runs spread, not all at once."""
    mail_transport: str = "console"
    """``console`` (the log), ``file:<dir>`` (one .eml file per message) or ``smtp://host:port``."""
    mail_from: str = "GroupSync <no-reply@localhost>"
    mail_smtp_username: str | None = None
    """Login at the ``smtp://`` relay; unset, GroupSync does not log in."""
    mail_smtp_password: str | None = field(default=None, repr=False)
    mail_smtp_starttls: bool = True
    """Upgrade the ``smtp://`` connection with STARTTLS before sending (and before any login)."""
    support_url: str | None = None
    """Where users get help; the Marketplace listing shows it."""
    terms_url: str | None = None
    """The operator's terms of service; the Marketplace listing shows it."""
    api_requests_per_minute_per_key: int = 600
    """Requests to /api/v1 one API key may make per minute (429 beyond)."""
    api_requests_per_minute_per_address: int = 1200
    """Requests to /api/v1 one client address may make per minute, whatever the key."""
    api_refused_keys_per_minute: int = 20
    """Answers 401 (unknown, revoked or missing key) one client address may get per minute."""
    data_requests_per_hour_per_address: int = 10
    """Data-subject requests one client address may send per hour on the public request pages."""
    rate_limit_storage_url: str = "memory://"
    """Where the API's rate-limit counters live: ``memory://`` (one process) or a Redis URL (shared)."""
    operator: Operator = field(default_factory=lambda: DEMO_OPERATOR)
    """Who runs this installation and how to reach them (home page, policy, disclosure, e-mails)."""
    policy_notice_days: int = 30
    """Days before a new policy version's effective date that users are told about it."""
    inactive_freeze_days: int = 365
    """Days without a sign-in or API call after which an account is frozen (docs/lifecycle.md)."""
    inactive_warn_days: int = 7
    """How many days before freezing the account's admins are warned (e-mail and banner)."""
    inactive_unfreeze_days: int = 30
    """Days a frozen account can be unfrozen by an admin before it is deleted with its data."""
    inactive_copy_days: int = 180
    """Days the sealed copy of an account deleted for inactivity is kept for restoring, then destroyed."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Plain Flask settings passed through verbatim (tests use this)."""

    @property
    def uses_emulator(self) -> bool:
        return self.google_emulator_host is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, instance_path: Path | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        reader = EnvReader(env)
        mode = reader.choice("GROUPSYNC_ENV", Mode, Mode.PRODUCTION)
        relaxed = mode.relaxed if mode is not None else False
        instance = Path(env.get("GROUPSYNC_INSTANCE_PATH") or instance_path or Path.cwd() / "instance")

        secret_key = reader.secret("GROUPSYNC_SECRET_KEY", relaxed, min_length=32)
        default_db = f"sqlite:///{instance / 'groupsync.sqlite3'}"
        database_url = reader.database_url("DATABASE_URL", default_db)
        emulator = reader.host_port("GOOGLE_EMULATOR_HOST")
        public_url = reader.url("GROUPSYNC_PUBLIC_URL", "http://127.0.0.1:5000")
        client_id = reader.text(
            "GROUPSYNC_GOOGLE_CLIENT_ID",
            "groupsync-demo.apps.googleusercontent.com" if relaxed or emulator else None,
        )
        client_secret = reader.secret(
            "GROUPSYNC_GOOGLE_CLIENT_SECRET", relaxed or emulator is not None, min_length=8
        )
        # Only demo and test installs may run on a generated token key (kept in the instance folder).
        token_keys = reader.keyring("GROUPSYNC_TOKEN_KEYS", mode in (Mode.DEMO, Mode.TEST))
        signing_key = env.get("GROUPSYNC_LEDGER_SIGNING_KEY_FILE")
        receipt_key = env.get("GROUPSYNC_RECEIPT_SIGNING_KEY_FILE")
        settings = cls(
            mode=mode or Mode.PRODUCTION,
            secret_key=secret_key,
            database_url=database_url,
            public_url=public_url,
            google_client_id=client_id,
            google_client_secret=client_secret,
            google_emulator_host=emulator,
            token_keys=token_keys,
            ledger_signing_key_file=Path(signing_key) if signing_key else None,
            receipt_signing_key_file=Path(receipt_key) if receipt_key else None,
            instance_path=instance,
            log_level=reader.choice_str("GROUPSYNC_LOG_LEVEL", {"DEBUG", "INFO", "WARNING", "ERROR"}, "INFO"),
            log_json=reader.boolean("GROUPSYNC_LOG_JSON", default=not relaxed),
            session_cookie_secure=reader.boolean("GROUPSYNC_SECURE_COOKIES", default=not relaxed),
            sync_interval_seconds=reader.integer("GROUPSYNC_SYNC_INTERVAL_SECONDS", 900, minimum=10),
            sync_repair_interval_seconds=reader.integer(
                "GROUPSYNC_SYNC_REPAIR_INTERVAL_SECONDS", 14_400, minimum=60
            ),
            sync_change_delay_seconds=reader.integer("GROUPSYNC_SYNC_CHANGE_DELAY_SECONDS", 30, minimum=0),
            celery_broker_url=env.get("GROUPSYNC_CELERY_BROKER_URL") or None,
            celery_visibility_timeout_seconds=reader.integer(
                "GROUPSYNC_CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=60
            ),
            http_timeout_seconds=reader.number("GROUPSYNC_HTTP_TIMEOUT_SECONDS", 30.0, minimum=0.1),
            # The minimums are the largest single request's cost in each bucket (app/google/limits.py):
            # a batch create or update takes 6 critical reads and 6 critical writes, a batch delete 10 writes.
            google_critical_reads_per_minute=reader.integer(
                "GROUPSYNC_GOOGLE_CRITICAL_READS_PER_MINUTE", 60, minimum=6
            ),
            google_critical_writes_per_minute=reader.integer(
                "GROUPSYNC_GOOGLE_CRITICAL_WRITES_PER_MINUTE", 60, minimum=6
            ),
            google_reads_per_minute=reader.integer("GROUPSYNC_GOOGLE_READS_PER_MINUTE", 60, minimum=1),
            google_writes_per_minute=reader.integer("GROUPSYNC_GOOGLE_WRITES_PER_MINUTE", 60, minimum=10),
            mass_delete_share=reader.number("GROUPSYNC_MASS_DELETE_SHARE", 0.2, minimum=0.0, maximum=1.0),
            mass_delete_minimum=reader.integer("GROUPSYNC_MASS_DELETE_MINIMUM", 50, minimum=0),
            retention_connection_days=reader.integer("GROUPSYNC_RETENTION_CONNECTION_DAYS", 180, minimum=1),
            retention_ledger_days=reader.integer("GROUPSYNC_RETENTION_LEDGER_DAYS", 400, minimum=1),
            retention_done_job_days=reader.integer("GROUPSYNC_RETENTION_DONE_JOB_DAYS", 7, minimum=1),
            # A week at least, so an admin who looks in weekly still sees every failure.
            retention_failed_job_days=reader.integer("GROUPSYNC_RETENTION_FAILED_JOB_DAYS", 30, minimum=7),
            privacy_policy_dir=reader.policy_directory("GROUPSYNC_PRIVACY_POLICY_DIR"),
            vault_key_provider=reader.choice_str(
                "GROUPSYNC_VAULT_KEY_PROVIDER", {"KEYRING", "ENVELOPE"}, "KEYRING"
            ),
            proxy_hops=reader.integer("GROUPSYNC_PROXY_HOPS", 0, minimum=0),
            web_concurrency=reader.integer("WEB_CONCURRENCY", 1, minimum=1),
            metrics_token=reader.optional_secret("GROUPSYNC_METRICS_TOKEN", min_length=16),
            worker_metrics_port=reader.optional_port("GROUPSYNC_WORKER_METRICS_PORT"),
            worker_max_attempts=reader.integer("GROUPSYNC_WORKER_MAX_ATTEMPTS", 3, minimum=1),
            sync_lease_seconds=reader.integer("GROUPSYNC_SYNC_LEASE_SECONDS", 600, minimum=30),
            domain_service_account=reader.service_account("GROUPSYNC_DOMAIN_SERVICE_ACCOUNT"),
            domain_service_account_key_file=reader.readable_file("GROUPSYNC_DOMAIN_SERVICE_ACCOUNT_KEY_FILE"),
            # At most one first run every 10 ms: beyond that the spreading would mean nothing.
            domain_first_runs_per_minute=reader.integer(
                "GROUPSYNC_DOMAIN_FIRST_RUNS_PER_MINUTE", 20, minimum=1, maximum=6000
            ),
            mail_transport=reader.mail_transport("GROUPSYNC_MAIL_TRANSPORT"),
            mail_from=_mail_from(reader, relaxed),
            mail_smtp_username=reader.optional_text("GROUPSYNC_MAIL_SMTP_USERNAME"),
            mail_smtp_password=reader.optional_text("GROUPSYNC_MAIL_SMTP_PASSWORD"),
            mail_smtp_starttls=reader.boolean("GROUPSYNC_MAIL_SMTP_STARTTLS", default=True),
            support_url=reader.optional_url("GROUPSYNC_SUPPORT_URL"),
            terms_url=reader.optional_url("GROUPSYNC_TERMS_URL"),
            api_requests_per_minute_per_key=reader.integer(
                "GROUPSYNC_API_REQUESTS_PER_MINUTE_PER_KEY", 600, minimum=1
            ),
            api_requests_per_minute_per_address=reader.integer(
                "GROUPSYNC_API_REQUESTS_PER_MINUTE_PER_ADDRESS", 1200, minimum=1
            ),
            api_refused_keys_per_minute=reader.integer(
                "GROUPSYNC_API_REFUSED_KEYS_PER_MINUTE", 20, minimum=1
            ),
            data_requests_per_hour_per_address=reader.integer(
                "GROUPSYNC_DATA_REQUESTS_PER_HOUR_PER_ADDRESS", 10, minimum=1
            ),
            rate_limit_storage_url=reader.limiter_storage("GROUPSYNC_RATE_LIMIT_STORAGE_URL"),
        )
        settings = replace(
            settings,
            operator=_operator(reader, relaxed),
            policy_notice_days=reader.integer("GROUPSYNC_POLICY_NOTICE_DAYS", 30, minimum=1),
            # A year: syncs run unattended for months, so only a long silence means nobody uses it.
            inactive_freeze_days=reader.integer("GROUPSYNC_INACTIVE_FREEZE_DAYS", 365, minimum=14),
            inactive_warn_days=reader.integer("GROUPSYNC_INACTIVE_WARN_DAYS", 7, minimum=1),
            inactive_unfreeze_days=reader.integer("GROUPSYNC_INACTIVE_UNFREEZE_DAYS", 30, minimum=7),
            inactive_copy_days=reader.integer("GROUPSYNC_INACTIVE_COPY_DAYS", 180, minimum=1),
        )
        reader.problems.extend(_inactivity_problems(settings))
        reader.problems.extend(_worker_metrics_problems(settings, env))
        reader.problems.extend(_replaced_settings_problems(env))
        if mode is Mode.PRODUCTION:
            reader.problems.extend(_production_problems(settings, env))
        if reader.problems:
            raise ConfigError(reader.problems)
        return settings

    def flask_config(self) -> dict[str, Any]:
        """The subset Flask and its extensions read from ``app.config``."""
        # A database that does not answer fails the request (and /readyz) instead of hanging it.
        engine_options: dict[str, Any] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
        if self.is_sqlite:
            # The embedded worker thread and the web threads share one SQLite file.
            engine_options = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.session_cookie_secure,
            "SESSION_COOKIE_NAME": "groupsync_session",
            "WTF_CSRF_TIME_LIMIT": None,
            "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
            "TESTING": self.mode is Mode.TEST,
            "GROUPSYNC": self,
            **self.extra,
        }


def current_settings() -> Settings:
    """The running app's settings (needs an app context)."""
    settings: Settings = current_app.config["GROUPSYNC"]
    return settings


def _operator(reader: EnvReader, relaxed: bool) -> Operator:
    """Production must name a reachable operator; demo and test fall back to :data:`DEMO_OPERATOR`."""
    demo = DEMO_OPERATOR if relaxed else None

    operator = Operator(
        legal_name=reader.text("GROUPSYNC_OPERATOR_NAME", demo.legal_name if demo else None),
        address=reader.text("GROUPSYNC_OPERATOR_ADDRESS", demo.address if demo else None),
        support_email=reader.text("GROUPSYNC_SUPPORT_EMAIL", demo.support_email if demo else None),
        privacy_email=reader.text("GROUPSYNC_PRIVACY_EMAIL", demo.privacy_email if demo else None),
        logo_url=reader.optional_url("GROUPSYNC_OPERATOR_LOGO_URL"),
    )
    for name, value in (
        ("GROUPSYNC_SUPPORT_EMAIL", operator.support_email),
        ("GROUPSYNC_PRIVACY_EMAIL", operator.privacy_email),
    ):
        if value and not _EMAIL.fullmatch(value):
            reader.problems.append(f"{name} must be an e-mail address (got '{value}')")
    return operator


_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _mail_from(reader: EnvReader, relaxed: bool) -> str:
    """Production must name its own sender; demo and test use a placeholder address."""
    sender = reader.text("GROUPSYNC_MAIL_FROM", "GroupSync <no-reply@localhost>" if relaxed else None)
    if sender and "@" not in sender:
        reader.problems.append(f"GROUPSYNC_MAIL_FROM must hold an e-mail address (got '{sender}')")
    return sender or ""


_REPLACED_SETTINGS = {
    "GROUPSYNC_GOOGLE_REQUESTS_PER_MINUTE": "Google counts quota units, not requests: set"
    " GROUPSYNC_GOOGLE_{CRITICAL_READS,CRITICAL_WRITES,READS,WRITES}_PER_MINUTE instead",
}
"""Settings GroupSync no longer reads; one left in a deployment would silently do nothing."""


def _replaced_settings_problems(env: Mapping[str, str]) -> list[str]:
    return [f"{name} is no longer read: {why}" for name, why in _REPLACED_SETTINGS.items() if name in env]


def _inactivity_problems(settings: Settings) -> list[str]:
    """The warning must come before the freeze, with time left to act on it."""
    if settings.inactive_warn_days >= settings.inactive_freeze_days:
        return [
            f"GROUPSYNC_INACTIVE_WARN_DAYS ({settings.inactive_warn_days}) must be fewer than "
            f"GROUPSYNC_INACTIVE_FREEZE_DAYS ({settings.inactive_freeze_days}): the warning comes "
            "that many days before the freeze"
        ]
    return []


def _worker_metrics_problems(settings: Settings, env: Mapping[str, str]) -> list[str]:
    if settings.worker_metrics_port is None:
        return []
    problems = []
    if settings.metrics_token is None:
        problems.append(
            "GROUPSYNC_WORKER_METRICS_PORT needs GROUPSYNC_METRICS_TOKEN: worker metrics are "
            "served only to a request bearing it"
        )
    if not env.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        problems.append(
            "GROUPSYNC_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR (an empty directory): a "
            "Celery worker counts in its pool processes, whose figures reach the endpoint only through it"
        )
    return problems


def _production_problems(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """What production refuses even when each value is well formed on its own."""
    problems = []
    if urlsplit(settings.public_url).scheme != "https":
        problems.append(
            "GROUPSYNC_PUBLIC_URL must be https:// in production: Google's OAuth redirect URIs "
            f"are built from it (got '{settings.public_url}')"
        )
    if settings.google_emulator_host is not None:
        problems.append(
            "GOOGLE_EMULATOR_HOST must not be set in production: it sends Google traffic elsewhere"
        )
    if env.get("FLASK_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}:
        problems.append("FLASK_DEBUG must be off in production: the debugger runs code from the browser")
    if settings.is_sqlite and settings.web_concurrency > 1:
        problems.append(
            f"WEB_CONCURRENCY is {settings.web_concurrency} but DATABASE_URL is SQLite, which allows "
            "one web process: use PostgreSQL or WEB_CONCURRENCY=1"
        )
    if not settings.mail_transport.startswith("smtp://"):
        problems.append(
            f"GROUPSYNC_MAIL_TRANSPORT={settings.mail_transport} is for demo and test: production "
            "sends policy and breach notices through smtp://host:port"
        )
    return problems
