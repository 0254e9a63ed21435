"""Admin pages of the CRM domain (lists and who may sync them, contacts, API keys, CSV import).

The CRM-facing REST API lives in :mod:`app.crm.api`, nested under this blueprint.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.accounts.api import admin_bp
from app.accounts.models import Membership, Role
from app.accounts.tenancy import current_account, current_user, get_scoped_or_404, require_role, scoped
from app.config import current_settings
from app.contact_fields import shown_name
from app.crm import csv_import, services
from app.crm.api import api_bp
from app.crm.models import ApiKey, ContactList, CrmContact, CsvUpload
from app.crm.validation import InputError
from app.db import utcnow
from app.extensions import db, ngettext, shown_message
from app.extensions import gettext as _
from app.flows import reach
from app.security.audit import AuditAction, step
from app.web import confirm

bp = Blueprint("crm", __name__)
api_bp.register_blueprint(admin_bp)
bp.register_blueprint(api_bp)

_PAGE = 50
_MAX_ROW_ID = 2**31 - 1
"""Ids are INTEGER columns on PostgreSQL; a larger number cannot name a row."""
_ROW_ID = f"int(max={_MAX_ROW_ID})"
_FORM_TOKEN_BYTES = 16
_FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
"""What ``secrets.token_urlsafe(_FORM_TOKEN_BYTES)`` gives."""


def _actor() -> str:
    user = current_user()
    assert user is not None
    return f"user:{user.id}"


def _actor_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


@bp.get("/admin/crm")
@require_role(Role.ADMIN)
def overview() -> str:
    account = current_account()
    lists = list(
        db.session.scalars(
            scoped(select(ContactList), ContactList)
            .where(ContactList.deleted_at.is_(None))
            .order_by(ContactList.name)
        )
    )
    members = list(db.session.scalars(scoped(select(Membership), Membership).order_by(Membership.id)))
    return render_template(
        "crm/overview.html",
        lists=lists,
        sizes=services.list_sizes(db.session, [r.id for r in lists]),
        access=services.access_by_list(db.session, account.id),
        syncs=services.syncs_by_list(db.session, account.id),
        members=[m for m in members if m.role is not Role.REVIEWER],
        region=services.default_region(db.session, account.id) or "",
    )


@bp.post("/admin/crm/settings")
@require_role(Role.ADMIN)
def save_settings() -> Response:
    try:
        region = services.set_default_region(db.session, current_account().id, request.form.get("region", ""))
    except InputError as exc:
        flash(_("Default phone region %(problem)s.", problem=shown_message(exc.errors[0].stored())), "error")
    else:
        flash(_("Default phone region: %(region)s.", region=region or _("none")), "info")
    return redirect(url_for("crm.overview"))


@bp.post("/admin/crm/lists")
@require_role(Role.ADMIN)
def create_list() -> Response:
    try:
        contact_list = services.create_list(db.session, current_account().id, request.form.get("name", ""))
    except InputError as exc:
        flash(
            _("List name %(problem)s; no list was created.", problem=shown_message(exc.errors[0].stored())),
            "error",
        )
    except services.NameTakenError as exc:
        flash(_("A list named '%(name)s' already exists; no list was created.", name=exc.other_name), "error")
    else:
        flash(
            _("List '%(name)s' created; make it available to members below.", name=contact_list.name), "info"
        )
    return redirect(url_for("crm.overview"))


@bp.post(f"/admin/crm/lists/<{_ROW_ID}:list_id>/rename")
@require_role(Role.ADMIN)
def rename_list(list_id: int) -> Response:
    contact_list = get_scoped_or_404(ContactList, list_id)
    old_name = contact_list.name
    try:
        outcome = services.rename_list(db.session, contact_list, request.form.get("name", ""))
    except InputError as exc:
        flash(
            _(
                "List name %(problem)s; '%(name)s' keeps its name.",
                problem=shown_message(exc.errors[0].stored()),
                name=old_name,
            ),
            "error",
        )
    except services.NameTakenError as exc:
        flash(
            _(
                "A list named '%(other)s' already exists; '%(name)s' keeps its name.",
                other=exc.other_name,
                name=old_name,
            ),
            "error",
        )
    except services.NotFoundError:
        abort(404)
    else:
        if outcome is services.Outcome.UNCHANGED:
            flash(_("'%(name)s' already has that name.", name=old_name), "info")
        else:
            flash(
                _(
                    "'%(old)s' is now '%(new)s'. Google groups already made from it keep "
                    "their name; groups created from now on take the new one.",
                    old=old_name,
                    new=contact_list.name,
                ),
                "info",
            )
    return redirect(url_for("crm.overview"))


@bp.post(f"/admin/crm/lists/<{_ROW_ID}:list_id>/access")
@require_role(Role.ADMIN)
def grant(list_id: int) -> Response:
    contact_list = get_scoped_or_404(ContactList, list_id)
    membership_id = request.form.get("membership_id", type=int)
    if membership_id is None or not 0 < membership_id <= _MAX_ROW_ID:
        abort(400)
    membership = get_scoped_or_404(Membership, membership_id)
    record = step(
        contact_list.account_id,
        AuditAction.LIST_ACCESS_GRANTED,
        actor_user_id=_actor_id(),
        detail={"list_id": contact_list.id, "member_user_id": membership.user_id},
    )
    if services.grant_access(db.session, contact_list, membership, _actor(), record=record):
        flash(
            _(
                "'%(name)s' is now available to %(email)s.",
                name=contact_list.name,
                email=membership.user.email,
            ),
            "info",
        )
    return redirect(url_for("crm.overview"))


def _withdraw_confirmation(contact_list: ContactList, membership: Membership) -> confirm.Confirmation:
    counted = reach.of_list_for_member(db.session, contact_list, membership.id)
    email = membership.user.email
    lines = [ngettext("The list has %(num)s contact.", "The list has %(num)s contacts.", counted.list_size)]
    if counted.reach.syncs:
        lines.append(
            ngettext(
                "At the next sync, %(num)s contact leaves GroupSync's group in 1 member's Google "
                "account (%(email)s).",
                "At the next sync, %(num)s contacts leave GroupSync's group in 1 member's Google "
                "account (%(email)s).",
                counted.reach.contacts,
                email=email,
            )
        )
    else:
        lines.append(_("%(email)s does not sync it, so no Google account loses a contact.", email=email))
    return confirm.Confirmation(
        title=_("Withdraw '%(name)s' from %(email)s?", name=contact_list.name, email=email),
        consequences=lines,
        button=_("Withdraw the list"),
        cancel_url=url_for("crm.overview"),
        reassurance=_("The contacts stay in the CRM; you can make the list available again at any time."),
    )


@bp.route(
    f"/admin/crm/lists/<{_ROW_ID}:list_id>/access/<{_ROW_ID}:membership_id>/withdraw", methods=["GET", "POST"]
)
@require_role(Role.ADMIN)
def withdraw(list_id: int, membership_id: int) -> Response | tuple[str, int]:
    """GET asks (with the numbers); a confirmed POST withdraws; an unconfirmed one is sent to ask."""
    contact_list = get_scoped_or_404(ContactList, list_id)
    membership = get_scoped_or_404(Membership, membership_id)
    if request.method == "GET":
        return confirm.ask(_withdraw_confirmation(contact_list, membership))
    if not confirm.confirmed():
        return confirm.to_confirmation_page()
    record = step(
        contact_list.account_id,
        AuditAction.LIST_ACCESS_WITHDRAWN,
        actor_user_id=_actor_id(),
        detail={"list_id": contact_list.id, "membership_id": membership_id},
    )
    if services.withdraw_access(db.session, contact_list, membership_id, _actor(), record=record):
        flash(
            _(
                "'%(name)s' was withdrawn; its contacts leave that member's Google group.",
                name=contact_list.name,
            ),
            "info",
        )
    return redirect(url_for("crm.overview"), code=303)


@bp.get("/admin/crm/contacts")
@require_role(Role.ADMIN)
def contacts() -> str:
    query = request.args.get("q", "").strip()[:100]
    cursor = request.args.get("cursor", type=int)
    if cursor is not None and not 0 <= cursor <= _MAX_ROW_ID:
        abort(400)
    page = services.search_contacts(db.session, current_account().id, query, cursor, _PAGE)
    return render_template("crm/contacts.html", page=page, query=query)


def _undo_window() -> timedelta:
    """Deletions on the page wait one sync interval, during which the admin may undo them."""
    return timedelta(seconds=current_settings().sync_interval_seconds)


def _delete_confirmation(contact: CrmContact) -> confirm.Confirmation:
    where = services.deletion_reach(db.session, contact)
    name = shown_name(contact) or contact.crm_id
    if where.lists:
        lines = [
            ngettext(
                "%(who)s is in %(num)s list: %(lists)s.",
                "%(who)s is in %(num)s lists: %(lists)s.",
                len(where.lists),
                who=name,
                lists=", ".join(where.lists),
            ),
            ngettext(
                "Deleting it removes 1 contact from GroupSync's group in %(num)s member's Google account.",
                "Deleting it removes 1 contact from GroupSync's group in %(num)s members' Google accounts.",
                where.google_accounts,
            ),
        ]
    else:
        lines = [_("%(who)s is in no list, so no Google account holds it through GroupSync.", who=name)]
    minutes = int(_undo_window().total_seconds() // 60)
    return confirm.Confirmation(
        title=_("Delete contact %(id)s?", id=name),  # "id" in the catalogues: the name, else the CRM id
        consequences=lines,
        button=_("Delete contact"),
        cancel_url=url_for("crm.contacts", q=request.args.get("q", "")[:100]),
        reassurance=ngettext(
            "The deletion waits for the next sync interval (%(num)s minute): until then you can undo it "
            "and nothing leaves Google.",
            "The deletion waits for the next sync interval (%(num)s minutes): until then you can undo it "
            "and nothing leaves Google.",
            minutes,
        ),
    )


@bp.route(f"/admin/crm/contacts/<{_ROW_ID}:contact_id>/delete", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def delete_contact(contact_id: int) -> Response | tuple[str, int]:
    """GET asks (saying what will happen); a confirmed POST deletes and redirects to the receipt.

    One rule for both methods: werkzeug answers an id beyond the column's range with 405, not
    404, when two rules share the pattern.
    """
    contact = get_scoped_or_404(CrmContact, contact_id)
    if not contact.deleted and request.method == "POST":
        if not confirm.confirmed():
            return confirm.to_confirmation_page()
        services.delete_with_undo(db.session, contact, _actor(), _undo_window())
    if contact.deleted:
        # A redirect, so reloading or going Back never sends the deletion again.
        return redirect(url_for("crm.contact_deleted", contact_id=contact.id), code=303)
    return confirm.ask(_delete_confirmation(contact))


@bp.get(f"/admin/crm/contacts/<{_ROW_ID}:contact_id>/deleted")
@require_role(Role.ADMIN)
def contact_deleted(contact_id: int) -> str | Response:
    contact = get_scoped_or_404(CrmContact, contact_id)
    if not contact.deleted:
        flash(_("Contact %(id)s is not deleted.", id=contact.crm_id), "info")
        return redirect(url_for("crm.contacts"))
    return render_template(
        "crm/contact_deleted.html",
        contact=contact,
        reach=services.deletion_reach(db.session, contact),
        can_undo=contact.undo_until is not None and contact.undo_until > utcnow(),
    )


@bp.post(f"/admin/crm/contacts/<{_ROW_ID}:contact_id>/undo")
@require_role(Role.ADMIN)
def undo_delete_contact(contact_id: int) -> Response:
    contact = get_scoped_or_404(CrmContact, contact_id)
    if services.undo_delete(db.session, contact):
        flash(_("Contact %(id)s is back; nothing was removed from Google.", id=contact.crm_id), "info")
        return redirect(url_for("crm.contacts"))
    flash(
        _(
            "Contact %(id)s can no longer be restored here: its undo window has ended. "
            "The CRM can send it again through the API.",
            id=contact.crm_id,
        ),
        "error",
    )
    return redirect(url_for("crm.contact_deleted", contact_id=contact.id))


def _render_api_keys(new_key: ApiKey | None = None, secret: str | None = None) -> str:
    # Each rendered create form carries a fresh token the new key records, so sending that
    # form again (reloading the page that shows the secret) cannot create a second key.
    keys = services.api_keys(db.session, current_account().id)
    form_token = secrets.token_urlsafe(_FORM_TOKEN_BYTES)
    return render_template(
        "crm/api_keys.html", keys=keys, form_token=form_token, new_key=new_key, secret=secret
    )


@bp.get("/admin/crm/api-keys")
@require_role(Role.ADMIN)
def api_keys() -> str:
    return _render_api_keys()


@bp.post("/admin/crm/api-keys")
@require_role(Role.ADMIN)
def create_api_key() -> str | Response:
    token = request.form.get("form_token", "")
    if not _FORM_TOKEN.fullmatch(token):
        flash(
            _("The form was incomplete or out of date; nothing was created. Please try again here."), "error"
        )
        return redirect(url_for("crm.api_keys"))
    user = current_user()
    try:
        key, secret = services.create_api_key(
            db.session,
            current_account().id,
            request.form.get("name", ""),
            user.id if user else None,
            form_token=token,
            record=step(
                current_account().id,
                AuditAction.API_KEY_CREATED,
                actor_user_id=user.id if user else None,
                detail={"name": request.form.get("name", "")[:100]},
            ),
        )
    except InputError as exc:
        flash(_("Key name %(problem)s.", problem=shown_message(exc.errors[0].stored())), "error")
        return redirect(url_for("crm.api_keys"))
    except services.FormAlreadyUsedError:
        flash(
            _(
                "This form already created its key, whose secret is shown only once. "
                "If you did not copy it, revoke that key and create a new one."
            ),
            "info",
        )
        return redirect(url_for("crm.api_keys"))
    # The secret is rendered into this one response and never stored or shown again.
    return _render_api_keys(new_key=key, secret=secret)


@bp.route(f"/admin/crm/api-keys/<{_ROW_ID}:key_id>/revoke", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def revoke_api_key(key_id: int) -> Response | tuple[str, int]:
    """GET asks; a confirmed POST revokes; an unconfirmed one is sent to ask."""
    key = get_scoped_or_404(ApiKey, key_id)
    if key.revoked_at is not None:
        flash(_("API key '%(name)s' is already revoked.", name=key.name), "info")
        return redirect(url_for("crm.api_keys"), code=303)
    if request.method == "GET":
        return confirm.ask(
            confirm.Confirmation(
                title=_("Revoke API key '%(name)s'?", name=key.name),
                consequences=[
                    _("Every CRM or script that uses this key is refused from now on."),
                    _("No contact is deleted: 0 contacts leave 0 members' Google accounts."),
                ],
                button=_("Revoke the key"),
                cancel_url=url_for("crm.api_keys"),
                reassurance=_("A revoked key cannot be used again; create a new key when you need one."),
            )
        )
    if not confirm.confirmed():
        return confirm.to_confirmation_page()
    record = step(
        key.account_id,
        AuditAction.API_KEY_REVOKED,
        actor_user_id=_actor_id(),
        detail={"key_id": key.id, "key_name": key.name},
    )
    services.revoke_api_key(db.session, key, record=record)
    flash(_("API key '%(name)s' revoked.", name=key.name), "info")
    return redirect(url_for("crm.api_keys"), code=303)


@bp.get("/admin/crm/import")
@require_role(Role.ADMIN)
def import_form() -> str:
    lists = db.session.scalars(
        scoped(select(ContactList), ContactList)
        .where(ContactList.deleted_at.is_(None))
        .order_by(ContactList.name)
    )
    return render_template("crm/import.html", lists=list(lists))


@bp.post("/admin/crm/import")
@require_role(Role.ADMIN)
def upload() -> str | Response:
    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Choose a CSV file to upload."), "error")
        return redirect(url_for("crm.import_form"))
    user = current_user()
    try:
        staged, _parsed = csv_import.stage_upload(
            db.session,
            current_account().id,
            filename=file.filename,
            content=file.read(),
            list_name=request.form.get("list_name", ""),
            user_id=user.id if user else None,
        )
    except csv_import.CsvError as exc:
        flash(f"{file.filename}: {shown_message(str(exc))}.", "error")
        return redirect(url_for("crm.import_form"))
    except InputError as exc:
        flash(_("List name %(problem)s.", problem=shown_message(exc.errors[0].stored())), "error")
        return redirect(url_for("crm.import_form"))
    # A redirect, so Back and reload after the next step never send the file again.
    return redirect(url_for("crm.run_import", upload_id=staged.id))


def _render_preview(staged: CsvUpload, parsed: csv_import.ParsedCsv, mapping: list[str]) -> str:
    """The mapping page; it says before the Import button how many rows the mapping would import."""
    try:
        check: csv_import.RowCheck | None = csv_import.check_rows(
            db.session, staged.account_id, parsed, mapping
        )
    except csv_import.CsvError:
        check = None  # the mapping itself is incomplete; the Import button names what is missing
    return render_template(
        "crm/preview.html",
        upload=staged,
        parsed=parsed,
        preview=parsed.rows[:10],
        mapping=mapping,
        targets=csv_import.TARGETS,
        check=check,
    )


@bp.route(f"/admin/crm/import/<{_ROW_ID}:upload_id>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def run_import(upload_id: int) -> str | Response | tuple[str, int]:
    """GET shows the mapping page; POST imports and redirects to the report (reloadable)."""
    staged = get_scoped_or_404(CsvUpload, upload_id)
    if staged.imported_at is not None:
        return redirect(url_for("crm.import_report", upload_id=staged.id))
    if request.method == "GET":
        parsed = csv_import.parse_csv(staged.content)
        return _render_preview(staged, parsed, csv_import.guess_mapping(parsed.headers))
    mapping = request.form.getlist("column")
    try:
        csv_import.run_upload(db.session, staged, mapping)
    except csv_import.CsvError as exc:
        db.session.rollback()
        flash(f"{shown_message(str(exc))}.", "error")
        # The mapping page again, with what the admin chose and 400: nothing was imported.
        return _render_preview(staged, csv_import.parse_csv(staged.content), mapping), 400
    except services.ConflictError:
        abort(409)
    return redirect(url_for("crm.import_report", upload_id=staged.id))


@bp.get(f"/admin/crm/import/<{_ROW_ID}:upload_id>/report")
@require_role(Role.ADMIN)
def import_report(upload_id: int) -> str | Response:
    staged = get_scoped_or_404(CsvUpload, upload_id)
    if staged.report is None:
        return redirect(url_for("crm.run_import", upload_id=staged.id))
    return render_template("crm/report.html", report=csv_import.report_from_json(staged.report))
