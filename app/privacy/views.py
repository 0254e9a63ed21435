"""The privacy policy and Limited Use statement, served by the app: the current version and the archive."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Membership, Role
from app.accounts.tenancy import ANY_ROLE, current_membership, get_scoped_or_404, require_role, sign_out
from app.config import current_settings
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.flows import restriction
from app.flows import rights as deletion
from app.google.vault import TokenVault
from app.ledger.events import HumanViewReason
from app.ledger.human_view import REASON_LABELS
from app.privacy import disclosure, notices, policy_change, profile, rights
from app.privacy import policy as policies
from app.web.i18n import current_language

bp = Blueprint("privacy", __name__)


def _policy_page(number: int | None) -> str:
    directory = policies.policy_dir()
    numbers = policies.version_numbers(directory)
    in_force = policies.current_policy()
    if number is not None and number not in numbers:
        abort(404)
    shown = policies.load(directory, in_force.number if number is None else number, current_language())
    return render_template(
        "privacy/policy.html",
        policy=shown,
        numbers=numbers,
        current=in_force.number,
        upcoming=policies.upcoming_policy(),
        policy_language=shown.language,
    )


@bp.get("/privacy")
def policy() -> str:
    return _policy_page(None)


@bp.get("/privacy/v/<int:number>")
def archived(number: int) -> str:
    return _policy_page(number)


@bp.get("/privacy/review")
@require_role(*ANY_ROLE)
def review() -> str:
    """The "review and accept" page a changed policy leads to: the disclosure and each version to accept."""
    return render_template("privacy/review.html", **_review_context())


def _review_context() -> dict[str, object]:
    me = _me()
    settings = current_settings()
    status = policy_change.status_for(db.session(), me.user_id, me.account_id, settings=settings)
    language = current_language()
    to_accept = [policies.current_policy(language=language)] if status.paused else []
    upcoming = policies.upcoming_policy(language=language)
    if upcoming is not None:
        to_accept.append(upcoming)
    return {"status": status, "to_accept": to_accept, "disclosure": disclosure.current(current_language())}


@bp.post("/privacy/review")
@require_role(*ANY_ROLE)
def accept_review() -> Response | tuple[str, int]:
    me = _me()
    shown = request.form.getlist("policy_version")
    try:
        for version in shown:
            disclosure.accept_now(
                db.session(),
                me,
                disclosure.AcceptedTerms(
                    request.form.get("disclosure_version", ""),
                    version,
                    disclosure.current(current_language()).language,
                ),
            )
    except disclosure.DisclosureRequiredError:
        context = _review_context()
        return render_template(
            "privacy/review.html", error=_("The texts changed meanwhile: please read them again."), **context
        ), 409
    if shown:
        flash(_("Thank you: you accepted the privacy policy. Your sync continues."), "success")
    return redirect(url_for("web.dashboard"))


@bp.post("/privacy/notices/<int:notice_id>/dismiss")
@require_role(*ANY_ROLE)
def dismiss_notice(notice_id: int) -> Response:
    if not notices.dismiss(db.session(), _me().user_id, notice_id):
        abort(404)
    return redirect(url_for("web.dashboard"))


# --------------------------------------------------------------------------- user data rights


def _me() -> Membership:
    membership = current_membership()
    assert membership is not None  # require_role guarantees it
    return membership


def _download(document: dict[str, object], user_id: int) -> Response:
    return Response(
        json.dumps(document, indent=2, sort_keys=True),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="groupsync-user-{user_id}.json"'},
    )


def _delete(subject: rights.Subject, expected: str, page: str, **context: object) -> tuple[str, int]:
    """Delete after the typed confirmation matched; the receipt page is shown once, to whoever asked."""
    if request.form.get("confirmation", "").strip().lower() != expected.lower():
        error = _(
            "To delete, type %(expected)s in the confirmation field. Nothing was deleted.", expected=expected
        )
        return render_template(page, error=error, **context), 400
    signed_in_as = _me().user_id
    settings = current_settings()
    try:
        receipt = deletion.delete_user_data(
            db.session(), subject, settings=settings, vault=TokenVault.for_settings(settings)
        )
    except rights.RightsError as exc:
        return render_template(page, error=str(exc), **context), 409
    if subject.user_id == signed_in_as:
        sign_out()
    return render_template("privacy/receipt.html", receipt=receipt), 200


@bp.get("/privacy/my-data")
@require_role(*ANY_ROLE)
def my_data() -> str:
    return render_template("privacy/my_data.html", me=_me(), error="")


@bp.post("/privacy/my-data/export")
@require_role(*ANY_ROLE)
def export_my_data() -> Response:
    me = _me()
    document = rights.export(db.session(), rights.own_request(db.session(), me.user))
    return _download(document, me.user_id)


@bp.post("/privacy/my-data/delete")
@require_role(*ANY_ROLE)
def delete_my_data() -> tuple[str, int]:
    me = _me()
    subject = rights.own_request(db.session(), me.user)
    return _delete(subject, me.user.email, "privacy/my_data.html", me=me)


def _member_page(membership: Membership, error: str = "") -> str:
    return render_template("privacy/member_data.html", member=membership, error=error, reasons=REASON_LABELS)


@bp.get("/privacy/members/<int:membership_id>")
@require_role(Role.ADMIN)
def member_data(membership_id: int) -> str:
    return _member_page(get_scoped_or_404(Membership, membership_id))


@bp.post("/privacy/members/<int:membership_id>/export")
@require_role(Role.ADMIN)
def export_member_data(membership_id: int) -> Response | tuple[str, int]:
    membership = get_scoped_or_404(Membership, membership_id)
    raw = request.form.get("reason", "")
    if raw not in set(HumanViewReason):
        return _member_page(membership, _("Choose the reason you need this member's data.")), 400
    subject = rights.admin_request(db.session(), membership, _me())
    document = rights.export(db.session(), subject, reason=HumanViewReason(raw))
    return _download(document, membership.user_id)


@bp.post("/privacy/members/<int:membership_id>/delete")
@require_role(Role.ADMIN)
def delete_member_data(membership_id: int) -> tuple[str, int]:
    membership = get_scoped_or_404(Membership, membership_id)
    subject = rights.admin_request(db.session(), membership, _me())
    return _delete(
        subject,
        membership.user.email,
        "privacy/member_data.html",
        member=membership,
        reasons=REASON_LABELS,
    )


# --------------------------------------------------------------------------- rectification, restriction


@bp.get("/privacy/profile")
@require_role(*ANY_ROLE)
def my_profile() -> str:
    return render_template("privacy/profile.html", user=_me().user)


@bp.post("/privacy/profile")
@require_role(*ANY_ROLE)
def update_my_profile() -> Response:
    try:
        profile.update_profile(
            db.session,
            _me().user,
            name=request.form.get("name", ""),
            notice_email=request.form.get("notice_email", ""),
        )
    except profile.ProfileError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Your profile was saved."), "success")
    return redirect(url_for("privacy.my_profile"))


@bp.post("/privacy/restriction")
@require_role(*ANY_ROLE)
def restrict_processing() -> Response:
    user = _me().user
    if request.form.get("restrict") == "on":
        paused = restriction.restrict(db.session, user)
        flash(
            ngettext(
                "Processing is restricted: %(num)s sync paused. Nothing was deleted.",
                "Processing is restricted: %(num)s syncs paused. Nothing was deleted.",
                paused,
            ),
            "success",
        )
    else:
        lifted = restriction.lift(db.session, user)
        message = ngettext(
            "Restriction lifted: %(num)s sync turned back on.",
            "Restriction lifted: %(num)s syncs turned back on.",
            lifted.resumed,
        )
        if lifted.not_resumed:
            message += " " + ngettext(
                "%(num)s could not run any more (list withdrawn or Google gone).",
                "%(num)s could not run any more (list withdrawn or Google gone).",
                lifted.not_resumed,
            )
        flash(message, "success")
    return redirect(url_for("privacy.my_profile"))
