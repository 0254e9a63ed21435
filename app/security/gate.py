"""The one check every request passes: the account's session limits, address and hours rules, second factor.

Registered by the app factory (:func:`init_app`); it runs before any view, so no view can
forget it. A session the account's limits have ended is deleted; a session that has not
yet given a required second factor reaches only the second-factor pages and sign-out.
"""

from __future__ import annotations

from flask import Flask, flash, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts.tenancy import current_login, sign_out
from app.crm import services as crm_services
from app.db import utcnow
from app.extensions import db
from app.extensions import lazy_gettext as _l
from app.security import restrictions, services
from app.security.access import Channel
from app.security.services import Ended

OPEN_ENDPOINTS = frozenset(
    {
        "static",
        "web.index",
        "auth.sign_in",
        "auth.start",
        "auth.callback",
        "auth.choose_account",
        "auth.enter_account",
        "auth.sign_out",
        "privacy.policy",
        "privacy.archived",
        "ops.healthz",
        "ops.readyz",
        "ops.prometheus_metrics",
    }
)
"""Pages that need no complete sign-in (the CRM API authenticates with its own keys)."""

SECOND_FACTOR_ENDPOINTS = frozenset(
    {
        "security.verify",
        "security.verify_code",
        "security.enrol",
        "security.enrol_start",
        "security.enrol_confirm",
        # A passkey answers the second-factor question, or is the factor being set up; adding
        # one to a member who already has a factor needs that factor first (app.security.passkeys).
        "security.passkey_options",
        "security.passkey_register",
        "security.passkey_sign_in",
    }
)

_ENDED = {
    Ended.IDLE: _l(
        "You were signed out after a time without activity, as this account requires. Please sign in again."
    ),
    Ended.ABSOLUTE: _l("Your session reached the longest time this account allows. Please sign in again."),
}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")


def check_request() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in OPEN_ENDPOINTS or endpoint == "crm.api.openapi":
        return None
    if endpoint.startswith("crm.api."):
        return _check_api_request()
    login = current_login()
    if login is None:
        return None
    membership = login.membership
    policy = services.policy_of(db.session, membership.account_id)
    ended = services.session_end(policy, login, utcnow())
    if ended is not None:
        services.end_login(db.session, login.id)
        sign_out()
        if _wants_json():
            return _json(401, "session_ended", str(_ENDED[ended]))
        flash(str(_ENDED[ended]), "info")
        return redirect(url_for("auth.sign_in"))
    refusal = restrictions.check_access(
        db.session, membership.account_id, Channel.WEB, request.remote_addr or "", user_id=membership.user_id
    )
    if refusal is not None:
        if _wants_json():
            return _json(403, refusal.code, refusal.message)
        return make_response(render_template("security/refused.html", refusal=refusal), 403)
    if endpoint in SECOND_FACTOR_ENDPOINTS or services.second_factor_given(db.session, login):
        return None
    enrolled = services.has_second_factor(db.session, membership.id)
    if not enrolled and not policy.requires_factor(membership.role):
        return None
    if _wants_json():
        return _json(401, "second_factor_required", "Confirm your second factor to continue.")
    target = "security.verify" if enrolled else "security.enrol"
    return redirect(url_for(target, next=request.full_path.rstrip("?")))


def _check_api_request() -> Response | None:
    """The CRM API's address and hours rules; an unknown key is left to the API's own 401."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    key = crm_services.authenticate_api_key(db.session, secret.strip())
    if key is None:
        return None
    refusal = restrictions.check_access(
        db.session, key.account_id, Channel.API, request.remote_addr or "", api_key_id=key.id
    )
    return _json(403, refusal.code, refusal.message) if refusal is not None else None


def _json(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_request)
