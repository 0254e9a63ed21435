"""Admin pages for the account's people: members and roles, invitations, removal; unfreezing."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.accounts import services
from app.accounts.models import Invitation, Membership, Role
from app.accounts.tenancy import current_account, current_membership, get_scoped_or_404, require_role
from app.config import current_settings
from app.db import utcnow
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.flows import inactivity, reach
from app.flows import members as member_flows
from app.google.vault import TokenVault
from app.security.audit import AuditAction, step
from app.web import confirm

bp = Blueprint("accounts", __name__, url_prefix="/account")


def _back(error: services.MembershipError | None = None, success: str = "") -> Response:
    if error is not None:
        flash(str(error), "error")
    elif success:
        flash(success, "success")
    return redirect(url_for("accounts.members"))


def _actor() -> int | None:
    me = current_membership()
    return me.user_id if me is not None else None


@bp.get("/members")
@require_role(Role.ADMIN)
def members() -> str:
    account = current_account()
    return render_template(
        "accounts/members.html",
        account=account,
        members=services.members_of(db.session(), account),
        invitations=services.invitations_of(db.session(), account),
        me=current_membership(),
        roles=list(Role),
    )


@bp.post("/invitations")
@require_role(Role.ADMIN)
def invite() -> Response:
    me = current_membership()
    assert me is not None
    try:
        role = services.parse_role(request.form.get("role", ""))
        invitation = services.invite(
            db.session(),
            current_account(),
            email=request.form.get("email", ""),
            role=role,
            invited_by=me.user,
            record=step(
                current_account().id,
                AuditAction.MEMBER_INVITED,
                actor_user_id=me.user_id,
                detail={"role": role.value},
            ),
        )
    except services.MembershipError as exc:
        return _back(exc)
    return _back(
        success=_(
            "Invited %(email)s as %(role)s.",
            email=invitation.email,
            role=services.role_label(invitation.role),
        )
    )


@bp.post("/invitations/<int:invitation_id>/withdraw")
@require_role(Role.ADMIN)
def withdraw_invitation(invitation_id: int) -> Response:
    invitation = get_scoped_or_404(Invitation, invitation_id)
    record = step(
        invitation.account_id,
        AuditAction.INVITATION_WITHDRAWN,
        actor_user_id=_actor(),
        detail={"invitation_id": invitation.id},
    )
    services.withdraw_invitation(db.session(), invitation, record=record)
    return _back(success=_("Invitation withdrawn."))


@bp.post("/members/<int:membership_id>/role")
@require_role(Role.ADMIN)
def change_role(membership_id: int) -> Response:
    membership = get_scoped_or_404(Membership, membership_id)
    try:
        role = services.parse_role(request.form.get("role", ""))
        record = step(
            membership.account_id,
            AuditAction.ROLE_CHANGED,
            actor_user_id=_actor(),
            detail={"member_user_id": membership.user_id, "from": membership.role.value, "to": role.value},
        )
        services.change_role(db.session(), membership, role, record=record)
    except services.MembershipError as exc:
        return _back(exc)
    flash(
        _(
            "%(email)s is now %(role)s.",
            email=membership.user.email,
            role=services.role_label(membership.role),
        ),
        "success",
    )
    # An admin who gave themselves another role may no longer open the members page.
    if membership.id == getattr(current_membership(), "id", None) and membership.role is not Role.ADMIN:
        return redirect(url_for("web.dashboard"))
    return redirect(url_for("accounts.members"))


def _remove_confirmation(membership: Membership, removing_self: bool) -> confirm.Confirmation:
    counted = reach.of_member(db.session(), membership)
    email = membership.user.email
    lines = [
        ngettext(
            "%(email)s loses %(num)s list sync.",
            "%(email)s loses %(num)s list syncs.",
            counted.syncs,
            email=email,
        ),
        ngettext(
            "GroupSync removes %(num)s contact it put there from its group in 1 member's Google account.",
            "GroupSync removes %(num)s contacts it put there from its groups in 1 member's Google account.",
            counted.contacts,
        )
        if counted.google_accounts
        else _("No Google account of theirs holds contacts from GroupSync."),
        _("GroupSync's access to their Google account is revoked and they are signed out of this account."),
    ]
    return confirm.Confirmation(
        title=_("Leave the account?") if removing_self else _("Remove %(email)s?", email=email),
        consequences=lines,
        button=_("Leave the account") if removing_self else _("Remove the member"),
        cancel_url=url_for("accounts.members"),
        reassurance=_("Their CRM lists and contacts stay; you can invite them again later."),
    )


@bp.route("/members/<int:membership_id>/remove", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def remove_member(membership_id: int) -> Response | tuple[str, int]:
    """GET asks (with the numbers); a confirmed POST removes; an unconfirmed one is sent to ask."""
    membership = get_scoped_or_404(Membership, membership_id)
    me = current_membership()
    removing_self = me is not None and me.id == membership.id
    if request.method == "GET":
        return confirm.ask(_remove_confirmation(membership, removing_self))
    if not confirm.confirmed():
        return confirm.to_confirmation_page()
    email = membership.user.email
    settings = current_settings()
    try:
        member_flows.remove_member(
            db.session(),
            membership,
            settings=settings,
            vault=TokenVault.for_settings(settings),
            record=step(
                membership.account_id,
                AuditAction.MEMBER_REMOVED,
                actor_user_id=_actor(),
                detail={"member_user_id": membership.user_id, "role": membership.role.value},
            ),
        )
    except services.MembershipError as exc:
        return _back(exc)
    if removing_self:
        return redirect(url_for("web.index"), code=303)
    return _back(success=_("%(email)s was removed from the account and signed out.", email=email))


@bp.post("/unfreeze")
@require_role(Role.ADMIN)
def unfreeze() -> Response:
    """An admin keeps the account: unfreezes it, or withdraws the warning that it will be frozen."""
    me = current_membership()
    assert me is not None
    if inactivity.unfreeze(db.session(), me, utcnow()):
        flash(_("The account is in use again: its syncs and API work as before."), "success")
    return redirect(url_for("web.dashboard"))
