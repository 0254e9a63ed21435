"""The privacy policy and Limited Use statement, served by the app: the current version and the archive."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.privacy import policy as policies

bp = Blueprint("privacy", __name__)


@bp.get("/privacy")
def policy() -> str:
    directory = policies.policy_dir()
    numbers = policies.version_numbers(directory)
    shown = policies.load(directory, numbers[-1])
    return render_template("privacy/policy.html", policy=shown, numbers=numbers, current=numbers[-1])


@bp.get("/privacy/v/<int:number>")
def archived(number: int) -> str:
    directory = policies.policy_dir()
    numbers = policies.version_numbers(directory)
    if number not in numbers:
        abort(404)
    shown = policies.load(directory, number)
    return render_template("privacy/policy.html", policy=shown, numbers=numbers, current=numbers[-1])
