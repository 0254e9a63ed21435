"""The landing page, each role's home, and the reader's language and time zone."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts import services as accounts
from app.accounts.activity import timeline
from app.accounts.models import Role
from app.accounts.tenancy import ANY_ROLE, current_membership, require_role
from app.config import current_settings
from app.extensions import db
from app.extensions import gettext as _
from app.flows import onboarding
from app.privacy import notices, policy_change
from app.web import i18n
from app.web_security import safe_next

bp = Blueprint("web", __name__)


@bp.app_context_processor
def operator_and_notices() -> dict[str, Any]:
    """Every page shows the operator; a signed-in user also sees their notices and policy status."""
    settings = current_settings()
    context: dict[str, Any] = {
        "operator": settings.operator,
        "user_notices": [],
        "policy_status": None,
        "account_life": None,
    }
    membership = current_membership()
    if membership is not None:
        context["account_life"] = timeline(membership.account, settings)
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


@bp.get("/favicon.ico")
def favicon() -> Response:
    # Pages name the SVG icon; this answers what asks the old fixed address (JSON and text pages, tools).
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/dashboard")
@require_role(*ANY_ROLE)
def dashboard() -> str:
    membership = current_membership()
    assert membership is not None
    checklist = onboarding.for_membership(db.session(), membership)
    waiting = onboarding.lists_waiting(db.session(), membership) if membership.role is Role.MEMBER else 0
    return render_template(
        "web/dashboard.html", membership=membership, Role=Role, checklist=checklist, lists_waiting=waiting
    )


@bp.post("/language")
def choose_language() -> Response:
    """The shell's switcher: saved on the signed-in user, else kept in this browser's session."""
    language = request.form.get("language")
    back = safe_next(request.form.get("next"), url_for("web.index"))
    if not i18n.is_language(language):
        return redirect(back, code=303)
    assert language is not None
    membership = current_membership()
    if membership is not None:
        user = membership.user
        accounts.save_preferences(db.session(), user, language=language, time_zone=user.time_zone)
    else:
        i18n.remember_language(language)
    return redirect(back, code=303)


@bp.get("/settings")
@require_role(*ANY_ROLE)
def settings() -> str:
    membership = current_membership()
    assert membership is not None
    return render_template(
        "web/settings.html", user=membership.user, zones=i18n.time_zones(), languages=i18n.LANGUAGES
    )


@bp.post("/settings")
@require_role(*ANY_ROLE)
def save_settings() -> Response | tuple[str, int]:
    membership = current_membership()
    assert membership is not None
    language = request.form.get("language") or None
    zone = request.form.get("time_zone") or None
    if (language is not None and not i18n.is_language(language)) or (
        zone is not None and not i18n.is_time_zone(zone)
    ):
        flash(_("Choose a language and a time zone from the lists."), "error")
        return redirect(url_for("web.settings"), code=303)
    accounts.save_preferences(db.session(), membership.user, language=language, time_zone=zone)
    flash(_("Your settings were saved."), "success")
    return redirect(url_for("web.settings"), code=303)
