"""The HTTP side of ``workspace``: the IAM Credentials ``signJwt`` method, the Workspace test hooks
(the stand-ins for the Admin console and the Cloud console), and :class:`WorkspaceHooks`, their client.

Hooks live under ``/__emulator__/workspace/`` and, like every hook, only in test and demo mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, g, jsonify, request

from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.oauth import note_caller
from groupsync_emulator.state import current_state
from groupsync_emulator.workspace import CLOUD_PLATFORM, IAM, WorkspaceError

iam_bp = Blueprint("emulator_iam", __name__)
workspace_hooks_bp = Blueprint("emulator_workspace_hooks", __name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


@iam_bp.post("/v1/projects/-/serviceAccounts/<string:email>:signJwt")
def sign_jwt(email: str) -> Response:
    """``iamcredentials…serviceAccounts.signJwt``: sign a JWT with the account's Google-managed key."""
    state = current_state()
    note_caller(None, None, "iamcredentials.signJwt")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    with state.lock:
        record, _ = state.oauth.access_grant(token.strip()) if scheme.lower() == "bearer" else (None, False)
        if record is None:
            raise GoogleApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        g.caller_sub = record.sub
        g.caller_client_id = record.client_id
        if not record.scopes & {CLOUD_PLATFORM, IAM}:
            raise GoogleApiError(
                403,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
                reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )
        body = request.get_json(silent=True)
        payload = (
            json.loads(body["payload"])
            if isinstance(body, dict) and isinstance(body.get("payload"), str)
            else None
        )
        if not isinstance(payload, dict):
            raise GoogleApiError(400, "INVALID_ARGUMENT", "payload: a JSON object, as a string, is required")
        try:
            target = state.workspace.service_account(email)
            key_id, signed = state.workspace.sign_jwt(record.sub, target, payload)
        except (WorkspaceError, PermissionError):
            # Google does not tell a caller without the permission whether the account exists.
            raise GoogleApiError(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).",
                reason="IAM_PERMISSION_DENIED",
                metadata={"permission": "iam.serviceAccounts.signJwt"},
            ) from None
    return jsonify({"keyId": key_id, "signedJwt": signed})


# --- hooks ------------------------------------------------------------------------------------


