"""Pages of GroupSync's own sign-in security: second factor, one's sessions, account rules, audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.accounts.models import LoginSession, Membership, Role, User
from app.accounts.services import members_of
from app.accounts.tenancy import (
    ANY_ROLE,
    current_account,
    current_login,
    current_membership,
    get_scoped_or_404,
    require_role,
    sign_out,
)
from app.config import current_settings
from app.extensions import db, ngettext
from app.extensions import gettext as _
from app.google.vault import TokenVault
from app.security import audit, passkeys, restrictions, services
from app.security.models import SecondFactorRule
from app.web_security import safe_next

bp = Blueprint("security", __name__, url_prefix="/security")


def _me() -> Membership:
    membership = current_membership()
    if membership is None:
        abort(401)
    return membership


def _vault() -> TokenVault:
    return TokenVault.for_settings(current_settings())


def _login() -> LoginSession:
    login = current_login()
    if login is None:
        abort(401)
    return login


def _rp() -> passkeys.RelyingParty:
    settings = current_settings()
    return passkeys.RelyingParty.for_public_url(settings.public_url, settings.secret_key.encode())


def _next() -> str:
    return safe_next(request.values.get("next"), url_for("web.dashboard"))


# ---------------------------------------------------------------- the second factor at sign-in


def _verify_page() -> str:
    me = _me()
    return render_template(
        "security/verify.html",
        next_url=_next(),
        has_passkeys=bool(passkeys.passkeys_of(db.session, me.id)),
        has_app=services.confirmed_factor(db.session, me.id) is not None,
    )


@bp.get("/verify")
@require_role(*ANY_ROLE)
def verify() -> str:
    return _verify_page()


@bp.post("/verify")
@require_role(*ANY_ROLE)
def verify_code() -> str | Response:
    me = _me()
    login = current_login()
    assert login is not None
    outcome = services.verify(db.session, _vault(), me, login, request.form.get("code", ""))
    if outcome is services.Verified.LOCKED:
        sign_out()
        flash(_("Too many wrong codes. You were signed out; sign in again to retry."), "error")
        return redirect(url_for("auth.sign_in"))
    if outcome is services.Verified.WRONG:
        flash(_("That code is not right. Try the code your app shows now, or a recovery code."), "error")
        # A redirect: reloading must not send the wrong code again (each one counts towards the lock).
        return redirect(url_for("security.verify", next=_next()), code=303)
    if outcome is services.Verified.RECOVERY_CODE:
        left = services.recovery_codes_left(db.session, me.id)
        flash(
            ngettext(
                "You used a recovery code; %(num)s left. If you lost your authenticator, set up a new one "
                "on your security page.",
                "You used a recovery code; %(num)s left. If you lost your authenticator, set up a new one "
                "on your security page.",
                left,
            ),
            "info",
        )
    return redirect(_next())


@bp.get("/enrol")
@require_role(*ANY_ROLE)
def enrol() -> str | Response:
    me = _me()
    required = services.policy_of(db.session, me.account_id).requires_factor(me.role)
    return render_template("security/enrol.html", required=required, enrolment=None, next_url=_next())


@bp.post("/enrol")
@require_role(*ANY_ROLE)
def enrol_start() -> str | Response:
    me = _me()
    enrolment = services.start_enrolment(db.session, _vault(), me)
    return render_template("security/enrol.html", required=False, enrolment=enrolment, next_url=_next())


@bp.post("/enrol/confirm")
@require_role(*ANY_ROLE)
def enrol_confirm() -> str | Response:
    me = _me()
    factor_id = request.form.get("factor_id", "")
    try:
        codes = services.confirm_enrolment(
            db.session,
            _vault(),
            me,
            factor_id=int(factor_id) if factor_id.isdigit() else 0,
            code=request.form.get("code", ""),
            login=current_login(),
        )
    except services.SecurityError as exc:
        flash(str(exc), "error")
        return redirect(url_for("security.enrol", next=_next()))
    return render_template("security/recovery_codes.html", codes=codes, next_url=_next())


# ---------------------------------------------------------------- passkeys


@bp.post("/passkeys/options")
@require_role(*ANY_ROLE)
def passkey_options() -> Response:
    """A ceremony's options for the browser (JSON); the challenge stays here, for this session only."""
    me, login = _me(), _login()
    try:
        purpose = passkeys.Purpose(request.form.get("purpose", ""))
    except ValueError:
        abort(400)
    if purpose is passkeys.Purpose.CONFIRM and me.role is not Role.ADMIN:
        abort(403)
    try:
        if purpose is passkeys.Purpose.REGISTER:
            body = passkeys.registration_options(db.session, _rp(), me, login)
        else:
            body = passkeys.authentication_options(db.session, _rp(), me, login, purpose)
    except services.SecurityError as exc:
        response = jsonify({"error": str(exc)})
        response.status_code = 409
        return response
    return Response(body, mimetype="application/json")


@bp.post("/passkeys")
@require_role(*ANY_ROLE)
def passkey_register() -> str | Response:
    me = _me()
    try:
        codes = passkeys.register(
            db.session,
            _rp(),
            me,
            _login(),
            name=request.form.get("name", ""),
            credential=request.form.get("credential", ""),
        )
    except services.SecurityError as exc:
        flash(str(exc), "error")
        from_enrol = request.form.get("from") == "enrol"
        return redirect(
            url_for("security.enrol", next=_next()) if from_enrol else url_for("security.overview")
        )
    if codes is not None:
        return render_template("security/recovery_codes.html", codes=codes, next_url=_next())
    flash(_("Passkey added."), "success")
    return redirect(_next())


