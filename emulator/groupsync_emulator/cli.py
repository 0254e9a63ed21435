"""``groupsync-emulator`` and :func:`serve_in_thread`, the two ways the emulator gets a socket."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from groupsync_emulator.server import create_emulator
from groupsync_emulator.state import EXTENSION_KEY, ClientSpec, EmulatorMode, EmulatorSettings, EmulatorState


class _QuietHandler(WSGIRequestHandler):
    """In-process emulators (tests, demo) keep werkzeug's access log quiet: it would print every
    authorization request's query string and drown the output of the code under test."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _PathOnlyHandler(WSGIRequestHandler):
    """The access log of ``groupsync-emulator`` leaves query strings out: ``/revoke?token=...`` carries
    a token, and authorization requests carry state and nonce."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


@dataclass
class RunningEmulator:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def host_port(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    @property
    def state(self) -> EmulatorState:
        state = self.app.extensions[EXTENSION_KEY]
        assert isinstance(state, EmulatorState)
        return state

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def serve_in_thread(settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Start an emulator on a daemon thread; ``port=0`` picks a free port (see ``.host_port``)."""
    app = create_emulator(settings)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="google-emulator", daemon=True)
    thread.start()
    return RunningEmulator(app, server, thread)


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--mode",
    type=click.Choice([EmulatorMode.DEMO.value, EmulatorMode.STANDALONE.value]),
    default=EmulatorMode.DEMO.value,
    show_default=True,
    help="demo serves the test hooks under /__emulator__/; standalone does not.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to keep the emulator's state across restarts (default: memory only).",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds an access token lives.",
)
@click.option(
    "--client-id",
    envvar="GROUPSYNC_GOOGLE_CLIENT_ID",
    default=None,
    help="Register this OAuth client at start [env GROUPSYNC_GOOGLE_CLIENT_ID].",
)
@click.option(
    "--client-secret",
    envvar="GROUPSYNC_GOOGLE_CLIENT_SECRET",
    default=None,
    help="Its secret [env GROUPSYNC_GOOGLE_CLIENT_SECRET].",
)
@click.option(
    "--public-url",
    envvar="GROUPSYNC_PUBLIC_URL",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="GroupSync's URL; the client's redirect URIs are <url>/auth/callback and <url>/google/callback.",
)
def emulator_command(  # noqa: PLR0917 (click passes every option positionally by name)
    host: str,
    port: int,
    mode: str,
    state_file: Path | None,
    token_lifetime: int,
    client_id: str | None,
    client_secret: str | None,
    public_url: str,
) -> None:
    """Run the local Google emulator (OAuth 2.0, OpenID Connect, People API v1)."""
    if (client_id is None) != (client_secret is None):
        raise click.UsageError("--client-id and --client-secret go together (or set neither).")
    clients: tuple[ClientSpec, ...] = ()
    if client_id is not None and client_secret is not None:
        base = public_url.rstrip("/")
        clients = (
            ClientSpec(client_id, client_secret, (f"{base}/auth/callback", f"{base}/google/callback")),
        )
    settings = EmulatorSettings(
        mode=EmulatorMode(mode), token_lifetime=token_lifetime, state_file=state_file, clients=clients
    )
    server = make_server(
        host, port, create_emulator(settings), threaded=True, request_handler=_PathOnlyHandler
    )
    click.echo(f"Google emulator ({mode}) on http://{server.host}:{server.port}")
    click.echo(f"Point GroupSync at it with GOOGLE_EMULATOR_HOST={server.host}:{server.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
