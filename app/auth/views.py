"""Sign-in with Google (OpenID Connect), choosing an account, and sign-out."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.accounts.tenancy import current_membership
from app.accounts.tenancy import sign_in as start_session
from app.accounts.tenancy import sign_out as end_session
from app.auth import services
from app.config import Settings
from app.extensions import db
from app.extensions import gettext as _
from app.google.oauth import new_secret
from app.web_security import safe_next

bp = Blueprint("auth", __name__)

_BROWSER_KEY = "sign_in_browser"
_CHOOSER_KEY = "choose_account"
_CHOOSER_SECONDS = 600


def _settings() -> Settings:
    settings: Settings = current_app.config["GROUPSYNC"]
    return settings


def _home() -> str:
    return url_for("web.dashboard")


@bp.get("/sign-in")
def sign_in() -> str | Response:
    target = safe_next(request.args.get("next"), _home())
    if current_membership() is not None:
        return redirect(target)
    # A ``next`` means a page sent the browser here: say why, so the sign-in page is not a surprise.
    return render_template("auth/sign_in.html", next_url=target, asked=bool(request.args.get("next")))


@bp.post("/sign-in")
def start() -> Response:
    """Send the browser to Google; a POST because it stores the single-use sign-in request."""
    browser_secret = session.get(_BROWSER_KEY)
    if not isinstance(browser_secret, str):
        browser_secret = session[_BROWSER_KEY] = new_secret()
    url = services.start_sign_in(
        db.session(),
        _settings(),
        browser_secret=browser_secret,
        next_url=safe_next(request.form.get("next"), _home()),
        age_confirmed=request.form.get("age_confirmed") == "yes",
    )
    return redirect(url)


@bp.get("/auth/callback")
def callback() -> Response:
    """Google's redirect back. A GET that changes state by necessity: ``state`` is its CSRF guard.

    Every outcome redirects at once, so the code never stays in the address bar or history.
    """
    if request.args.get("error"):
        flash(_("Sign-in was cancelled at Google. You can try again whenever you like."), "error")
        return redirect(url_for("auth.sign_in"))
    state, code = request.args.get("state", ""), request.args.get("code", "")
    browser_secret = session.get(_BROWSER_KEY)
    if not state or not code or not isinstance(browser_secret, str):
        flash(
            _("This sign-in link is incomplete or was opened in another browser. Please sign in again."),
            "error",
        )
        return redirect(url_for("auth.sign_in"))
    try:
        outcome = services.complete_sign_in(
            db.session(), _settings(), state=state, code=code, browser_secret=browser_secret
        )
    except services.SignInError as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.sign_in"))
    next_url = outcome.next_url or _home()
    if len(outcome.memberships) == 1:
        start_session(outcome.memberships[0])
        _flash_all(outcome.notices)
        return redirect(next_url)
    # Rotate now: the chooser step must not run on the pre-sign-in session either.
    session.clear()
    session[_CHOOSER_KEY] = {
        "user": outcome.user_id,
        "until": time.time() + _CHOOSER_SECONDS,
        "next": next_url,
    }
    _flash_all(outcome.notices)
    return redirect(url_for("auth.choose_account"))


def _flash_all(notices: tuple[str, ...]) -> None:
    for notice in notices:
        flash(notice, "success")


def _chooser_user() -> tuple[int, str] | None:
    chooser = session.get(_CHOOSER_KEY)
    if not isinstance(chooser, dict) or float(chooser.get("until", 0)) < time.time():
        session.pop(_CHOOSER_KEY, None)
        return None
    return int(chooser["user"]), str(chooser.get("next") or _home())


@bp.get("/auth/choose-account")
def choose_account() -> str | Response:
    """A person in several accounts picks one; only right after Google confirmed who they are."""
    chooser = _chooser_user()
    if chooser is None:
        return redirect(url_for("auth.sign_in"))
    memberships = services.memberships_of(db.session(), chooser[0])
    return render_template("auth/choose_account.html", memberships=memberships)


@bp.post("/auth/choose-account")
def enter_account() -> Response:
    chooser = _chooser_user()
    if chooser is None:
        flash(_("Choosing an account took too long. Please sign in again."), "error")
        return redirect(url_for("auth.sign_in"))
    user_id, next_url = chooser
    membership_id = request.form.get("membership_id", "")
    membership = (
        services.membership_of(db.session(), user_id=user_id, membership_id=int(membership_id))
        if membership_id.isdigit()
        else None
    )
    if membership is None:
        flash(_("Please choose one of your accounts."), "error")
        return redirect(url_for("auth.choose_account"))
    start_session(membership)
    return redirect(next_url)


@bp.post("/sign-out")
def sign_out() -> Response:
    end_session()
    flash(_("You are signed out."), "success")  # after the session is cleared, so it survives
    return redirect(url_for("web.index"))
