"""The admin operations' part of the OpenAPI document (:mod:`app.crm.admin_api`)."""

from __future__ import annotations

from typing import Any

from app.crm.validation import ID_PATTERN

_REF = "#/components/schemas/"
_MAX_ROW_ID = 2**31 - 1
_ROLES = ["admin", "member", "reviewer"]
_WHEN = {"type": "string", "format": "date-time"}
_MAYBE_WHEN = {"type": ["string", "null"], "format": "date-time"}
_DESCRIPTIONS = {
    400: "Malformed request (body not UTF-8 or not JSON)",
    401: "Missing, unknown or revoked API key",
    403: (
        "The API key was not created by a current admin of this account, or the account is frozen "
        "after a long time without use (`error.code` is `account_frozen`)"
    ),
    404: "No such member, invitation, list or key in this account",
    409: "A concurrent request wrote the same row; retry",
    413: "Body larger than the server accepts",
    415: "Body is not application/json",
    422: "Invalid input; `error.field` names the offending field",
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json({"$ref": _REF + "Error"}, _DESCRIPTIONS[s]) for s in statuses}


def _row_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_ROW_ID},
    }


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required if required is not None else sorted(properties),
        "properties": properties,
    }


def admin_schemas() -> dict[str, Any]:
    return {
        "Member": _object(
            {
                "id": {"type": "integer"},
                "email": {"type": "string"},
                "name": {"type": "string"},
                "role": {"type": "string", "enum": _ROLES},
            }
        ),
        "Invitation": _object(
            {
                "id": {"type": "integer"},
                "email": {"type": "string"},
                "role": {"type": "string", "enum": _ROLES},
                "created_at": _WHEN,
            }
        ),
        "ApiKey": _object(
            {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "secret_prefix": {"type": "string", "description": "The secret's first characters"},
                "created_at": _WHEN,
                "last_used_at": _MAYBE_WHEN,
                "revoked_at": _MAYBE_WHEN,
            }
        ),
        "Sync": _object(
            {
                "id": {"type": "integer"},
                "member_id": {"type": "integer"},
                "list_id": {"type": ["string", "null"]},
                "enabled": {"type": "boolean"},
                "status": {"type": "string"},
                "status_detail": {"type": "string"},
                "group_name": {"type": "string"},
                "last_run_at": _MAYBE_WHEN,
                "last_success_at": _MAYBE_WHEN,
                "next_due_at": _MAYBE_WHEN,
            }
        ),
    }


def _list_of(key: str, schema: str, description: str) -> dict[str, Any]:
    return _json(_object({key: {"type": "array", "items": {"$ref": _REF + schema}}}), description)


def _body(properties: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _object(properties)}}}


_WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 422)


def admin_paths() -> dict[str, Any]:
    member_id = _row_param("membership_id", "A member's id (`id` of a Member)")
    list_id = {
        "name": "list_id",
        "in": "path",
        "required": True,
        "description": "The CRM's id of the list",
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }
    access_result = _json(
        _object(
            {
                "list_id": {"type": "string"},
                "member_id": {"type": "integer"},
                "status": {"type": "string", "enum": ["added", "removed", "unchanged"]},
            }
        ),
        "Done (or nothing to do)",
    )
    return {
        "/admin/members": {
            "get": {
                "operationId": "adminListMembers",
                "summary": "The account's members and their roles",
                "responses": {"200": _list_of("members", "Member", "Members"), **_errors(401, 403)},
            }
        },
        "/admin/members/{membership_id}/role": {
            "parameters": [member_id],
            "put": {
                "operationId": "adminChangeRole",
                "summary": "Change a member's role (the last admin keeps theirs)",
                "requestBody": _body({"role": {"type": "string", "enum": _ROLES}}),
                "responses": {"200": _json({"$ref": _REF + "Member"}, "Changed"), **_errors(*_WRITE_ERRORS)},
            },
        },
        "/admin/invitations": {
            "get": {
                "operationId": "adminListInvitations",
                "responses": {
                    "200": _list_of("invitations", "Invitation", "Open invitations"),
                    **_errors(401, 403),
                },
            },
            "post": {
                "operationId": "adminInvite",
                "summary": "Invite an e-mail address with a role (again: changes its role)",
                "requestBody": _body(
                    {
                        "email": {"type": "string", "format": "email"},
                        "role": {"type": "string", "enum": _ROLES},
                    }
                ),
                "responses": {
                    "201": _json({"$ref": _REF + "Invitation"}, "Invited"),
                    **_errors(*_WRITE_ERRORS),
                },
            },
        },
        "/admin/invitations/{invitation_id}": {
            "parameters": [_row_param("invitation_id", "An invitation's id")],
            "delete": {
                "operationId": "adminWithdrawInvitation",
                "responses": {
                    "200": _json(
                        _object({"id": {"type": "integer"}, "status": {"type": "string"}}), "Withdrawn"
                    ),
                    **_errors(401, 403, 404),
                },
            },
        },
        "/admin/lists/{list_id}/access": {
            "parameters": [list_id],
            "get": {
                "operationId": "adminListAccess",
                "summary": "The members a list is available to",
                "responses": {
                    "200": _list_of("members", "Member", "Members who may sync it"),
                    **_errors(401, 403, 404, 422),
                },
            },
        },
        "/admin/lists/{list_id}/access/{membership_id}": {
            "parameters": [list_id, member_id],
            "put": {
                "operationId": "adminGrantList",
                "summary": "Make a list available to a member (not a reviewer)",
                "responses": {"200": access_result, **_errors(401, 403, 404, 409, 422)},
            },
            "delete": {
                "operationId": "adminWithdrawList",
                "summary": "Withdraw a list: its contacts leave that member's Google group at the next sync",
                "responses": {"200": access_result, **_errors(401, 403, 404, 409, 422)},
            },
        },
        "/admin/api-keys": {
            "get": {
                "operationId": "adminListApiKeys",
                "responses": {
                    "200": _list_of("api_keys", "ApiKey", "Keys, revoked ones included"),
                    **_errors(401, 403),
                },
            },
            "post": {
                "operationId": "adminCreateApiKey",
                "summary": "Create a key; its secret is in this answer only",
                "requestBody": _body({"name": {"type": "string", "minLength": 1, "maxLength": 100}}),
                "responses": {
                    "201": _json(
                        _object({"api_key": {"$ref": _REF + "ApiKey"}, "secret": {"type": "string"}}),
                        "Created",
                    ),
                    **_errors(*_WRITE_ERRORS),
                },
            },
        },
        "/admin/api-keys/{key_id}": {
            "parameters": [_row_param("key_id", "An API key's id")],
            "delete": {
                "operationId": "adminRevokeApiKey",
                "responses": {"200": _json({"$ref": _REF + "ApiKey"}, "Revoked"), **_errors(401, 403, 404)},
            },
        },
        "/admin/syncs": {
            "get": {
                "operationId": "adminListSyncs",
                "summary": "Every member's syncs of the account's lists and their status",
                "responses": {"200": _list_of("syncs", "Sync", "Syncs"), **_errors(401, 403)},
            }
        },
    }
