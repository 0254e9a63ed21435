"""The user's Google connection page: disclosure, connect, Google's callback, disconnect."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Membership, Role
from app.accounts.tenancy import current_membership, require_role
from app.config import current_settings
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.flows import connections, reach
from app.google import services
from app.google.models import ConnectionStatus
from app.google.vault import TokenVault
from app.privacy import disclosure
from app.privacy.policy import current_policy_version
from app.web import confirm
from app.web.i18n import current_language

bp = Blueprint("google", __name__, url_prefix="/google")

CONNECTING_ROLES = (Role.ADMIN, Role.MEMBER)

_CONNECT_MESSAGES = {
    services.ConnectOutcome.CONNECTED: ("success", _l("Google Contacts connected as %(email)s.")),
    services.ConnectOutcome.CONTACTS_NOT_GRANTED: (
        "warning",
        _l(
            "Google did not give GroupSync access to your contacts, so contact sync stays off. "
            "To try again, choose Connect and leave the contacts permission ticked on Google's page."
        ),
    ),
    services.ConnectOutcome.DENIED: (
        "warning",
        _l("You declined on Google's page, so contact sync stays off. You can connect again at any time."),
    ),
    services.ConnectOutcome.EXPIRED: (
        "error",
        _l(
            "That answer from Google did not match a connection you started in this browser, or it expired. "
            "Please choose Connect again."
        ),
    ),
    services.ConnectOutcome.OTHER_ACCOUNT: (
        "error",
        _l(
            "You chose a different Google account than the one GroupSync syncs to (%(email)s), "
            "so nothing changed. Reconnect with %(email)s, or disconnect first to switch accounts."
        ),
    ),
    services.ConnectOutcome.FAILED: (
        "error",
        _l("Google's answer could not be accepted, so nothing was connected. Please try again in a moment."),
    ),
}


def _membership() -> Membership:
    membership = current_membership()
    assert membership is not None  # require_role guarantees it
    return membership


_BROWSER_KEY = "google_connect_browser"
"""A random value in this browser's signed session cookie; the consent request is bound to its hash.
Signing in again clears the session, so an answer can only come back to the session that asked."""


def _browser_token() -> str:
    token = session.get(_BROWSER_KEY)
    if not isinstance(token, str):
        token = session[_BROWSER_KEY] = secrets.token_urlsafe(32)
    return token


def _accepted_terms() -> connections.AcceptedTerms | None:
    """What the disclosure form says the user agreed to; None when the post did not come from it."""
    shown, policy = request.form.get("disclosure_version"), request.form.get("policy_version")
    language = request.form.get("disclosure_language") or "en"
    return connections.AcceptedTerms(shown, policy, language) if shown and policy else None


def _redirect_uri() -> str:
    # Exactly what is registered with Google, independent of the Host header.
    return current_settings().public_url + url_for("google.callback")


@bp.get("/")
@require_role(*CONNECTING_ROLES)
def connection() -> str:
    overview = connections.overview(db.session(), _membership())
    return render_template("google/connection.html", overview=overview, Status=ConnectionStatus)


@bp.get("/disclosure")
@require_role(*CONNECTING_ROLES)
def disclosure_page() -> str:
    return render_template(
        "google/disclosure.html",
        disclosure=disclosure.current(current_language()),
        policy_version=current_policy_version(),
    )


@bp.post("/connect")
@require_role(*CONNECTING_ROLES)
def connect() -> Response:
    settings = current_settings()
    try:
        url = connections.start_connect(
            db.session(),
            _membership(),
            _browser_token(),
            settings=settings,
            vault=TokenVault.for_settings(settings),
            redirect_uri=_redirect_uri(),
            accepted=_accepted_terms(),
        )
    except connections.DisclosureRequiredError:
        flash(_("Please read and accept what GroupSync will do with your Google Contacts first."), "warning")
        return redirect(url_for("google.disclosure_page"))
    return redirect(url, code=303)


def _signed_out_without_the_code(view: Callable[[], Response]) -> Callable[[], Response]:
    """Send a signed-out browser to sign-in with a clean ``next``.

    ``require_role`` would carry the whole callback URL, authorization code included, into
    the sign-in request; the code is useless by then (the consent request belongs to the old
    session), so it is dropped rather than stored or logged.
    """

    @wraps(view)
    def wrapper() -> Response:
        if current_membership() is None:
            return redirect(url_for("auth.sign_in", next=url_for("google.connection")))
        return view()

    return wrapper


@bp.get("/callback")
@_signed_out_without_the_code
@require_role(*CONNECTING_ROLES)
def callback() -> Response:
    """Google's redirect target; answers with an immediate redirect so the code never sits in a page."""
    settings = current_settings()
    result = services.complete_connect(
        db.session(),
        _membership(),
        _browser_token(),
        state=request.args.get("state", ""),
        code=request.args.get("code"),
        error=request.args.get("error"),
        settings=settings,
        vault=TokenVault.for_settings(settings),
        redirect_uri=_redirect_uri(),
    )
    category, message = _CONNECT_MESSAGES[result.outcome]
    flash(str(message) % {"email": result.email}, category)
    return redirect(url_for("google.connection"), code=303)


@bp.route("/disconnect", methods=["GET", "POST"])
@require_role(*CONNECTING_ROLES)
def disconnect() -> Response | tuple[str, int]:
    """GET asks (with the numbers); a confirmed POST disconnects; an unconfirmed one is sent to ask."""
    membership = _membership()
    connection = services.connection_of(db.session(), membership)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        flash(_("No Google account is connected."), "warning")
        return redirect(url_for("google.connection"), code=303)
    if request.method == "GET":
        counted = reach.of_connection(db.session(), connection)
        return confirm.ask(
            confirm.Confirmation(
                title=_("Disconnect %(email)s?", email=connection.email),
                consequences=[
                    _("GroupSync's access at Google is revoked and the credentials it holds are deleted."),
                    ngettext("%(num)s sync is turned off.", "%(num)s syncs are turned off.", counted.syncs),
                    ngettext(
                        "%(num)s contact GroupSync put in 1 Google account (yours) stays there; "
                        "GroupSync no longer updates it.",
                        "%(num)s contacts GroupSync put in 1 Google account (yours) stay there; "
                        "GroupSync no longer updates them.",
                        counted.contacts,
                    ),
                ],
                button=_("Disconnect Google"),
                cancel_url=url_for("google.connection"),
                reassurance=_("You can connect again at any time; your syncs then need turning on again."),
            )
        )
    if not confirm.confirmed():
        return confirm.to_confirmation_page()
    settings = current_settings()
    connections.disconnect(
        db.session(),
        connection,
        f"user:{membership.user_id}",
        settings=settings,
        vault=TokenVault.for_settings(settings),
    )
    flash(
        _(
            "Google disconnected: GroupSync's access was revoked and its stored credentials deleted. "
            "Contacts already in your Google Contacts stay there."
        ),
        "success",
    )
    return redirect(url_for("google.connection"), code=303)
