"""Data-subject requests: the public request page and link (no sign-in), and the admins' pages.

The public pages answer the same whatever the address given: they never say whether the CRM
knows it. Sending the form is rate-limited per client address (:func:`limit_requests`).
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from app.accounts.models import Role
from app.accounts.tenancy import current_account, current_membership, require_role
from app.config import Settings, current_settings
from app.db import utcnow
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.mail import Mailer, MailError
from app.subject_requests import mails, services
from app.subject_requests.models import RequestKind, RequestState, SubjectRequest
from app.web.i18n import current_language

bp = Blueprint("subject_requests", __name__)


class RequestForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    email = EmailField(
        _l("Your e-mail address"),
        validators=[
            DataRequired(_l("Give your e-mail address.")),
            Email(_l("That is not an e-mail address."), check_deliverability=False),
            Length(max=320),
        ],
    )
    kind = RadioField(
        _l("What do you ask for?"),
        choices=[
            SelectChoice(RequestKind.ACCESS.value, _l("A copy of the data about me")),
            SelectChoice(RequestKind.CORRECTION.value, _l("Correction of the data about me")),
            SelectChoice(RequestKind.DELETION.value, _l("Deletion of the data about me")),
        ],
        validators=[DataRequired(_l("Choose what you ask for."))],
    )
    details = TextAreaField(
        _l("Details (optional)"),
        validators=[Length(max=services.MAX_DETAILS, message=_l("At most 2000 characters."))],
    )


def limit_requests(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """Sending the public form or a link: a few per client address per hour (reading is not limited).

    The limiter checks a decorated limit inside the wrapper it returns, and each application has
    its own limiter, so the registered views are replaced by their wrapped selves here.
    """
    limit = limiter.limit(
        f"{settings.data_requests_per_hour_per_address}/hour", methods=["POST"], scope="data-request"
    )
    app.view_functions[f"{bp.name}.request_form"] = limit(request_form)
    app.view_functions[f"{bp.name}.confirm"] = limit(confirm)


def _mailer() -> Mailer:
    return Mailer.for_settings(current_settings())


# ---------------------------------------------------------------- public


@bp.route("/data-requests/<slug>", methods=["GET", "POST"])
def request_form(slug: str) -> str | Response | tuple[str, int]:
    account = services.account_of_page(db.session, slug)
    if account is None:
        abort(404)
    form = RequestForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("subject_requests/form.html", form=form, account=account), status
    try:
        services.submit(
            db.session,
            _mailer(),
            current_settings(),
            account,
            email=form.email.data,
            kind=RequestKind(form.kind.data),
            details=form.details.data or "",
            language=current_language(),
        )
    except MailError:
        flash(_("The confirmation e-mail could not be sent just now. Please try again later."), "error")
        return render_template("subject_requests/form.html", form=form, account=account), 503
    return redirect(url_for("subject_requests.sent", slug=slug))


@bp.get("/data-requests/<slug>/sent")
def sent(slug: str) -> str:
    account = services.account_of_page(db.session, slug)
    if account is None:
        abort(404)
    return render_template("subject_requests/sent.html", account=account)


@bp.get("/data-requests/confirm/<token>")
def confirm_page(token: str) -> str:
    # A GET changes nothing: mail scanners open links; the person presses the button.
    return render_template("subject_requests/confirm.html", token=token)


@bp.post("/data-requests/confirm/<token>")
def confirm(token: str) -> str | tuple[str, int]:
    confirmed = services.confirm(db.session, token)
    if confirmed is None:
        return render_template("subject_requests/confirm.html", token=None), 410
    return render_template("subject_requests/confirmed.html", confirmed=confirmed)


# ---------------------------------------------------------------- the account's admins


def _request_or_404(request_id: int) -> SubjectRequest:
    found = services.get_request(db.session, current_account().id, request_id)
    if found is None:
        abort(404)
    return found


def _admin_user_id() -> int:
    membership = current_membership()
    assert membership is not None
    return membership.user_id


@bp.get("/admin/data-requests")
@require_role(Role.ADMIN)
def admin_list() -> str:
    account = current_account()
    return render_template(
        "subject_requests/admin_list.html",
        requests=services.requests_of(db.session, account.id),
        public_url=current_settings().public_url
        + url_for("subject_requests.request_form", slug=account.request_slug),
        now=utcnow(),
        days_left=services.days_left,
        is_overdue=services.is_overdue,
        kind_label=mails.kind_label,
    )


@bp.get("/admin/data-requests/<int:request_id>")
@require_role(Role.ADMIN)
def admin_detail(request_id: int) -> str:
    found = _request_or_404(request_id)
    services.view(db.session, found, _admin_user_id())
    is_open = found.state == RequestState.OPEN.value
    contacts = services.matching_contacts(db.session, found.account_id, found.email) if is_open else []
    return render_template(
        "subject_requests/admin_detail.html",
        item=found,
        is_open=is_open,
        contacts=contacts,
        now=utcnow(),
        days_left=services.days_left(found, utcnow()),
        overdue=services.is_overdue(found, utcnow()),
        kind_label=mails.kind_label,
    )


@bp.post("/admin/data-requests/<int:request_id>/fulfil")
@require_role(Role.ADMIN)
def fulfil(request_id: int) -> Response:
    found = _request_or_404(request_id)
    try:
        count = services.fulfil(
            db.session, _mailer(), found, _admin_user_id(), note=request.form.get("note", "")
        )
    except services.RequestError as exc:
        flash(str(exc), "error")
    else:
        flash(
            ngettext(
                "Request answered (%(num)s contact); the requester was told by e-mail.",
                "Request answered (%(num)s contacts); the requester was told by e-mail.",
                count,
            ),
            "info",
        )
    return redirect(url_for("subject_requests.admin_detail", request_id=request_id))


@bp.post("/admin/data-requests/<int:request_id>/reject")
@require_role(Role.ADMIN)
def reject(request_id: int) -> Response:
    found = _request_or_404(request_id)
    try:
        services.reject(db.session, _mailer(), found, _admin_user_id(), reason=request.form.get("reason", ""))
    except services.RequestError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Request refused; the requester was told the reason by e-mail."), "info")
    return redirect(url_for("subject_requests.admin_detail", request_id=request_id))
