"""The admin part of the CRM API, under ``/api/v1/admin``: members and invitations, which lists each
member may sync, API keys, and sync status — what the admin pages do, for scripts.

An API key acts for the admin who created it: these operations need a key whose creator is,
now, an admin of the key's account (the role the matching pages require). A key made by
``groupsync crm api-keys create`` (no creator) or by someone since demoted reaches only the
CRM operations and gets 403 here. Member removal stays on the page and the ``flows`` it
calls, since it talks to Google.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Account, Invitation, Membership, Role, User
from app.crm import services
from app.crm.api import ApiError, body_json
from app.crm.models import ApiKey, ContactList
from app.crm.validation import check_id
from app.extensions import csrf, db, shown_message
from app.sync.models import ContactSync

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")
csrf.exempt(admin_bp)  # like the rest of the API: a bearer key, no cookie

MAX_ROW_ID = 2**31 - 1
"""Ids are INTEGER columns on PostgreSQL; a larger number cannot name a row."""


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def member_json(membership: Membership) -> dict[str, Any]:
    return {
        "id": membership.id,
        "email": membership.user.email,
        "name": membership.user.name,
        "role": membership.role.value,
    }


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role.value,
        "created_at": invitation.created_at.isoformat(),
    }


def api_key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "secret_prefix": key.prefix,
        "created_at": key.created_at.isoformat(),
        "last_used_at": _when(key.last_used_at),
        "revoked_at": _when(key.revoked_at),
    }


def sync_json(sync: ContactSync, lists: dict[int, ContactList]) -> dict[str, Any]:
    contact_list = lists.get(sync.list_id)
    return {
        "id": sync.id,
        "member_id": sync.membership_id,
        "list_id": contact_list.crm_id if contact_list is not None else None,
        "enabled": sync.enabled,
        "status": sync.status.value,
        "status_detail": shown_message(sync.status_detail),
        "group_name": sync.group_name,
        "last_run_at": _when(sync.last_run_at),
        "last_success_at": _when(sync.last_success_at),
        "next_due_at": _when(sync.next_due_at),
    }


def account_syncs(account_id: int) -> list[dict[str, Any]]:
    syncs = list(
        db.session.scalars(
            select(ContactSync).where(ContactSync.account_id == account_id).order_by(ContactSync.id)
        )
    )
    ids = {s.list_id for s in syncs}
    lists = {row.id: row for row in db.session.scalars(select(ContactList).where(ContactList.id.in_(ids)))}
    return [sync_json(s, lists) for s in syncs]


def _account() -> Account:
    return db.session.get_one(Account, g.api_account_id)


@admin_bp.before_request
def _require_admin() -> None:
    creator: int | None = g.get("api_key_creator")
    admin = (
        None
        if creator is None
        else db.session.scalar(
            select(Membership).where(
                Membership.account_id == g.api_account_id,
                Membership.user_id == creator,
                Membership.role == Role.ADMIN,
            )
        )
    )
    if admin is None:
        raise ApiError(
            403,
            "forbidden",
            "admin operations need an API key created by a current admin of this account",
            "Authorization",
        )
    g.api_admin = admin


def _row(model: type[Any], row_id: int, field: str) -> Any:
    """The account's row ``row_id`` of ``model`` or 404 naming ``field``."""
    row = db.session.get(model, row_id) if 0 < row_id <= MAX_ROW_ID else None
    if row is None or row.account_id != g.api_account_id:
        raise ApiError(404, "not_found", f"no {field.removesuffix('_id')} has the id {row_id}", field)
    return row


def _object(allowed: set[str], required: set[str]) -> dict[str, Any]:
    body = body_json()
    if not isinstance(body, dict):
        raise ApiError(422, "invalid", "must be a JSON object", "body")
    for key in body:
        if key not in allowed:
            raise ApiError(422, "invalid", "is not a known field", str(key))
    for key in sorted(required):
        if not isinstance(body.get(key), str):
            raise ApiError(422, "invalid", "is required and must be a string", key)
    for key in allowed & set(body):
        if not isinstance(body[key], str):
            raise ApiError(422, "invalid", "must be a string", key)
    return body