def _hook(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run under the state lock; a :class:`WorkspaceError` becomes a 400 naming the field."""

    @wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        state = current_state()
        with state.lock:
            try:
                return view(*args, **kwargs)
            except WorkspaceError as exc:
                raise GoogleApiError(400, "INVALID_ARGUMENT", str(exc)) from None

    return wrapper


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise WorkspaceError("the request body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value:
        raise WorkspaceError(f"{name}: a non-empty string is required")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, True)
    if not isinstance(value, bool):
        raise WorkspaceError(f"{name}: true or false is required")
    return value


def _scopes(body: Mapping[str, Any]) -> list[str]:
    value = body.get("scopes")
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise WorkspaceError("scopes: a list of scope URLs is required (empty removes the entry)")
    return value


def _user_json(domain: str, user: Any) -> dict[str, Any]:
    i = user.identity
    return {
        "domain": domain,
        "sub": i.sub,
        "email": i.email,
        "name": i.name,
        "locale": i.locale,
        "suspended": user.suspended,
        "deleted": user.deleted,
    }


@workspace_hooks_bp.post("/workspace/domains")
@_hook
def add_domain() -> tuple[Response, int]:
    body = _body()
    workspace = current_state().workspace
    domain = workspace.add_domain(_text(body, "domain"))
    users = body.get("users", [])
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise WorkspaceError("users: a list of {email, name, locale?} objects is required")
    added = [
        workspace.add_user(domain, _text(u, "email"), _text(u, "name"), _text(u, "locale", "en"))
        for u in users
    ]
    return jsonify({"domain": domain.name, "users": [_user_json(domain.name, u) for u in added]}), 201


@workspace_hooks_bp.post("/workspace/domains/<string:name>/users")
@_hook
def add_user(name: str) -> tuple[Response, int]:
    body = _body()
    workspace = current_state().workspace
    domain = workspace.domain(name)
    user = workspace.add_user(domain, _text(body, "email"), _text(body, "name"), _text(body, "locale", "en"))
    return jsonify(_user_json(domain.name, user)), 201


@workspace_hooks_bp.get("/workspace/domains/<string:name>")
@_hook
def read_domain(name: str) -> Response:
    workspace = current_state().workspace
    domain = workspace.domain(name)
    return jsonify(
        {
            "domain": domain.name,
            "users": [_user_json(domain.name, u) for u in domain.users.values()],
            "delegations": {c: sorted(s) for c, s in domain.delegations.items()},
            "marketplace": {p: sorted(s) for p, s in domain.marketplace.items()},
        }
    )


@workspace_hooks_bp.post("/workspace/users/<string:key>/suspend")
@_hook
def suspend_user(key: str) -> Response:
    user = current_state().workspace.set_suspended(key, _flag(_body(), "suspended"))
    domain, _ = current_state().workspace.user(key)
    return jsonify(_user_json(domain.name, user))


@workspace_hooks_bp.post("/workspace/users/<string:key>/delete")
@_hook
def delete_user(key: str) -> Response:
    domain, _ = current_state().workspace.user(key)
    return jsonify(_user_json(domain.name, current_state().workspace.delete_user(key)))


@workspace_hooks_bp.post("/workspace/domains/<string:name>/delegation")
@_hook
def set_delegation(name: str) -> Response:
    body = _body()
    workspace = current_state().workspace
    scopes = workspace.set_delegation(workspace.domain(name), _text(body, "client_id"), _scopes(body))
    return jsonify({"client_id": body["client_id"], "scopes": sorted(scopes)})


@workspace_hooks_bp.post("/workspace/domains/<string:name>/marketplace")
@_hook
def set_marketplace(name: str) -> Response:
    body = _body()
    workspace = current_state().workspace
    scopes = workspace.set_marketplace(workspace.domain(name), _text(body, "project_id"), _scopes(body))
    return jsonify({"project_id": body["project_id"], "scopes": sorted(scopes)})


@workspace_hooks_bp.post("/workspace/service-accounts")
@_hook
def create_service_account() -> tuple[Response, int]:
    body = _body()
    account = current_state().workspace.create_service_account(
        _text(body, "project_id"), _text(body, "account_id"), _text(body, "display_name", "GroupSync")
    )
    return jsonify(
        {"email": account.email, "unique_id": account.unique_id, "project_id": account.project_id}
    ), 201


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/keys")
@_hook
def create_key(email: str) -> tuple[Response, int]:
    workspace = current_state().workspace
    base = request.host_url.rstrip("/")
    key_file = workspace.create_key(workspace.service_account(email), f"{base}/token", base)
    return jsonify(key_file), 201


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/keys/<string:key_id>/disable")
@_hook
def disable_key(email: str, key_id: str) -> Response:
    workspace = current_state().workspace
    key = workspace.user_key(workspace.service_account(email), key_id)
    key.disabled = _flag(_body(), "disabled")
    return jsonify({"key_id": key.key_id, "disabled": key.disabled})


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/keys/<string:key_id>/delete")
@_hook
def delete_key(email: str, key_id: str) -> Response:
    workspace = current_state().workspace
    account = workspace.service_account(email)
    del account.keys[workspace.user_key(account, key_id).key_id]
    return jsonify({"key_id": key_id, "deleted": True})


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/disable")
@_hook
def disable_service_account(email: str) -> Response:
    account = current_state().workspace.service_account(email)
    account.disabled = _flag(_body(), "disabled")
    return jsonify({"email": account.email, "disabled": account.disabled})


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/delete")
@_hook
def delete_service_account(email: str) -> Response:
    workspace = current_state().workspace
    workspace.delete_service_account(workspace.service_account(email))
    return jsonify({"email": email, "deleted": True})


@workspace_hooks_bp.post("/workspace/service-accounts/<string:email>/token-creators")
@_hook
def add_token_creator(email: str) -> Response:
    workspace = current_state().workspace
    target = workspace.service_account(email)
    member = workspace.service_account(_text(_body(), "member"))
    target.token_creators.add(member.unique_id)
    return jsonify({"email": target.email, "member": member.email})


class WorkspaceHooks:
    """The Workspace hooks, for tests and ``groupsync-demo``."""

    def __init__(self, hooks: HooksClient) -> None:
        self.hooks = hooks

    def add_domain(self, domain: str, users: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
        answer = self.hooks.call("POST", "workspace/domains", {"domain": domain, "users": users or []})
        created: list[dict[str, Any]] = answer["users"]
        return created

    def add_user(self, domain: str, email: str, name: str, locale: str = "en") -> dict[str, Any]:
        answer: dict[str, Any] = self.hooks.call(
            "POST", f"workspace/domains/{domain}/users", {"email": email, "name": name, "locale": locale}
        )
        return answer

    def domain(self, domain: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.hooks.call("GET", f"workspace/domains/{domain}")
        return answer

    def suspend(self, user: str, suspended: bool = True) -> None:
        self.hooks.call("POST", f"workspace/users/{user}/suspend", {"suspended": suspended})

    def delete_user(self, user: str) -> None:
        self.hooks.call("POST", f"workspace/users/{user}/delete", {})

    def set_delegation(self, domain: str, client_id: str, scopes: list[str]) -> None:
        """The Admin console's domain-wide delegation entry; ``[]`` removes it."""
        self.hooks.call(
            "POST", f"workspace/domains/{domain}/delegation", {"client_id": client_id, "scopes": scopes}
        )

    def set_marketplace(self, domain: str, project_id: str, scopes: list[str]) -> None:
        """A domain install of the Marketplace app of ``project_id``; ``[]`` uninstalls it."""
        self.hooks.call(
            "POST", f"workspace/domains/{domain}/marketplace", {"project_id": project_id, "scopes": scopes}
        )

    def create_service_account(self, project_id: str, account_id: str) -> dict[str, str]:
        answer: dict[str, str] = self.hooks.call(
            "POST", "workspace/service-accounts", {"project_id": project_id, "account_id": account_id}
        )
        return answer

    def create_key(self, email: str) -> dict[str, str]:
        key_file: dict[str, str] = self.hooks.call("POST", f"workspace/service-accounts/{email}/keys", {})
        return key_file

    def disable_key(self, email: str, key_id: str, disabled: bool = True) -> None:
        self.hooks.call(
            "POST", f"workspace/service-accounts/{email}/keys/{key_id}/disable", {"disabled": disabled}
        )

    def delete_key(self, email: str, key_id: str) -> None:
        self.hooks.call("POST", f"workspace/service-accounts/{email}/keys/{key_id}/delete", {})

    def disable_service_account(self, email: str, disabled: bool = True) -> None:
        self.hooks.call("POST", f"workspace/service-accounts/{email}/disable", {"disabled": disabled})

    def delete_service_account(self, email: str) -> None:
        self.hooks.call("POST", f"workspace/service-accounts/{email}/delete", {})

    def add_token_creator(self, email: str, member: str) -> None:
        self.hooks.call("POST", f"workspace/service-accounts/{email}/token-creators", {"member": member})
