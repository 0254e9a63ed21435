"""The app shell every page is drawn in: each role's navigation, "you are here", and error pages.

Error pages are drawn inside the shell with a way back; under ``/api/`` and for clients that
ask for JSON they stay JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from app.accounts.models import Membership, Role
from app.accounts.tenancy import current_membership
from app.extensions import LazyText
from app.extensions import lazy_gettext as _l


@dataclass(frozen=True)
class NavItem:
    label: LazyText
    endpoint: str
    roles: frozenset[Role]
    owns: tuple[str, ...]
    """Endpoint prefixes of the pages that belong to this item (for aria-current and breadcrumbs)."""


_ADMIN = frozenset({Role.ADMIN})
_SYNCING = frozenset({Role.ADMIN, Role.MEMBER})
_READING = frozenset({Role.ADMIN, Role.REVIEWER})
_EVERYONE = frozenset(Role)

NAVIGATION: tuple[NavItem, ...] = (
    NavItem(_l("Dashboard"), "web.dashboard", _EVERYONE, ("web.dashboard", "web.settings")),
    NavItem(_l("Contact sync"), "sync.overview", _SYNCING, ("sync.overview", "sync.detail", "sync.contacts")),
    NavItem(_l("Google account"), "google.connection", _SYNCING, ("google.",)),
    NavItem(_l("CRM lists"), "crm.overview", _ADMIN, ("crm.",)),
    NavItem(_l("People"), "accounts.members", _ADMIN, ("accounts.", "privacy.member_data")),
    NavItem(
        _l("All syncs"),
        "sync.admin_overview",
        _ADMIN,
        ("sync.admin_overview", "sync.admin_contacts", "worker."),
    ),
    NavItem(
        _l("Data requests"),
        "subject_requests.admin_list",
        _ADMIN,
        ("subject_requests.admin_", "subject_requests.fulfil", "subject_requests.reject"),
    ),
    NavItem(_l("Ledger"), "ledger.browse", _READING, ("ledger.",)),
    NavItem(_l("Your data"), "privacy.my_data", _EVERYONE, ("privacy.my_data",)),
)


def navigation_for(membership: Membership | None) -> list[NavItem]:
    if membership is None:
        return []
    return [item for item in NAVIGATION if membership.role in item.roles]


def section_of(endpoint: str | None, items: list[NavItem]) -> NavItem | None:
    """The navigation item the page at ``endpoint`` belongs to (the longest matching prefix wins)."""
    if endpoint is None:
        return None
    best: tuple[int, NavItem] | None = None
    for item in items:
        for prefix in item.owns:
            if (endpoint == prefix or (prefix.endswith(".") and endpoint.startswith(prefix))) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), item)
    return best[1] if best else None


_ERROR_TEXT: dict[int, tuple[LazyText, LazyText]] = {
    400: (_l("Something in that request was not right"), _l("The page could not use what was sent.")),
    401: (_l("Please sign in"), _l("This page is for signed-in people only.")),
    403: (_l("This page is not for your role"), _l("Your role in this account does not allow it.")),
    404: (_l("Page not found"), _l("There is no such page, or it is not in your account.")),
    405: (_l("That action is not available here"), _l("This address does not accept that kind of request.")),
    409: (_l("That changed meanwhile"), _l("Someone changed this at the same time. Please look again.")),
    413: (_l("That file is too large"), _l("Upload at most 16 MB.")),
}


LABELS: dict[str, LazyText] = {
    # Roles
    "admin": _l("admin"),
    "member": _l("member"),
    "reviewer": _l("reviewer"),
    # Sync states and run outcomes
    "new": _l("new"),
    "ok": _l("ok"),
    "failed": _l("failed"),
    "needs_reconnect": _l("needs reconnect"),
    "group_deleted_by_user": _l("group deleted by user"),
    "quota": _l("quota"),
    "google_contact_limit": _l("google contact limit"),
    "awaiting_mass_delete_confirmation": _l("awaiting mass delete confirmation"),
    "running": _l("running"),
    "blocked": _l("blocked"),
    "interrupted": _l("interrupted"),
    "awaiting_acceptance": _l("awaiting acceptance"),
    "setting_up": _l("setting up"),
    "active": _l("active"),
    "failing": _l("failing"),
    # Triggers
    "schedule": _l("schedule"),
    "crm_change": _l("CRM change"),
    "user_sync_now": _l("sync now by the user"),
    "user_action": _l("user action"),
    "system": _l("system"),
    # CSV import results
    "created": _l("created"),
    "updated": _l("updated"),
    "unchanged": _l("unchanged"),
    "skipped": _l("skipped"),
    # Audit log actions (app.security.audit.AuditAction) and their outcomes
    "member.invited": _l("member invited"),
    "member.invitation_withdrawn": _l("invitation withdrawn"),
    "member.role_changed": _l("role changed"),
    "member.removed": _l("member removed"),
    "list.access_granted": _l("list made available"),
    "list.access_withdrawn": _l("list withdrawn"),
    "api_key.created": _l("API key created"),
    "api_key.revoked": _l("API key revoked"),
    "security.policy_changed": _l("sign-in rules changed"),
    "security.factor_enrolled": _l("second factor set up"),
    "security.factor_removed": _l("second factor removed"),
    "security.factor_reset_by_admin": _l("second factor reset by an admin"),
    "security.recovery_code_used": _l("recovery code used"),
    "security.recovery_codes_renewed": _l("recovery codes renewed"),
    "security.second_factor_refused": _l("second factor refused"),
    "security.sessions_ended": _l("sessions ended"),
    "security.access_rules_changed": _l("address and hours rules changed"),
    "security.access_refused": _l("access refused"),
    "data_request.received": _l("data request received"),
    "data_request.verified": _l("data request verified"),
    "data_request.viewed": _l("data request viewed"),
    "data_request.fulfilled": _l("data request fulfilled"),
    "data_request.rejected": _l("data request rejected"),
    "data_request.reminded": _l("data request reminder sent"),
    "data_request.overdue": _l("data request overdue"),
    "account.inactivity_warned": _l("inactivity warning sent"),
    "account.frozen": _l("account frozen"),
    "account.unfrozen": _l("account unfrozen"),
    "account.deleted_for_inactivity": _l("account deleted for inactivity"),
    "account.copy_destroyed": _l("sealed copy destroyed"),
    "account.restored": _l("account restored"),
    "refused": _l("refused"),
    "cleaned_up": _l("cleaned up"),
    "too_many_wrong_codes": _l("too many wrong codes"),
}
"""Words stored as enum values, in the reader's language; the English reads as the value did before."""


