"""The privacy policy and Limited Use statement, served by the app."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("privacy", __name__)


@bp.get("/privacy")
def policy() -> str:
    return render_template("privacy/policy.html")
