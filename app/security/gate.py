"""The one check every signed-in request passes: the account's session limits and second factor.

Registered by the app factory (:func:`init_app`); it runs before any view, so no view can
forget it. A session the account's limits have ended is deleted; a session that has not
yet given a required second factor reaches only the second-factor pages and sign-out.
"""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from app.accounts.tenancy import current_login, sign_out
from app.db import utcnow
from app.extensions import db
from app.security import services
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
    }
)

_ENDED = {
    Ended.IDLE: (
        "You were signed out after a time without activity, as this account requires. Please sign in again."
    ),
    Ended.ABSOLUTE: "Your session reached the longest time this account allows. Please sign in again.",
}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")


def check_request() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in OPEN_ENDPOINTS or endpoint.startswith("crm.api."):
        return None
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
            return _json(401, "session_ended", _ENDED[ended])
        flash(_ENDED[ended], "info")
        return redirect(url_for("auth.sign_in"))
    if endpoint in SECOND_FACTOR_ENDPOINTS or services.second_factor_given(db.session, login):
        return None
    enrolled = services.confirmed_factor(db.session, membership.id) is not None
    if not enrolled and not policy.requires_factor(membership.role):
        return None
    if _wants_json():
        return _json(401, "second_factor_required", "Confirm your second factor to continue.")
    target = "security.verify" if enrolled else "security.enrol"
    return redirect(url_for(target, next=request.full_path.rstrip("?")))


def _json(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_request)
