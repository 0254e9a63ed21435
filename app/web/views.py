"""The landing page and each role's home."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Role
from app.accounts.tenancy import ANY_ROLE, current_membership, require_role
from app.config import current_settings
from app.extensions import db
from app.privacy import notices, policy_change

bp = Blueprint("web", __name__)


@bp.app_context_processor
def operator_and_notices() -> dict[str, Any]:
    """Every page shows the operator; a signed-in user also sees their notices and policy status."""
    settings = current_settings()
    context: dict[str, Any] = {"operator": settings.operator, "user_notices": [], "policy_status": None}
    membership = current_membership()
    if membership is not None:
        context["user_notices"] = notices.pending(db.session(), membership.user_id)
        context["policy_status"] = policy_change.status_for(
            db.session(), membership.user_id, membership.account_id, settings=settings
        )
    return context


@bp.get("/")
def index() -> str | Response:
    if current_membership() is not None:
        return redirect(url_for("web.dashboard"))
    return render_template("web/index.html", settings=current_settings())


@bp.get("/dashboard")
@require_role(*ANY_ROLE)
def dashboard() -> str:
    membership = current_membership()
    assert membership is not None
    return render_template("web/dashboard.html", membership=membership, Role=Role)
