"""The landing page and each role's home."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Role
from app.accounts.tenancy import ANY_ROLE, current_membership, require_role

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str | Response:
    if current_membership() is not None:
        return redirect(url_for("web.dashboard"))
    return render_template("web/index.html")


@bp.get("/dashboard")
@require_role(*ANY_ROLE)
def dashboard() -> str:
    membership = current_membership()
    assert membership is not None
    return render_template("web/dashboard.html", membership=membership, Role=Role)
