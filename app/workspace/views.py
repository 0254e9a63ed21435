"""Pages for a Workspace domain: the admin's guided set-up, assignments, and the member's own view."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Membership, Role
from app.accounts.tenancy import current_membership, require_role
from app.config import current_settings
from app.crm.models import ContactList
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.google.domain_models import STATEMENT_VERSION, DomainMode, DomainProblem, DomainStatus
from app.google.endpoints import CONTACTS_SCOPE
from app.google.vault import TokenVault
from app.mail import Mailer
from app.workspace import members, services
from app.workspace.messages import PROBLEMS

bp = Blueprint("workspace", __name__, url_prefix="/workspace")

MAX_KEY_BYTES = 16_384
"""A service account key file is about 2.3 kB; anything far larger is not one."""


def _membership() -> Membership:
    membership = current_membership()
    assert membership is not None  # require_role guarantees it
    return membership


def _domain_or_404() -> Any:
    domain = services.domain_of(db.session, _membership().account_id)
    if domain is None:
        abort(404)
    return domain


@bp.app_context_processor
def workspace_globals() -> dict[str, Any]:
    """The member's pending notice banner, and a failing domain for admins, on every page."""
    membership = current_membership()
    if membership is None:
        return {}
    result: dict[str, Any] = {"workspace_banner": members.pending_banner(db.session, membership)}
    if membership.role is Role.ADMIN:
        domain = services.domain_of(db.session, membership.account_id)
        if domain is not None and domain.status is DomainStatus.FAILING:
            result["workspace_failing"] = (domain, PROBLEMS[domain.problem])
    return result


@bp.get("/")
@require_role(Role.ADMIN)
def setup() -> str:
    membership = _membership()
    domain = services.domain_of(db.session, membership.account_id)
    settings = current_settings()
    context: dict[str, Any] = {
        "domain": domain,
        "scope": CONTACTS_SCOPE,
        "modes": DomainMode,
        "installation_available": bool(
            settings.domain_service_account or settings.domain_service_account_key_file
        ),
        "statement_version": STATEMENT_VERSION,
        "problem": PROBLEMS.get(domain.problem) if domain is not None else None,
        "first_runs_per_minute": settings.domain_first_runs_per_minute,
        "max_invites": members.MAX_INVITES,
    }
    if domain is not None:
        lists = db.session.scalars(
            db.select(ContactList)
            .where(ContactList.account_id == domain.account_id, ContactList.deleted_at.is_(None))
            .order_by(ContactList.name)
        ).all()
        context.update(
            statement_accepted=services.statement_accepted(db.session, domain),
            members=members.domain_members(db.session, domain),
            lists=lists,
            lists_by_id={contact_list.id: contact_list for contact_list in lists},
            assignments=members.assignments(db.session, domain),
            members_by_id={m.id: m for m in members.domain_members(db.session, domain)},
            ok=domain.status is DomainStatus.ACTIVE and domain.problem is DomainProblem.NONE,
        )
    return render_template("workspace/setup.html", **context)


def _done(message: str, category: str = "success") -> Response:
    flash(message, category)
    return redirect(url_for("workspace.setup"))


@bp.post("/connect")
@require_role(Role.ADMIN)
def connect() -> Response:
    try:
        mode = DomainMode(request.form.get("mode", ""))
        services.connect(db.session, _membership(), request.form.get("domain", ""), mode, current_settings())
    except ValueError:
        return _done(_("Choose whose service account GroupSync should use."), "error")
    except services.WorkspaceError as exc:
        return _done(str(exc), "error")
    return _done(_("Domain added. Follow the steps below, then press Test."))


@bp.post("/key")
@require_role(Role.ADMIN)
def upload_key() -> Response:
    upload = request.files.get("key_file")
    raw = upload.read(MAX_KEY_BYTES + 1) if upload is not None else b""
    if not raw:
        return _done(_("Choose the JSON key file to upload."), "error")
    if len(raw) > MAX_KEY_BYTES:
        return _done(_("That file is too large to be a service account key."), "error")
    try:
        text = raw.decode("utf-8")
        services.store_key(
            db.session, TokenVault.for_settings(current_settings()), _domain_or_404(), _membership(), text
        )
    except UnicodeDecodeError:
        return _done(_("The key file cannot be used: it is not a text (JSON) file."), "error")
    except services.WorkspaceError as exc:
        return _done(str(exc), "error")
    return _done(_("Key stored, encrypted. It will not be shown again. Press Test to check the set-up."))


@bp.post("/key/remove")
@require_role(Role.ADMIN)
def remove_key() -> Response:
    services.remove_key(db.session, _domain_or_404(), _membership())
    return _done(
        _("Key removed. Syncs through the domain are stopped; nothing was deleted in Google."), "info"
    )