def _membership_error(exc: accounts.MembershipError) -> ApiError:
    return ApiError(422, "invalid", str(exc), exc.field)


@admin_bp.get("/members")
def list_members() -> Response:
    members = accounts.members_of(db.session, _account())
    return jsonify({"members": [member_json(m) for m in members]})


@admin_bp.put("/members/<int:membership_id>/role")
def change_role(membership_id: int) -> Response:
    membership = _row(Membership, membership_id, "membership_id")
    body = _object({"role"}, {"role"})
    try:
        accounts.change_role(db.session, membership, accounts.parse_role(body["role"]))
    except accounts.MembershipError as exc:
        raise _membership_error(exc) from None
    return jsonify(member_json(membership))


@admin_bp.get("/invitations")
def list_invitations() -> Response:
    invitations = accounts.invitations_of(db.session, _account())
    return jsonify({"invitations": [invitation_json(i) for i in invitations]})


@admin_bp.post("/invitations")
def invite() -> tuple[Response, int]:
    body = _object({"email", "role"}, {"email", "role"})
    admin: Membership = g.api_admin
    try:
        invitation = accounts.invite(
            db.session,
            _account(),
            email=body["email"],
            role=accounts.parse_role(body["role"]),
            invited_by=db.session.get_one(User, admin.user_id),
        )
    except accounts.MembershipError as exc:
        raise _membership_error(exc) from None
    return jsonify(invitation_json(invitation)), 201


@admin_bp.delete("/invitations/<int:invitation_id>")
def withdraw_invitation(invitation_id: int) -> Response:
    accounts.withdraw_invitation(db.session, _row(Invitation, invitation_id, "invitation_id"))
    return jsonify({"id": invitation_id, "status": "deleted"})


@admin_bp.get("/lists/<list_id>/access")
def list_access(list_id: str) -> Response:
    contact_list = services.get_list(db.session, g.api_account_id, check_id(list_id, "list_id"))
    granted = services.access_by_list(db.session, g.api_account_id).get(contact_list.id, [])
    return jsonify({"members": [member_json(m) for m in granted]})


def _access(list_id: str, membership_id: int) -> tuple[ContactList, Membership]:
    contact_list = services.get_list(db.session, g.api_account_id, check_id(list_id, "list_id"))
    return contact_list, _row(Membership, membership_id, "membership_id")


@admin_bp.put("/lists/<list_id>/access/<int:membership_id>")
def grant(list_id: str, membership_id: int) -> Response:
    contact_list, membership = _access(list_id, membership_id)
    if membership.role is Role.REVIEWER:
        raise ApiError(422, "invalid", "a reviewer does not sync lists", "membership_id")
    added = services.grant_access(db.session, contact_list, membership, g.api_actor)
    return jsonify(
        {"list_id": list_id, "member_id": membership_id, "status": "added" if added else "unchanged"}
    )


@admin_bp.delete("/lists/<list_id>/access/<int:membership_id>")
def withdraw(list_id: str, membership_id: int) -> Response:
    contact_list, membership = _access(list_id, membership_id)
    removed = services.withdraw_access(db.session, contact_list, membership.id, g.api_actor)
    status = "removed" if removed else "unchanged"
    return jsonify({"list_id": list_id, "member_id": membership_id, "status": status})


@admin_bp.get("/api-keys")
def list_api_keys() -> Response:
    return jsonify({"api_keys": [api_key_json(k) for k in services.api_keys(db.session, g.api_account_id)]})


@admin_bp.post("/api-keys")
def create_api_key() -> tuple[Response, int]:
    body = _object({"name"}, {"name"})
    admin: Membership = g.api_admin
    key, secret = services.create_api_key(db.session, g.api_account_id, body["name"], admin.user_id)
    # The secret is in this one answer and never stored or shown again.
    return jsonify({"api_key": api_key_json(key), "secret": secret}), 201


@admin_bp.delete("/api-keys/<int:key_id>")
def revoke_api_key(key_id: int) -> Response:
    key = _row(ApiKey, key_id, "key_id")
    services.revoke_api_key(db.session, key)
    return jsonify(api_key_json(key))


@admin_bp.get("/syncs")
def list_syncs() -> Response:
    return jsonify({"syncs": account_syncs(g.api_account_id)})