@bp.post("/passkeys/sign-in")
@require_role(*ANY_ROLE)
def passkey_sign_in() -> str | Response:
    outcome = passkeys.sign_in(db.session, _rp(), _me(), _login(), request.form.get("credential", ""))
    if outcome is services.Verified.LOCKED:
        sign_out()
        flash(_("Too many wrong codes. You were signed out; sign in again to retry."), "error")
        return redirect(url_for("auth.sign_in"))
    if outcome is services.Verified.WRONG:
        flash(_("The passkey could not be checked. Please try again."), "error")
        # A redirect, as for a wrong code: a reload must not send the answer again.
        return redirect(url_for("security.verify", next=_next()), code=303)
    return redirect(_next())


@bp.post("/passkeys/<int:passkey_id>/remove")
@require_role(*ANY_ROLE)
def passkey_remove(passkey_id: int) -> Response:
    try:
        name = passkeys.remove(db.session, _me(), passkey_id)
    except services.SecurityError as exc:
        flash(str(exc), "error")
        return redirect(url_for("security.overview"))
    if name is None:
        abort(404)
    flash(_("The passkey %(name)s was removed.", name=name), "success")
    return redirect(url_for("security.overview"))


# ---------------------------------------------------------------- one's own security page


@bp.get("/")
@require_role(*ANY_ROLE)
def overview() -> str:
    me = _me()
    login = current_login()
    return render_template(
        "security/overview.html",
        enrolled=services.confirmed_factor(db.session, me.id) is not None,
        passkeys=passkeys.passkeys_of(db.session, me.id),
        codes_left=services.recovery_codes_left(db.session, me.id),
        sessions=services.sessions_of(db.session, me.user_id),
        current_id=login.id if login is not None else None,
        policy=services.policy_of(db.session, me.account_id),
    )


@bp.post("/recovery-codes")
@require_role(*ANY_ROLE)
def renew_codes() -> str | Response:
    try:
        codes = services.renew_recovery_codes(db.session, _me())
    except services.SecurityError as exc:
        flash(str(exc), "error")
        return redirect(url_for("security.overview"))
    return render_template("security/recovery_codes.html", codes=codes, next_url=url_for("security.overview"))


@bp.post("/sessions/<int:session_id>/end")
@require_role(*ANY_ROLE)
def end_session(session_id: int) -> Response:
    login = current_login()
    if services.end_sessions(db.session, _me(), only=session_id) == 0:
        abort(404)
    if login is not None and login.id == session_id:
        sign_out()
        return redirect(url_for("web.index"))
    flash(_("That session was signed out."), "success")
    return redirect(url_for("security.overview"))


@bp.post("/sessions/end-all")
@require_role(*ANY_ROLE)
def end_all_sessions() -> Response:
    services.end_sessions(db.session, _me())
    sign_out()
    flash(_("You were signed out everywhere."), "success")
    return redirect(url_for("auth.sign_in"))


# ---------------------------------------------------------------- admins: rules and resets


@bp.get("/admin")
@require_role(Role.ADMIN)
def admin() -> str:
    account = current_account()
    return render_template(
        "security/admin.html",
        account=account,
        policy=services.policy_of(db.session, account.id),
        rules=list(SecondFactorRule),
        members=members_of(db.session, account),
        enrolled=services.factor_status(db.session, account.id),
        me=_me(),
        my_passkeys=bool(passkeys.passkeys_of(db.session, _me().id)),
        my_app=services.confirmed_factor(db.session, _me().id) is not None,
        idle_range=services.IDLE_RANGE,
        absolute_range=services.ABSOLUTE_RANGE,
        address=request.remote_addr or "",
        rule_texts=services.policy_of(db.session, account.id).texts or {},
    )


@bp.post("/admin/policy")
@require_role(Role.ADMIN)
def update_policy() -> Response:
    me = _me()
    try:
        services.update_policy(
            db.session,
            me.account_id,
            actor_user_id=me.user_id,
            second_factor=request.form.get("second_factor", ""),
            idle_minutes=request.form.get("idle_minutes", ""),
            absolute_hours=request.form.get("absolute_hours", ""),
        )
    except services.SecurityError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Sign-in rules saved."), "success")
    return redirect(url_for("security.admin"))


@bp.post("/admin/access")
@require_role(Role.ADMIN)
def update_access_rules() -> Response:
    try:
        credential = request.form.get("credential", "")
        restrictions.update_access_rules(
            db.session,
            _vault(),
            _me(),
            code=request.form.get("code", ""),
            values={name: request.form.get(name, "") for name in services.RULE_FIELDS},
            address=request.remote_addr or "",
            passkey=restrictions.PasskeyProof(_rp(), _login(), credential) if credential else None,
        )
    except services.SecurityError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Address and hours rules saved."), "success")
    return redirect(url_for("security.admin"))


@bp.post("/admin/members/<int:membership_id>/reset")
@require_role(Role.ADMIN)
def reset_factor(membership_id: int) -> Response:
    target = get_scoped_or_404(Membership, membership_id)
    try:
        services.reset_factor(db.session, _me(), target)
    except services.SecurityError as exc:
        flash(str(exc), "error")
    else:
        flash(
            _(
                "The second factor of %(email)s was reset and their sessions ended; "
                "they set up a new one at their next sign-in.",
                email=target.user.email,
            ),
            "success",
        )
    return redirect(url_for("security.admin"))


# ---------------------------------------------------------------- the account audit log


@bp.get("/audit")
@require_role(Role.ADMIN, Role.REVIEWER)
def audit_log() -> str:
    account = current_account()
    entries = audit.entries_of(db.session, account.id)
    ids = {e.actor_user_id for e in entries if e.actor_user_id is not None}
    people = {u.id: u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return render_template(
        "security/audit.html",
        account=account,
        entries=entries,
        people=people,
        details={e.id: audit.detail_items(e) for e in entries},
    )
