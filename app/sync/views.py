"""Sync health and controls: turn a list's sync on or off, "sync now", and the answers to failure states.

Thin views: parse, call one service, map the result. Every sync is looked up through
:func:`get_scoped_or_404` and must belong to the signed-in member (admins may confirm a held
mass delete for any sync of their account).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts.models import Role
from app.accounts.tenancy import current_account, current_membership, get_scoped_or_404, require_role
from app.crm.models import ContactList
from app.extensions import db, shown_message
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.ledger.human_view import requires_view_reason
from app.sync import report, services
from app.sync.models import ContactSync, SyncRun, SyncStatus
from app.sync.report import ContactState, SkipReason
from app.sync.words import not_carried_words
from app.web import confirm

bp = Blueprint("sync", __name__)

ADVICE = {
    SyncStatus.NEEDS_RECONNECT: _l("Reconnect your Google account to resume."),
    SyncStatus.AWAITING_ACCEPTANCE: _l("Review and accept the privacy policy to resume (link at the top)."),
    SyncStatus.GROUP_DELETED_BY_USER: _l("Recreate the group to resume syncing."),
    SyncStatus.QUOTA: _l("Nothing to do: GroupSync retries once Google's quota allows."),
    SyncStatus.GOOGLE_CONTACT_LIMIT: _l("Delete contacts you no longer need in Google Contacts, then sync."),
    SyncStatus.AWAITING_MASS_DELETE_CONFIRMATION: _l("An admin of your account must confirm the deletions."),
    SyncStatus.FAILED: _l("Nothing to do: the next run retries."),
}


_FIXES = {
    SyncStatus.NEEDS_RECONNECT: (_l("Reconnect Google"), "google.connection"),
    SyncStatus.AWAITING_ACCEPTANCE: (_l("Review and accept"), "privacy.review"),
}
"""The page that fixes a stopped sync, linked from its advice and from its error messages."""


def fix_link(status: SyncStatus) -> tuple[str, str] | None:
    """(link text, URL) of the page that fixes a sync in ``status``, if one page does."""
    found = _FIXES.get(status)
    return (str(found[0]), url_for(found[1])) if found else None


STATE_WORDS = {
    ContactState.IN_SYNC: _l("in sync"),
    ContactState.CREATED: _l("created in this run"),
    ContactState.RECREATED: _l("created again in this run (it had been deleted in Google)"),
    ContactState.ADOPTED: _l("found in Google and kept in this run"),
    ContactState.UPDATED: _l("updated in this run"),
    ContactState.READDED: _l("put back into the group in this run"),
    ContactState.DELETED: _l("deleted from Google in this run"),
    ContactState.RELEASED: _l("taken out of the group in this run (kept in your own group)"),
    ContactState.SKIPPED: _l("skipped"),
}
SKIP_WORDS = {
    SkipReason.STOPPED_BY_USER: _l("you asked GroupSync to leave it alone"),
    SkipReason.GOOGLE_REFUSED: _l("Google refused the change; the next run tries again"),
    SkipReason.NOT_CONFIRMED: _l("Google has not confirmed the create yet; the next run checks"),
}


@bp.context_processor
def _words() -> dict[str, object]:
    return {"not_carried_words": not_carried_words}


def _own_sync(sync_id: int) -> ContactSync:
    sync = get_scoped_or_404(ContactSync, sync_id)
    membership = current_membership()
    if membership is None or sync.membership_id != membership.id:
        abort(404)
    return sync


@bp.get("/syncs")
@require_role(Role.ADMIN, Role.MEMBER)
def overview() -> str:
    membership = current_membership()
    assert membership is not None
    return render_template(
        "sync/overview.html",
        items=services.syncs_of(db.session, membership),
        advice=ADVICE,
        fix_link=fix_link,
    )


@bp.post("/syncs")
@require_role(Role.ADMIN, Role.MEMBER)
def turn_on() -> Response:
    membership = current_membership()
    assert membership is not None
    list_id = request.form.get("list_id", type=int)
    if list_id is None:
        abort(400)
    contact_list = get_scoped_or_404(ContactList, list_id)
    try:
        sync = services.enable_sync(db.session, membership, contact_list.id)
    except services.SyncNotAllowedError as exc:
        message = _("'%(name)s' cannot be synced: %(reason)s.", name=contact_list.name, reason=exc.reason)
        if exc.needs_connection:
            flash(confirm.with_link(message, _("Connect Google"), url_for("google.connection")), "error")
        else:
            flash(message, "error")
        return redirect(url_for("sync.overview"))
    flash(_("Syncing '%(name)s' into your Google Contacts.", name=contact_list.name), "info")
    return redirect(url_for("sync.detail", sync_id=sync.id))


@bp.get("/syncs/<int:sync_id>")
@require_role(Role.ADMIN, Role.MEMBER)
def detail(sync_id: int) -> str:
    sync = _own_sync(sync_id)
    contact_list = db.session.get(ContactList, sync.list_id)
    return render_template(
        "sync/detail.html",
        health=services.health(db.session, sync),
        contact_list=contact_list,
        advice=ADVICE,
        fix_link=fix_link,
    )


def _run_json(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    contacts = report.progress(run)
    return {
        "outcome": run.outcome.value,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "message": shown_message(run.message),
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "contacts": {
            "done": contacts.done,
            "total": contacts.total,
            "seconds_left": contacts.seconds_left,
        },
        "counts": {
            "in_sync": run.in_sync,
            "created": run.created,
            "recreated": run.recreated,
            "adopted": run.adopted,
            "updated": run.updated,
            "deleted": run.deleted,
            "released": run.released,
            "readded": run.readded,
            "failed": run.failed,
            "not_carried": run.not_carried,
        },
    }


@bp.get("/syncs/<int:sync_id>/status")
@require_role(Role.ADMIN, Role.MEMBER)
def status(sync_id: int) -> Response:
    health = services.health(db.session, _own_sync(sync_id), history=1)
    sync = health.sync
    return jsonify(
        {
            "id": sync.id,
            "enabled": sync.enabled,
            "status": sync.status.value,
            "message": shown_message(sync.status_detail),
            "advice": ADVICE.get(sync.status, ""),
            "group_name": sync.group_name,
            "contacts_in_group": health.in_group,
            "last_run_at": sync.last_run_at.isoformat() if sync.last_run_at else None,
            "next_run_at": sync.next_due_at.isoformat() if sync.next_due_at else None,
            "running": health.running is not None,
            "latest_run": _run_json(health.runs[0] if health.runs else None),
        }
    )


def _contacts_page(sync: ContactSync, endpoint: str) -> str:
    page = report.contacts_of(
        db.session,
        sync,
        query=request.args.get("q", ""),
        page=request.args.get("page", 1, type=int) or 1,
        run_id=request.args.get("run", type=int),
    )
    if page is None:
        abort(404)
    return render_template(
        "sync/contacts.html",
        sync=sync,
        contact_list=db.session.get(ContactList, sync.list_id),
        contacts=page,
        runs=report.runs_of(db.session, sync),
        progress=report.progress(page.run) if page.run else None,
        endpoint=endpoint,
        state_words=STATE_WORDS,
        skip_words=SKIP_WORDS,
    )


@bp.get("/syncs/<int:sync_id>/contacts")
@require_role(Role.ADMIN, Role.MEMBER)
def contacts(sync_id: int) -> str:
    return _contacts_page(_own_sync(sync_id), "sync.contacts")


@bp.post("/syncs/<int:sync_id>/run")
@require_role(Role.ADMIN, Role.MEMBER)
def run_now(sync_id: int) -> Response:
    if services.request_run_now(db.session, _own_sync(sync_id)):
        flash(_("The sync starts in a moment."), "info")
    else:
        sync = _own_sync(sync_id)
        message = _("This sync cannot run now.")
        advice = ADVICE.get(sync.status)
        if advice is not None:
            message = f"{message} {advice}"
        fix = fix_link(sync.status)
        flash(confirm.with_link(message, *fix) if fix else message, "error")
    return redirect(url_for("sync.detail", sync_id=sync_id))


@bp.post("/syncs/<int:sync_id>/disable")
@require_role(Role.ADMIN, Role.MEMBER)
def turn_off(sync_id: int) -> Response:
    sync = _own_sync(sync_id)
    membership = current_membership()
    assert membership is not None
    services.disable_sync(db.session, sync, f"user:{membership.user_id}")
    flash(_("Sync turned off. Contacts already in Google stay there."), "info")
    return redirect(url_for("sync.overview"))


@bp.post("/syncs/<int:sync_id>/recreate-group")
@require_role(Role.ADMIN, Role.MEMBER)
def recreate_group(sync_id: int) -> Response:
    services.recreate_group(db.session, _own_sync(sync_id))
    flash(_("A new group will be created at the next run."), "info")
    return redirect(url_for("sync.detail", sync_id=sync_id))


@bp.post("/syncs/<int:sync_id>/contacts/<crm_id>/stop")
@require_role(Role.ADMIN, Role.MEMBER)
def stop_contact(sync_id: int, crm_id: str) -> Response:
    if not services.stop_syncing_contact(db.session, _own_sync(sync_id), crm_id):
        abort(404)
    flash(_("GroupSync will leave that contact alone from now on."), "info")
    return redirect(url_for("sync.detail", sync_id=sync_id))


@bp.get("/admin/syncs")
@require_role(Role.ADMIN)
@requires_view_reason("sync_health")
def admin_overview() -> str:
    account = current_account()
    return render_template(
        "sync/admin.html", rows=report.account_syncs(db.session, account.id), account=account
    )


@bp.get("/admin/syncs/<int:sync_id>/contacts")
@require_role(Role.ADMIN)
@requires_view_reason("sync_health", scope=lambda sync_id: get_scoped_or_404(ContactSync, sync_id))
def admin_contacts(sync_id: int) -> str:
    return _contacts_page(get_scoped_or_404(ContactSync, sync_id), "sync.admin_contacts")


@bp.post("/admin/syncs/<int:sync_id>/confirm-mass-delete")
@require_role(Role.ADMIN)
def confirm_mass_delete(sync_id: int) -> Response:
    services.confirm_mass_delete(db.session, get_scoped_or_404(ContactSync, sync_id))
    flash(_("Confirmed: the next run applies the deletions."), "info")
    return redirect(url_for("sync.admin_overview"))
