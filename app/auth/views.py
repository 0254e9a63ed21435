"""Sign-in with Google (OpenID Connect) and sign-out."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from werkzeug.wrappers import Response

from app.accounts.tenancy import sign_out as end_session

bp = Blueprint("auth", __name__)


@bp.get("/sign-in")
def sign_in() -> Response:
    abort(501)


@bp.post("/sign-out")
def sign_out() -> Response:
    end_session()
    return redirect(url_for("web.index"))
