"""The CRM-facing REST API under ``/api/v1``, authenticated by per-account API keys.

The CRM is a server, not a browser, so the blueprint is exempt from CSRF: a request carries
``Authorization: Bearer gsk_...`` and no cookie is consulted. Every answer is JSON, errors
as ``{"error": {"code", "message", "field"}}``. The document at ``/api/v1/openapi.json``
(:mod:`app.crm.openapi`) describes exactly these routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from app.accounts.activity import note_api_use
from app.crm import services
from app.crm.models import ContactList, CrmContact
from app.crm.openapi import MAX_PAGE, openapi_document
from app.crm.services import ConflictError, ItemResult, NameTakenError, NotFoundError, Outcome
from app.crm.validation import InputError, batch_items, check_id
from app.extensions import csrf, db

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

_PUBLIC_ENDPOINTS = {"crm.api.openapi"}
_MAX_ROW_ID = 2**31 - 1
"""Cursors are row ids, INTEGER columns on PostgreSQL: a larger number cannot be one."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(message)


def _error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify({"error": body, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="groupsync"'
    return response


@api_bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _error(exc.status, exc.code, exc.message, exc.field)


@api_bp.errorhandler(InputError)
def _invalid(exc: InputError) -> Response:
    first = exc.errors[0]
    details = [{"field": e.field, "message": e.message} for e in exc.errors]
    return _error(422, "invalid", f"{first.field} {first.message}", first.field, details=details)


@api_bp.errorhandler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response:
    return _error(404, "not_found", exc.message, exc.field)


@api_bp.errorhandler(NameTakenError)
def _name_taken(exc: NameTakenError) -> Response:
    return _error(409, "name_taken", str(exc), "name")


@api_bp.errorhandler(ConflictError)
def _conflict(exc: ConflictError) -> Response:
    return _error(409, "conflict", str(exc))


@api_bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    field = "body" if status == 413 else None
    message = (
        f"the body is larger than {request.max_content_length} bytes" if status == 413 else exc.description
    )
    if status == 429:
        message = f"too many requests (limit: {exc.description}); retry after the seconds in Retry-After"
    return _error(status, (exc.name or "error").lower().replace(" ", "_"), message or "", field)


@api_bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # A bug must still answer in the API's format; the traceback goes to the log, not the client.
    current_app.logger.exception("unexpected error in %s %s", request.method, request.path)
    return _error(500, "internal_error", "the server failed to handle this request; it has been logged")


def _in_api(path: str) -> bool:
    return path == api_bp.url_prefix or path.startswith(f"{api_bp.url_prefix}/")


@api_bp.before_app_request
def _unrouted() -> Response | None:
    """An unknown path or method under /api/v1 is answered in the API's JSON format.

    Routing failed before any blueprint was chosen, so the blueprint's error handlers would
    never see it; Flask runs this hook before raising the routing error.
    """
    exc = request.routing_exception
    if not _in_api(request.path) or not isinstance(exc, NotFound | MethodNotAllowed):
        return None
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(exc.valid_methods or ())
        response = _error(
            405, "method_not_allowed", f"{request.method} is not allowed here; use {', '.join(allowed)}"
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return _error(404, "not_found", f"no API operation at {request.path}; see /api/v1/openapi.json", "path")


@api_bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _error(
            401, "unauthorized", "send an API key as 'Authorization: Bearer gsk_...'", "Authorization"
        )
    key = services.authenticate_api_key(db.session, secret.strip())
    if key is None:
        return _error(401, "unauthorized", "the API key is unknown or revoked", "Authorization")
    if note_api_use(db.session, key.account_id).frozen_at is not None:
        return _error(
            403,
            "account_frozen",
            "the account is frozen after a long time without use: an admin can unfreeze it by "
            "signing in to GroupSync; until then no API call is served",
        )
    g.api_account_id = key.account_id
    g.api_actor = f"api_key:{key.id}"
    g.api_key_creator = key.created_by
    return None


def _account() -> int:
    account_id: int = g.api_account_id
    return account_id


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def body_json() -> object:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json", "Content-Type")
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_encoding", f"the body is not UTF-8 (bad byte at offset {exc.start})", "body"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not JSON: {exc.msg} (line {exc.lineno})", "body"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not acceptable JSON: {exc}", "body") from None


def _page_args() -> tuple[int | None, int]:
    unknown = sorted(set(request.args) - {"limit", "cursor"})
    if unknown:
        raise ApiError(400, "invalid", "is not a query parameter of this operation", unknown[0])
    raw_limit = request.args.get("limit", "100")
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise ApiError(400, "invalid", f"must be a whole number from 1 to {MAX_PAGE}", "limit")
    raw_cursor = request.args.get("cursor")
    if raw_cursor is None:
        return None, int(raw_limit)
    if not raw_cursor.isascii() or not raw_cursor.isdigit() or int(raw_cursor) > _MAX_ROW_ID:
        raise ApiError(400, "invalid", "is not a cursor this API returned", "cursor")
    return int(raw_cursor), int(raw_limit)


def _contact_json(row: CrmContact) -> dict[str, Any]:
    return {
        **services.contact_payload(services.to_contact_data(row)),
        "updated_at": row.updated_at.isoformat(),
        "deleted": row.deleted,
        "deleted_at": row.deleted_at.isoformat() if row.deleted_at else None,
    }


def _list_json(row: ContactList, size: int) -> dict[str, Any]:
    return {
        "id": row.crm_id,
        "name": row.name,
        "size": size,
        "updated_at": row.updated_at.isoformat(),
        "content_changed_at": row.content_changed_at.isoformat(),
    }


def _results(results: Sequence[ItemResult]) -> Response:
    """200 when every item succeeded, 207 when some did, 422 when none did."""
    items = []
    for result in results:
        item: dict[str, Any] = {"index": result.index, "id": result.id, "status": result.status.value}
        if result.error is not None:
            item["error"] = {"code": "invalid", "message": result.error.message, "field": result.error.field}
        items.append(item)
    failed = [r for r in results if r.error is not None]
    if not failed:
        return jsonify({"results": items})
    if len(failed) == len(results):
        first = failed[0].error
        assert first is not None
        return _error(422, "invalid", f"{first.field} {first.message}", first.field, results=items)
    response = jsonify({"results": items})
    response.status_code = 207
    return response


def _status(outcome: Outcome) -> int:
    return 201 if outcome is Outcome.CREATED else 200


@api_bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@api_bp.get("/contacts")
def list_contacts() -> Response:
    cursor, limit = _page_args()
    page = services.page_contacts(db.session, _account(), cursor, limit)
    return jsonify({"contacts": [_contact_json(r) for r in page.rows], "next_cursor": page.next_cursor})


@api_bp.get("/contacts/<crm_id>")
def get_contact(crm_id: str) -> Response:
    row = services.get_contact(db.session, _account(), check_id(crm_id, "id"))
    return jsonify(_contact_json(row))


@api_bp.put("/contacts/<crm_id>")
def put_contact(crm_id: str) -> tuple[Response, int]:
    ident = check_id(crm_id, "id")
    outcome = services.upsert_contact(db.session, _account(), ident, body_json())
    row = services.get_contact(db.session, _account(), ident)
    return jsonify({"status": outcome.value, "contact": _contact_json(row)}), _status(outcome)


@api_bp.delete("/contacts/<crm_id>")
def delete_contact(crm_id: str) -> Response:
    outcome = services.delete_contact(db.session, _account(), check_id(crm_id, "id"), g.api_actor)
    return jsonify({"id": crm_id, "status": outcome.value})


@api_bp.post("/contacts:batchUpsert")
def batch_upsert() -> Response:
    items = batch_items(body_json(), "contacts")
    return _results(services.upsert_contacts(db.session, _account(), items))


@api_bp.post("/contacts:batchDelete")
def batch_delete() -> Response:
    ids = batch_items(body_json(), "ids")
    return _results(services.delete_contacts(db.session, _account(), ids, g.api_actor))


@api_bp.get("/lists")
def list_lists() -> Response:
    cursor, limit = _page_args()
    page = services.page_lists(db.session, _account(), cursor, limit)
    sizes = services.list_sizes(db.session, [r.id for r in page.rows])
    return jsonify(
        {"lists": [_list_json(r, sizes[r.id]) for r in page.rows], "next_cursor": page.next_cursor}
    )


@api_bp.get("/lists/<list_id>")
def get_list(list_id: str) -> Response:
    row = services.get_list(db.session, _account(), check_id(list_id, "list_id"))
    return jsonify(_list_json(row, services.list_sizes(db.session, [row.id])[row.id]))


@api_bp.put("/lists/<list_id>")
def put_list(list_id: str) -> tuple[Response, int]:
    row, outcome = services.put_list(db.session, _account(), check_id(list_id, "list_id"), body_json())
    size = services.list_sizes(db.session, [row.id])[row.id]
    return jsonify({"status": outcome.value, "list": _list_json(row, size)}), _status(outcome)


@api_bp.delete("/lists/<list_id>")
def delete_list(list_id: str) -> Response:
    services.delete_list(db.session, _account(), check_id(list_id, "list_id"))
    return jsonify({"id": list_id, "status": Outcome.DELETED.value})


@api_bp.get("/lists/<list_id>/members")
def list_members(list_id: str) -> Response:
    cursor, limit = _page_args()
    page = services.page_members(db.session, _account(), check_id(list_id, "list_id"), cursor, limit)
    members = [{"id": r.crm_id, "deleted": r.deleted} for r in page.rows]
    return jsonify({"members": members, "next_cursor": page.next_cursor})


def _members_view(add: bool) -> Callable[[str], Response]:
    def view(list_id: str) -> Response:
        ident = check_id(list_id, "list_id")
        return _results(services.change_members(db.session, _account(), ident, body_json(), add=add))

    return view


api_bp.add_url_rule("/lists/<list_id>/members:add", "add_members", _members_view(True), methods=["POST"])
api_bp.add_url_rule(
    "/lists/<list_id>/members:remove", "remove_members", _members_view(False), methods=["POST"]
)