@bp.post("/statement")
@require_role(Role.ADMIN)
def accept_statement() -> Response:
    if request.form.get("confirm") != "yes":
        return _done(_("Tick the box to confirm the statement."), "error")
    try:
        services.accept_statement(
            db.session, _domain_or_404(), _membership(), request.form.get("version", "")
        )
    except services.WorkspaceError as exc:
        return _done(str(exc), "error")
    return _done(_("Statement confirmed."))


@bp.post("/test")
@require_role(Role.ADMIN)
def test() -> Response:
    settings = current_settings()
    result = services.test(
        db.session, settings, TokenVault.for_settings(settings), _domain_or_404(), _membership()
    )
    if result.ok:
        return _done(_("Test passed: Google issued a token for you and the People API answered."))
    message = PROBLEMS[result.problem]
    return _done(_("Test failed. %(what)s %(fix)s", what=message.what, fix=message.fix), "error")


@bp.post("/assign")
@require_role(Role.ADMIN)
def assign() -> Response:
    """Give one list to the members ticked (or to every member of the domain) in one call."""
    domain = _domain_or_404()
    contact_list = db.session.get(ContactList, request.form.get("list_id", type=int) or 0)
    if request.form.get("all_members") == "yes":
        chosen = members.domain_members(db.session, domain)
    else:
        ids = {int(v) for v in request.form.getlist("membership_id") if v.isdigit()}
        chosen = [
            m
            for m in db.session.scalars(db.select(Membership).where(Membership.id.in_(ids)))
            if m.account_id == domain.account_id
        ]
    if not chosen or contact_list is None:
        return _done(_("Choose at least one member and a list."), "error")
    settings = current_settings()
    try:
        result = members.assign_many(
            db.session,
            settings,
            Mailer.for_settings(settings),
            domain,
            admin=_membership(),
            members=chosen,
            contact_list=contact_list,
        )
    except services.WorkspaceError as exc:
        return _done(str(exc), "error")
    for refusal in result.refused:
        flash(_("Not given to %(email)s: %(reason)s", email=refusal.email, reason=refusal.reason), "error")
    if not result.assigned:
        return redirect(url_for("workspace.setup"))
    count = len(result.assigned)
    return _done(
        ngettext(
            "%(list)s will be synced into the Google Contacts of %(num)d member. "
            "First syncs start a few at a time, so some may take a few minutes to begin.",
            "%(list)s will be synced into the Google Contacts of %(num)d members. "
            "First syncs start a few at a time, so some may take a few minutes to begin.",
            count,
            list=contact_list.name,
        )
    )


@bp.post("/invite")
@require_role(Role.ADMIN)
def invite() -> Response:
    """One address, or many pasted at once (separated by commas, spaces or lines)."""
    try:
        result = members.invite_many(
            db.session, _domain_or_404(), _membership(), request.form.get("email", "")
        )
    except services.WorkspaceError as exc:
        return _done(str(exc), "error")
    for refusal in result.refused:
        flash(_("Not invited: %(reason)s", reason=refusal.reason), "error")
    if not result.invited:
        return redirect(url_for("workspace.setup"))
    return _done(
        ngettext(
            "Invited %(num)d colleague (%(emails)s): once they sign in, you can give them lists.",
            "Invited %(num)d colleagues (%(emails)s): once they sign in, you can give them lists.",
            len(result.invited),
            emails=", ".join(result.invited),
        )
    )


# --- the member's side ----------------------------------------------------------------------------


@bp.get("/my")
@require_role(Role.ADMIN, Role.MEMBER)
def mine() -> str:
    membership = _membership()
    rows = members.my_assignments(db.session, membership)
    lists = {row.list_id: db.session.get(ContactList, row.list_id) for row, _ in rows}
    return render_template(
        "workspace/mine.html",
        rows=rows,
        lists=lists,
        domain=services.domain_of(db.session, membership.account_id),
    )


@bp.post("/my/<int:assignment_id>/off")
@require_role(Role.ADMIN, Role.MEMBER)
def turn_off(assignment_id: int) -> Response:
    try:
        members.turn_off(db.session, _membership(), assignment_id)
    except services.WorkspaceError:
        abort(404)
    flash(_("Turned off. GroupSync will not change this group any more; the contacts stay in it."), "info")
    return redirect(url_for("workspace.mine"))


@bp.post("/my/<int:assignment_id>/on")
@require_role(Role.ADMIN, Role.MEMBER)
def turn_on(assignment_id: int) -> Response:
    try:
        members.turn_on(db.session, _membership(), assignment_id)
    except services.WorkspaceError:
        abort(404)
    flash(_("Turned on again."), "info")
    return redirect(url_for("workspace.mine"))


@bp.post("/banner/dismiss")
@require_role(Role.ADMIN, Role.MEMBER)
def dismiss_banner() -> Response:
    members.dismiss_banner(db.session, _membership())
    return redirect(request.referrer or url_for("workspace.mine"))
