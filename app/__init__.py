"""GroupSync: mirror CRM contact lists into a dedicated Google Contacts group per user."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from app.config import Settings


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Assemble the web application; no business logic lives here.

    ``config`` is a ready :class:`Settings`, a mapping of environment variables (tests), or
    ``None`` to read the process environment.
    """
    app = Flask(__name__, instance_relative_config=False)
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env(config, instance_path=Path(app.instance_path))
    app.config.from_mapping(settings.flask_config())
    if settings.proxy_hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Trust exactly as many X-Forwarded-* entries as there are proxies; more would let clients spoof.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    app.instance_path = str(settings.instance_path)
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    from app import logs, web_security
    from app.extensions import csrf, db, migrate

    logs.init_app(app, settings)
    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    web_security.init_app(app, settings)

    from app.web import i18n, shell

    i18n.init_app(app)
    shell.init_app(app)

    from app.crm import rate_limits

    limiter = rate_limits.init_app(app, settings)

    from app import models  # noqa: F401  (registers every table on the metadata)
    from app.accounts.views import bp as accounts_bp
    from app.auth.views import bp as auth_bp
    from app.crm.views import bp as crm_bp
    from app.google.views import bp as google_bp
    from app.ledger.views import bp as ledger_bp
    from app.ops.views import bp as ops_bp
    from app.privacy.views import bp as privacy_bp
    from app.security import gate
    from app.security.views import bp as security_bp
    from app.subject_requests import views as subject_requests_views
    from app.sync.views import bp as sync_bp
    from app.web.views import bp as web_bp
    from app.worker.views import bp as worker_bp
    from app.workspace.views import bp as workspace_bp

    for blueprint in (web_bp, auth_bp, accounts_bp, google_bp, crm_bp, sync_bp, ledger_bp, privacy_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(worker_bp)
    app.register_blueprint(workspace_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(security_bp)
    app.register_blueprint(subject_requests_views.bp)
    subject_requests_views.limit_requests(app, limiter, settings)
    gate.init_app(app)

    from app.cli import register_commands

    register_commands(app)
    return app
