"""Test hooks under ``/__emulator__/``: JSON endpoints that stand in for the Google Cloud console and
for the user's Google Account page, plus :class:`HooksClient`, their client.

Only an emulator in test or demo mode serves them (see ``create_emulator``); a standalone
emulator answers 404, as Google would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, request

from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.oauth import preset_consent
from groupsync_emulator.state import current_state

bp = Blueprint("emulator_hooks", __name__)


def _invalid(message: str) -> GoogleApiError:
    return GoogleApiError(400, "INVALID_ARGUMENT", message)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{name}: a non-empty string is required")
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    return None if body.get(name) is None else _text(body, name)


def _texts(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _invalid(f"{name}: a list of non-empty strings is required")
    return value


def _seconds(body: Mapping[str, Any], minimum: float) -> float:
    value = body.get("seconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _invalid(f"seconds: a number of at least {minimum} is required")
    return float(value)


def _identity_sub(body: Mapping[str, Any]) -> str:
    key = _text(body, "identity")
    found = current_state().oauth.find_identity(key)
    if found is None:
        raise _invalid(f"identity: no test identity is '{key}'")
    return found.sub


@bp.post("/clients")
def register_client() -> tuple[Response, int]:
    body = _body()
    client_id = _text(body, "client_id")
    secret = _text(body, "client_secret")
    redirect_uris = _texts(body, "redirect_uris")
    name = _optional_text(body, "name") or "GroupSync"
    if not redirect_uris:
        raise _invalid("redirect_uris: at least one redirect URI is required")
    state = current_state()
    with state.lock:
        state.oauth.register_client(client_id, secret, redirect_uris, name)
    return jsonify({"client_id": client_id, "redirect_uris": redirect_uris, "name": name}), 201


@bp.post("/consent")
def set_next_consent() -> Response:
    body = _body()
    identity = _text(body, "identity")
    deny = body.get("deny", False)
    if not isinstance(deny, bool):
        raise _invalid("deny: true or false is required")
    answer = preset_consent(current_state(), identity, _texts(body, "scopes"), deny)
    scopes = sorted(answer.scopes) if answer.scopes is not None else None
    return jsonify({"sub": answer.sub, "scopes": scopes, "deny": answer.deny})


@bp.delete("/consent")
def clear_next_consent() -> Response:
    state = current_state()
    with state.lock:
        state.next_consent = None
    return jsonify({})


@bp.get("/identities")
def identities() -> Response:
    state = current_state()
    return jsonify(
        {
            "identities": [
                {"sub": i.sub, "email": i.email, "name": i.name, "locale": i.locale}
                for i in state.oauth.identities.values()
            ]
        }
    )


@bp.get("/log")
def read_log() -> Response:
    since = request.args.get("since", "0")
    if not since.isdigit():
        raise _invalid(f"since: a log index (whole number) is required (got '{since}')")
    state = current_state()
    with state.lock:
        entries = [entry.to_json() for entry in state.log[int(since) :]]
        following = len(state.log)
    return jsonify({"entries": entries, "next": following})


@bp.post("/log/bodies")
def log_bodies() -> Response:
    """Keep (or stop keeping) each answer's body in the log, for tests that inspect what a client received."""
    body = request.get_json(silent=True) or {}
    on = body.get("on")
    if not isinstance(on, bool):
        raise _invalid("on: true or false is required")
    state = current_state()
    with state.lock:
        state.log_bodies = on
    return jsonify({"on": on})


@bp.post("/reset")
def reset() -> Response:
    current_state().reset()
    return jsonify({})


@bp.post("/refresh-tokens/expire")
def expire_refresh_tokens() -> Response:
    body = _body()
    client_id = _optional_text(body, "client_id")
    state = current_state()
    with state.lock:
        expired = state.oauth.expire_refresh_tokens(_identity_sub(body), client_id)
    return jsonify({"expired": expired})


@bp.post("/grants/revoke")
def revoke_grant() -> Response:
    body = _body()
    client_id = _text(body, "client_id")
    state = current_state()
    with state.lock:
        state.oauth.revoke_grant(_identity_sub(body), client_id)
    return jsonify({})


@bp.post("/token-lifetime")
def set_token_lifetime() -> Response:
    seconds = int(_seconds(_body(), minimum=1))
    state = current_state()
    with state.lock:
        state.oauth.token_lifetime = seconds
    return jsonify({"seconds": seconds})


@bp.post("/clock/advance")
def advance_clock() -> Response:
    seconds = _seconds(_body(), minimum=0)
    state = current_state()
    with state.lock:
        state.clock.advance(seconds)
        offset = state.clock.offset
    return jsonify({"offset": offset})


class HookError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"emulator hook answered {status}: {body}")
        self.status = status
        self.body = body


class HooksClient:
    """Drives the hooks of a running emulator over HTTP (tests, ``groupsync-demo``)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, payload: Mapping[str, Any] | None = None, **params: str) -> Any:
        """Any hook, including the People hooks, by its path below ``/__emulator__/``."""
        response = requests.request(
            method,
            f"{self.base_url}/__emulator__/{path.lstrip('/')}",
            json=payload,
            params=params or None,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise HookError(response.status_code, response.text)
        return response.json() if response.content else None

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.call(
            "POST",
            "clients",
            {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris},
        )

    def preset_consent(self, identity: str, scopes: list[str] | None = None, deny: bool = False) -> None:
        """``scopes`` are those the user leaves ticked (``None``: all requested)."""
        self.call("POST", "consent", {"identity": identity, "scopes": scopes, "deny": deny})

    def identities(self) -> list[dict[str, str]]:
        result: list[dict[str, str]] = self.call("GET", "identities")["identities"]
        return result

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.call("GET", "log", since=str(since))["entries"]
        return entries

    def keep_bodies(self, on: bool = True) -> None:
        """Log each answer's body from now on (``log()`` entries then carry ``response``)."""
        self.call("POST", "log/bodies", {"on": on})

    def reset(self) -> None:
        self.call("POST", "reset")

    def expire_refresh_tokens(self, identity: str, client_id: str | None = None) -> int:
        expired: int = self.call(
            "POST", "refresh-tokens/expire", {"identity": identity, "client_id": client_id}
        )["expired"]
        return expired

    def revoke_grant(self, identity: str, client_id: str) -> None:
        self.call("POST", "grants/revoke", {"identity": identity, "client_id": client_id})

    def set_token_lifetime(self, seconds: int) -> None:
        self.call("POST", "token-lifetime", {"seconds": seconds})

    def advance_clock(self, seconds: float) -> None:
        self.call("POST", "clock/advance", {"seconds": seconds})
