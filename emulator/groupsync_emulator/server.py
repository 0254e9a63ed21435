"""The emulator's WSGI application: Google's OAuth and People API paths, plus test hooks when allowed."""

from __future__ import annotations

from flask import Flask, Response, g, request

from groupsync_emulator import i18n
from groupsync_emulator.errors import register_error_handlers
from groupsync_emulator.hooks import bp as hooks_bp
from groupsync_emulator.keys import SigningKey
from groupsync_emulator.oauth import bp as oauth_bp
from groupsync_emulator.people import people_bp
from groupsync_emulator.people_hooks import people_hooks_bp
from groupsync_emulator.state import EXTENSION_KEY, EmulatorSettings, EmulatorState, StateFile
from groupsync_emulator.workspace_views import iam_bp, workspace_hooks_bp

HOOKS_PREFIX = "/__emulator__"


def create_emulator(settings: EmulatorSettings) -> Flask:
    app = Flask(__name__)
    # Google keeps non-ASCII names (e.g. Cyrillic) as UTF-8 in its JSON, not as \\u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    store = StateFile(settings.state_file) if settings.state_file is not None else None
    pem = store.signing_key_pem() if store is not None else None
    key = SigningKey.from_pem(pem) if pem is not None else SigningKey.generate()
    if store is not None and pem is None:
        store.save_signing_key(key.private_pem())
    state = EmulatorState(settings, key)
    if store is not None:
        store.restore(state)
    app.extensions[EXTENSION_KEY] = state

    register_error_handlers(app)
    i18n.init_app(app)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(iam_bp)
    if settings.mode.hooks_enabled:
        app.register_blueprint(hooks_bp, url_prefix=HOOKS_PREFIX)
        app.register_blueprint(people_hooks_bp, url_prefix=HOOKS_PREFIX)
        app.register_blueprint(workspace_hooks_bp, url_prefix=HOOKS_PREFIX)

    @app.before_request
    def note_arrival() -> None:
        g.arrived_at = state.now()

    @app.after_request
    def log_and_save(response: Response) -> Response:
        # Hook calls are the test harness talking, not a client of Google; they stay out of the log.
        if not request.path.startswith(HOOKS_PREFIX + "/"):
            state.record(
                sub=g.get("caller_sub"),
                client_id=g.get("caller_client_id"),
                method=g.get("api_method") or "unknown",
                http_method=request.method,
                path=request.path,
                status=response.status_code,
                contacts_touched=tuple(g.get("contacts_touched") or ()),
                started=g.get("arrived_at"),
                response=response.get_data(as_text=True) if state.log_bodies else None,
            )
        if store is not None:
            store.save(state)
        return response

    return app
