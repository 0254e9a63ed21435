"""GroupSync served over real HTTP on a free loopback port, talking to the emulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.hooks import HooksClient
from tests.conftest import make_settings, register_google_client


@dataclass(frozen=True)
class LiveApp:
    app: Flask
    url: str
    google: HooksClient


@contextmanager
def live_app(
    emulator: RunningEmulator, instance: Path, *, host: str = "127.0.0.1", **overrides: Any
) -> Iterator[LiveApp]:
    """A fresh app on its own SQLite file, served by a threaded werkzeug server until the block ends.

    The emulator is reset and this app's OAuth client (with this port's callbacks) registered.
    ``host`` names the server in its public URL; it always listens on 127.0.0.1. Browsers treat
    ``localhost`` as a secure context over plain HTTP (WebAuthn needs one), but not 127.0.0.1
    as a WebAuthn relying-party id.
    """
    holder: dict[str, Flask] = {}

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    # The port must be known before the app exists: it is part of the public URL and callbacks.
    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://{host}:{server.port}"
    settings = make_settings(
        f"sqlite:///{instance / 'live.sqlite3'}",
        instance,
        google_emulator_host=emulator.host_port,
        public_url=url,
        **overrides,
    )
    app = holder["app"] = create_app(settings)
    with app.app_context():
        db.create_all()
    google = HooksClient(emulator.url)
    google.reset()
    register_google_client(google, settings)
    thread = threading.Thread(target=server.serve_forever, name="groupsync-live", daemon=True)
    thread.start()
    try:
        yield LiveApp(app, url, google)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()
