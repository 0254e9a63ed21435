"""Everything the emulator remembers, behind one lock, reachable from any view through :func:`current_state`.

The werkzeug server is threaded, so every read or write of :class:`EmulatorState` happens
under ``state.lock``. The clock is the emulator's own (real time plus an offset the tests
can advance), so expiry of codes, tokens and sync tokens is testable without sleeping.
"""

from __future__ import annotations

import io
import pickle
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from flask import current_app

from groupsync_emulator.keys import SigningKey
from groupsync_emulator.oauth_state import Clock, OAuthState
from groupsync_emulator.people_records import PeopleSettings
from groupsync_emulator.people_state import PeopleState
from groupsync_emulator.workspace import WorkspaceState

EXTENSION_KEY = "groupsync_emulator"


class EmulatorMode(StrEnum):
    TEST = "test"
    DEMO = "demo"
    STANDALONE = "standalone"

    @property
    def hooks_enabled(self) -> bool:
        """Test hooks can forge any user's state, so a standalone emulator never serves them."""
        return self is not EmulatorMode.STANDALONE


@dataclass(frozen=True)
class ClientSpec:
    """An OAuth client registered at start (standalone mode has no hooks to register one)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str = "GroupSync"


@dataclass(frozen=True)
class EmulatorSettings:
    mode: EmulatorMode = EmulatorMode.TEST
    token_lifetime: int = 3600
    """Seconds an access token lives (Google: 3600)."""
    state_file: Path | None = None
    """SQLite file the state is saved to after each change and loaded from at start."""
    people: PeopleSettings = field(default_factory=PeopleSettings)
    clients: tuple[ClientSpec, ...] = ()

    def __post_init__(self) -> None:
        # Accept the plain strings "test", "demo", "standalone" too; a bad one fails here, not per request.
        object.__setattr__(self, "mode", EmulatorMode(self.mode))
        if self.token_lifetime < 1:
            raise ValueError(f"token_lifetime must be at least 1 second (got {self.token_lifetime})")


@dataclass(frozen=True)
class ConsentAnswer:
    """The pre-set answer of the next consent, so headless tests skip the page."""

    sub: str
    scopes: frozenset[str] | None
    """Scopes the user leaves ticked; ``None`` grants everything requested."""
    deny: bool = False


@dataclass(frozen=True)
class LogEntry:
    index: int
    time: float
    sub: str | None
    client_id: str | None
    method: str
    http_method: str
    path: str
    status: int
    contacts_touched: tuple[str, ...]
    started: float = 0.0
    """When the request arrived (``time`` is when its answer was ready), to show requests that overlapped."""
    response: str | None = None
    """The answer's body, kept only while a test asked for bodies (``POST /log/bodies``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "sub": self.sub,
            "client_id": self.client_id,
            "method": self.method,
            "http_method": self.http_method,
            "path": self.path,
            "status": self.status,
            "contacts_touched": list(self.contacts_touched),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            **({"response": self.response} if self.response is not None else {}),
        }


class EmulatorState:
    def __init__(self, settings: EmulatorSettings, signing_key: SigningKey) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.signing_key = signing_key
        self.clock = Clock()
        self.oauth: OAuthState = OAuthState(self.clock, settings.token_lifetime)
        self.people = PeopleState(settings.people)
        self.workspace = WorkspaceState(self.oauth)
        self.log: list[LogEntry] = []
        self.log_bodies = False
        self.next_consent: ConsentAnswer | None = None
        self.register_configured_clients()

    def register_configured_clients(self) -> None:
        for spec in self.settings.clients:
            self.oauth.register_client(spec.client_id, spec.client_secret, spec.redirect_uris, spec.name)

    def now(self) -> float:
        return self.clock.now()

    def reset(self) -> None:
        """Forget every client, grant, token, contact and log entry; the signing key stays."""
        with self.lock:
            self.clock = Clock()
            self.oauth = OAuthState(self.clock, self.settings.token_lifetime)
            self.people = PeopleState(self.settings.people)
            self.workspace = WorkspaceState(self.oauth)
            self.log = []
            self.log_bodies = False
            self.next_consent = None
            self.register_configured_clients()

    def record(
        self,
        *,
        sub: str | None,
        client_id: str | None,
        method: str,
        http_method: str,
        path: str,
        status: int,
        contacts_touched: tuple[str, ...],
        started: float | None = None,
        response: str | None = None,
    ) -> None:
        with self.lock:
            self.log.append(
                LogEntry(
                    index=len(self.log),
                    time=self.now(),
                    sub=sub,
                    client_id=client_id,
                    method=method,
                    http_method=http_method,
                    path=path,
                    status=status,
                    contacts_touched=contacts_touched,
                    started=self.now() if started is None else started,
                    response=response,
                )
            )


class _EmulatorUnpickler(pickle.Unpickler):
    """Rebuilds only the emulator's own classes, so a tampered state file cannot run code on load."""

    _ALLOWED = {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "deque"),
        ("random", "Random"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
        # Quota usage is kept per bucket, and the buckets are Google's, shared with GroupSync.
        ("app.google.limits", "Bucket"),
    }

    def find_class(self, module: str, name: str) -> Any:
        module = _moved_module(module, name)
        if module.startswith("groupsync_emulator.") or (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the emulator state file refers to {module}.{name}")


def _moved_module(module: str, name: str) -> str:
    """Where a class named in a state file written before the emulator left ``app/`` lives now,
    so an existing demo folder keeps its Google-side contacts and grants across the move."""
    if not module.startswith("app.emulator."):
        return module
    rest = module.removeprefix("app.emulator.")
    if rest == "oauth" or (rest == "state" and name == "Clock"):
        rest = "oauth_state"
    return f"groupsync_emulator.{rest}"


class StateFile:
    """The optional SQLite file that lets a demo emulator survive restarts.

    It holds the signing key and one blob of the whole state; codes and tokens in it are
    digests only, as in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        conn.execute("CREATE TABLE IF NOT EXISTS emulator_state (name TEXT PRIMARY KEY, body BLOB NOT NULL)")
        return conn

    def _read(self, name: str) -> bytes | None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT body FROM emulator_state WHERE name = ?", (name,)).fetchone()
        finally:
            conn.close()
        return bytes(row[0]) if row is not None else None

    def _write(self, name: str, body: bytes) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.execute("INSERT OR REPLACE INTO emulator_state (name, body) VALUES (?, ?)", (name, body))
        finally:
            conn.close()

    def signing_key_pem(self) -> bytes | None:
        return self._read("signing_key")

    def save_signing_key(self, pem: bytes) -> None:
        self._write("signing_key", pem)

    def save(self, state: EmulatorState) -> None:
        # Written under the lock too: two threads saving out of order would leave the older state behind.
        with state.lock:
            self._write(
                "state", pickle.dumps((state.clock, state.oauth, state.people, state.log, state.workspace))
            )

    def restore(self, state: EmulatorState) -> bool:
        blob = self._read("state")
        if blob is None:
            return False
        with state.lock:
            saved = _EmulatorUnpickler(io.BytesIO(blob)).load()
            state.clock, state.oauth, state.people, state.log = saved[:4]
            # A file written before Workspace domains existed has four parts; it starts with none.
            state.workspace = saved[4] if len(saved) > 4 else WorkspaceState(state.oauth)
            state.oauth.token_lifetime = state.settings.token_lifetime
            state.register_configured_clients()
        return True


def current_state() -> EmulatorState:
    state = current_app.extensions[EXTENSION_KEY]
    assert isinstance(state, EmulatorState)
    return state