def label(value: object) -> str:
    """``{{ sync.status | label }}``: an enum or its value in the reader's language."""
    key = str(getattr(value, "value", value))
    known = LABELS.get(key)
    return str(known) if known is not None else key.replace("_", " ")


def state_labels(**extra: str) -> dict[str, str]:
    """Every stored state's word in the reader's language, for scripts that redraw a state."""
    return {key: str(text) for key, text in LABELS.items()} | {k: str(v) for k, v in extra.items()}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _membership_or_none() -> Membership | None:
    try:
        return current_membership()
    except Exception:  # an error page must draw even when the database is the error
        return None


def _error_page(code: int, title: LazyText | str, text: LazyText | str, detail: str = "") -> tuple[str, int]:
    return render_template("errors/error.html", code=code, title=title, text=text, detail=detail), code


def init_app(app: Flask) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals["state_labels"] = state_labels

    @app.context_processor
    def shell() -> dict[str, object]:
        membership = g.get("membership")
        items = navigation_for(membership)
        return {"nav_items": items, "nav_section": section_of(request.endpoint, items)}

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[Response, int] | tuple[str, int]:
        if _wants_json():
            return _json(400, error.description)
        _membership_or_none()
        return _error_page(
            400,
            _l("This form has expired"),
            _l("The page was open too long or was sent from elsewhere. Go back, reload it and try again."),
            detail=f"CSRF: {error.description}",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int] | HTTPException | tuple[str, int]:
        code = error.code or 500
        if code < 400 or error.response is not None:
            return error
        if _wants_json():
            return _json(code, error.description or "")
        _membership_or_none()
        title, text = _ERROR_TEXT.get(code, (_l("Something went wrong"), _l("Please try again.")))
        return _error_page(code, title, text)

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> tuple[Response, int] | tuple[str, int]:
        if _wants_json():
            return _json(500, "internal server error")
        # No database lookup here: the database may be what failed.
        return _error_page(
            500,
            _l("Something went wrong on our side"),
            _l("The error was logged. Please try again in a moment."),
        )


def _json(code: int, description: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": description}), code
