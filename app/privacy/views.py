"""The privacy policy and Limited Use statement, served by the app: the current version and the archive."""

from __future__ import annotations

import json
from dataclasses import replace

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Membership, Role
from app.accounts.tenancy import ANY_ROLE, current_membership, get_scoped_or_404, require_role, sign_out
from app.config import current_settings
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.flows import reach, restriction
from app.flows import rights as deletion
from app.google.vault import TokenVault
from app.ledger.events import HumanViewReason
from app.ledger.human_view import REASON_LABELS
from app.privacy import disclosure, notices, policy_change, profile, receipts, rights
from app.privacy import policy as policies
from app.web import confirm
from app.web.i18n import current_language, is_language, remember_language

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


_RECEIPT_KEY = "deletion_receipt"
"""The last deletion receipt, kept only in this browser's signed session cookie (GroupSync keeps no copy)."""


def _delete(subject: rights.Subject, question: confirm.Confirmation) -> Response | tuple[str, int]:
    """Delete after the confirmation page was sent back with the typed address; then the receipt page.

    A POST without the confirmation goes to the question; a wrong address asks again.
    """
    if request.method == "GET":
        return confirm.ask(question)
    if not confirm.confirmed():
        return confirm.to_confirmation_page()
    if request.form.get("confirmation", "").strip().lower() != question.typed.lower():
        error = _(
            "To delete, type %(expected)s in the confirmation field. Nothing was deleted.",
            expected=question.typed,
        )
        return confirm.ask(replace(question, error=error), 400)
    signed_in_as = _me().user_id
    # The person's saved language goes with their data; the receipt after it is still in it.
    chosen = _me().user.language
    settings = current_settings()
    try:
        receipt = deletion.delete_user_data(
            db.session(), subject, settings=settings, vault=TokenVault.for_settings(settings)
        )
    except rights.RightsError as exc:
        return confirm.ask(replace(question, error=str(exc)), 409)
    if subject.user_id == signed_in_as:
        sign_out()
        if chosen is not None and is_language(chosen):
            remember_language(chosen)
    # Kept after signing out (which empties the session), so the receipt page works without a sign-in.
    session[_RECEIPT_KEY] = receipts.sign(receipt.as_dict(), settings).to_session()
    return redirect(url_for("privacy.deletion_receipt"), code=303)


def _stored_receipt() -> receipts.SignedReceipt | None:
    return receipts.SignedReceipt.from_session(session.get(_RECEIPT_KEY))


@bp.get("/privacy/receipt")
def deletion_receipt() -> str | tuple[str, int]:
    """The receipt of the deletion this browser asked for, on its own URL: reload and Back are harmless."""
    stored = _stored_receipt()
    if stored is None:
        return render_template("privacy/receipt.html", stored=None), 404
    return render_template(
        "privacy/receipt.html", stored=stored, as_json=json.dumps(stored.receipt, indent=2)
    )


@bp.get("/privacy/receipt.json")
def download_receipt() -> Response:
    stored = _stored_receipt()
    if stored is None:
        abort(404)
    document = stored.document(current_settings().public_url + url_for("privacy.receipt_key"))
    number = stored.receipt.get("user_id") or "account"
    return Response(
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="groupsync-deletion-receipt-{number}.json"'},
    )


@bp.get("/privacy/receipt-key.pem")
def receipt_key() -> Response:
    """The public key that checks deletion receipts; publishing it is what lets a stranger verify one."""
    pem = receipts.public_key_pem(current_settings())
    if pem is None:
        abort(404)
    return Response(pem, mimetype="application/x-pem-file")


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


def _my_deletion(me: Membership) -> confirm.Confirmation:
    accounts, stays, connections = reach.of_person(db.session(), me.user_id)
    return confirm.Confirmation(
        title=_("Delete your data?"),
        consequences=[
            ngettext(
                "Your data in %(num)s account is deleted: profile, memberships, syncs and their history, "
                "sign-in sessions, invitations and disclosure acceptances.",
                "Your data in %(num)s accounts is deleted: profile, memberships, syncs and their history, "
                "sign-in sessions, invitations and disclosure acceptances.",
                accounts,
            ),
            ngettext(
                "GroupSync's access to %(num)s Google connection is revoked at Google.",
                "GroupSync's access to %(num)s Google connections is revoked at Google.",
                connections,
            ),
            ngettext(
                "%(num)s contact GroupSync put in your Google Contacts stays there; remove it in Google "
                "Contacts if you no longer want it.",
                "%(num)s contacts GroupSync put in your Google Contacts stay there; remove them in Google "
                "Contacts if you no longer want them.",
                stays.contacts,
            ),
            _("You are signed out and get a signed deletion receipt."),
        ],
        button=_("Delete my data"),
        cancel_url=url_for("privacy.my_data"),
        typed=me.user.email,
        typed_label=_("Type your e-mail address, %(email)s, to confirm", email=me.user.email),
        reassurance=_(
            "This cannot be undone. The Limited Use ledger keeps the record of the deletion, naming you "
            "only by a number."
        ),
    )


@bp.route("/privacy/my-data/delete", methods=["GET", "POST"])
@require_role(*ANY_ROLE)
def delete_my_data() -> Response | tuple[str, int]:
    me = _me()
    subject = rights.own_request(db.session(), me.user)
    return _delete(subject, _my_deletion(me))


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


def _member_deletion(membership: Membership) -> confirm.Confirmation:
    counted = reach.of_member(db.session(), membership)
    email = membership.user.email
    return confirm.Confirmation(
        title=_("Delete the data of %(email)s?", email=email),
        consequences=[
            _(
                "Their membership, syncs and their history, sign-in sessions and invitations in this account "
                "are deleted; GroupSync's access to their Google account is revoked."
            ),
            ngettext(
                "%(num)s contact GroupSync put there stays in 1 member's Google account.",
                "%(num)s contacts GroupSync put there stay in 1 member's Google account.",
                counted.contacts,
            ),
        ],
        button=_("Delete their data"),
        cancel_url=url_for("privacy.member_data", membership_id=membership.id),
        typed=email,
        typed_label=_("Type their e-mail address, %(email)s, to confirm", email=email),
        reassurance=_("This cannot be undone. Their data in other accounts is not touched."),
    )


@bp.route("/privacy/members/<int:membership_id>/delete", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def delete_member_data(membership_id: int) -> Response | tuple[str, int]:
    membership = get_scoped_or_404(Membership, membership_id)
    subject = rights.admin_request(db.session(), membership, _me())
    return _delete(subject, _member_deletion(membership))


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
