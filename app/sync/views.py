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
from app.accounts.tenancy import current_account, current_membership, get_scoped_or_404, require_role, scoped
from app.crm.models import ContactList
from app.extensions import db, shown_message
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.ledger.human_view import requires_view_reason
from app.sync import services
from app.sync.models import ContactSync, SyncRun, SyncStatus

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
        "sync/overview.html", items=services.syncs_of(db.session, membership), advice=ADVICE
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
        flash(
            _("'%(name)s' cannot be synced: %(reason)s.", name=contact_list.name, reason=exc.reason), "error"
        )
        return redirect(url_for("sync.overview"))
    flash(_("Syncing '%(name)s' into your Google Contacts.", name=contact_list.name), "info")
    return redirect(url_for("sync.detail", sync_id=sync.id))


@bp.get("/syncs/<int:sync_id>")
@require_role(Role.ADMIN, Role.MEMBER)
def detail(sync_id: int) -> str:
    sync = _own_sync(sync_id)
    contact_list = db.session.get(ContactList, sync.list_id)
    return render_template(
        "sync/detail.html", health=services.health(db.session, sync), contact_list=contact_list, advice=ADVICE
    )


def _run_json(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "outcome": run.outcome.value,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "message": shown_message(run.message),
        "progress": {"done": run.progress_done, "total": run.progress_total},
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


@bp.post("/syncs/<int:sync_id>/run")
@require_role(Role.ADMIN, Role.MEMBER)
def run_now(sync_id: int) -> Response:
    if services.request_run_now(db.session, _own_sync(sync_id)):
        flash(_("The sync starts in a moment."), "info")
    else:
        flash(_("This sync cannot run now; see its status."), "error")
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
    syncs = db.session.scalars(scoped(db.select(ContactSync), ContactSync).order_by(ContactSync.id)).all()
    return render_template("sync/admin.html", syncs=syncs, account=current_account())


@bp.post("/admin/syncs/<int:sync_id>/confirm-mass-delete")
@require_role(Role.ADMIN)
def confirm_mass_delete(sync_id: int) -> Response:
    services.confirm_mass_delete(db.session, get_scoped_or_404(ContactSync, sync_id))
    flash(_("Confirmed: the next run applies the deletions."), "info")
    return redirect(url_for("sync.admin_overview"))
