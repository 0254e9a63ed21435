"""The OpenAPI 3.1 document of ``/api/v1``, built from the validation rules it describes.

Request bodies come from :func:`app.crm.validation.contact_input_schema` and the constants
the API enforces, so the published contract and the checks cannot disagree.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from app.crm.openapi_admin import admin_paths, admin_schemas
from app.crm.validation import ID_PATTERN, MAX_BATCH, contact_input_schema

MAX_PAGE = 500

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "Malformed request (body not UTF-8 or not JSON, bad query parameter)",
        401: "Missing, unknown or revoked API key",
        403: (
            "The account is frozen after a long time without use (`error.code` is `account_frozen`); "
            "an admin unfreezes it by signing in to GroupSync"
        ),
        404: "No such contact or list in this account",
        409: (
            "A concurrent request wrote the same ids (retry), or another list has this name "
            "ignoring case (`error.code` is `name_taken`, `error.field` is `name`)"
        ),
        413: "Body larger than the server accepts",
        415: "Body is not application/json",
        422: "Invalid input; `error.field` names the offending field",
    }
    # Every call with a key can meet a frozen account.
    shown = sorted({*statuses, 403}) if 401 in statuses else statuses
    return {str(s): _json(_ref("Error"), descriptions[s]) for s in shown}


def _id_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }


_PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "`next_cursor` of the previous page",
        "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
    },
]


def _schemas() -> dict[str, Any]:
    contact_in = contact_input_schema()
    contact_out = copy.deepcopy(contact_in)
    contact_out["description"] = "A contact as GroupSync holds it"
    contact_out["properties"].update(
        {
            "updated_at": {"type": "string", "format": "date-time"},
            "deleted": {
                "type": "boolean",
                "description": "Deleted by an admin; removed from every Google group",
            },
            "deleted_at": {"type": ["string", "null"], "format": "date-time"},
        }
    )
    contact_out["required"] = sorted(contact_out["properties"])
    field_error = {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    }
    item_error = {
        "type": "object",
        "required": ["code", "message", "field"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
    }
    result = {
        "type": "object",
        "required": ["index", "id", "status"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "id": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "enum": ["created", "updated", "unchanged", "deleted", "added", "removed", "error"],
            },
            "error": item_error,
        },
    }
    contact_list = {
        "type": "object",
        "required": ["id", "name", "size", "updated_at", "content_changed_at"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "size": {"type": "integer", "minimum": 0, "description": "Members not deleted"},
            "updated_at": {"type": "string", "format": "date-time"},
            "content_changed_at": {
                "type": "string",
                "format": "date-time",
                "description": "Last accepted change to the members or their fields",
            },
        },
    }
    return {
        "ContactInput": contact_in,
        "Contact": contact_out,
        "ContactList": contact_list,
        "ListInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
            },
        },
        "BatchUpsert": {
            "type": "object",
            "additionalProperties": False,
            "required": ["contacts"],
            "properties": {
                "contacts": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": {"allOf": [_ref("ContactInput"), {"required": ["id"]}]},
                }
            },
        },
        "IdBatch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ids"],
            "properties": {
                "ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": {"type": "string", "pattern": ID_PATTERN},
                }
            },
        },
        "MemberBatch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["contact_ids"],
            "properties": {
                "contact_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": {"type": "string", "pattern": ID_PATTERN},
                }
            },
        },
        "Results": {
            "type": "object",
            "required": ["results"],
            "properties": {"results": {"type": "array", "items": result}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {
                            "type": "string",
                            "description": "The offending field, e.g. emails[2].value",
                        },
                    },
                },
                "details": {"type": "array", "items": field_error},
                "results": {"type": "array", "items": result},
            },
        },
    }


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _batch_responses() -> dict[str, Any]:
    return {
        "200": _json(_ref("Results"), "Every item succeeded"),
        "207": _json(_ref("Results"), "Some items failed (see each result); the others were stored"),
        **_errors(400, 401, 404, 409, 413, 415, 422),
    }


def _page_of(key: str, items: dict[str, Any], description: str) -> dict[str, Any]:
    return _json(
        {
            "type": "object",
            "required": [key, "next_cursor"],
            "properties": {
                key: {"type": "array", "items": items},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        description,
    )


def _resource(
    schema: str,
    key: str,
    operations: tuple[str, str, str],
    body: str,
    *,
    put_summary: str,
    delete_summary: str,
    deleted: str,
    saved: str,
) -> dict[str, Any]:
    """GET, PUT and DELETE of one contact or list: the two resources answer alike."""
    get_id, put_id, delete_id = operations
    status = {"type": "string"}

    def saved_as(description: str) -> dict[str, Any]:
        return _json(
            {
                "type": "object",
                "required": ["status", key],
                "properties": {"status": status, key: _ref(schema)},
            },
            description,
        )

    return {
        "get": {
            "operationId": get_id,
            "responses": {"200": _json(_ref(schema), f"The {key}"), **_errors(401, 404, 422)},
        },
        "put": {
            "operationId": put_id,
            "summary": put_summary,
            "requestBody": _body(body),
            "responses": {
                "200": saved_as(saved),
                "201": saved_as("Created"),
                **_errors(400, 401, 409, 413, 415, 422),
            },
        },
        "delete": {
            "operationId": delete_id,
            "summary": delete_summary,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["id", "status"],
                        "properties": {"id": status, "status": status},
                    },
                    deleted,
                ),
                **_errors(401, 404, 409, 422),
            },
        },
    }


def _paths() -> dict[str, Any]:
    contact_id = _id_param("crm_id", "The CRM's id of the contact")
    list_id = _id_param("list_id", "The CRM's id of the list")
    status = {"type": "string"}
    return {
        "/contacts": {
            "get": {
                "operationId": "listContacts",
                "summary": "Contacts held for this account, deleted ones included",
                "parameters": _PAGE_PARAMS,
                "responses": {
                    "200": _page_of("contacts", _ref("Contact"), "One page of contacts"),
                    **_errors(400, 401),
                },
            }
        },
        "/contacts/{crm_id}": {
            "parameters": [contact_id],
            **_resource(
                "Contact",
                "contact",
                ("getContact", "upsertContact", "deleteContact"),
                "ContactInput",
                put_summary="Create or replace a contact (idempotent)",
                delete_summary=(
                    "Delete a contact: it is removed from every user's Google group at the next sync"
                ),
                deleted="Deleted (or already deleted)",
                saved="Updated or unchanged",
            ),
        },
        "/contacts:batchUpsert": {
            "post": {
                "operationId": "batchUpsertContacts",
                "summary": f"Create or replace up to {MAX_BATCH} contacts; answered item by item",
                "requestBody": _body("BatchUpsert"),
                "responses": _batch_responses(),
            }
        },
        "/contacts:batchDelete": {
            "post": {
                "operationId": "batchDeleteContacts",
                "summary": f"Delete up to {MAX_BATCH} contacts; answered item by item",
                "requestBody": _body("IdBatch"),
                "responses": _batch_responses(),
            }
        },
        "/lists": {
            "get": {
                "operationId": "listLists",
                "parameters": _PAGE_PARAMS,
                "responses": {
                    "200": _page_of("lists", _ref("ContactList"), "One page of lists"),
                    **_errors(400, 401),
                },
            }
        },
        "/lists/{list_id}": {
            "parameters": [list_id],
            **_resource(
                "ContactList",
                "list",
                ("getList", "putList", "deleteList"),
                "ListInput",
                put_summary="Create or rename a list (idempotent)",
                delete_summary="Delete a list: its contacts leave the Google groups that mirror it",
                deleted="Deleted",
                saved="Renamed or unchanged",
            ),
        },
        "/lists/{list_id}/members": {
            "parameters": [list_id],
            "get": {
                "operationId": "listMembers",
                "parameters": _PAGE_PARAMS,
                "responses": {
                    "200": _page_of(
                        "members",
                        {
                            "type": "object",
                            "required": ["id", "deleted"],
                            "properties": {"id": status, "deleted": {"type": "boolean"}},
                        },
                        "One page of members",
                    ),
                    **_errors(400, 401, 404, 422),
                },
            },
        },
        "/lists/{list_id}/members:add": {
            "parameters": [list_id],
            "post": {
                "operationId": "addMembers",
                "summary": f"Add up to {MAX_BATCH} contacts to a list",
                "requestBody": _body("MemberBatch"),
                "responses": _batch_responses(),
            },
        },
        "/lists/{list_id}/members:remove": {
            "parameters": [list_id],
            "post": {
                "operationId": "removeMembers",
                "summary": f"Remove up to {MAX_BATCH} contacts from a list",
                "requestBody": _body("MemberBatch"),
                "responses": _batch_responses(),
            },
        },
    }


_RATE_LIMITED = {
    "description": (
        "Too many requests: a rate limit per API key, per client address, or of refused keys per "
        "client address was reached; retry after `Retry-After` seconds"
    ),
    "headers": {
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 0}},
        "X-RateLimit-Limit": {"schema": {"type": "integer"}},
        "X-RateLimit-Remaining": {"schema": {"type": "integer"}},
        "X-RateLimit-Reset": {"description": "Unix time the window ends", "schema": {"type": "integer"}},
    },
    "content": {"application/json": {"schema": _ref("Error")}},
}
_METHODS = ("get", "put", "post", "delete", "patch")


def _with_rate_limits(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation may be answered 429 (see :mod:`app.crm.rate_limits`)."""
    for item in paths.values():
        for method in _METHODS:
            if method in item:
                item[method]["responses"]["429"] = copy.deepcopy(_RATE_LIMITED)
    return paths


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GroupSync CRM API",
            "version": "1.0.0",
            "description": (
                "How a CRM shares its contacts and lists with GroupSync. Ids are the CRM's own; every "
                "write is idempotent by them. Accepted changes reach the Google groups that mirror "
                "the affected lists after the configured delay. Every answer, errors included (an "
                'unknown path or method too), is JSON; an error is `{"error": {"code", "message", '
                '"field"}}`. `null` is accepted only where a schema says so (a birthday and its '
                "year); elsewhere leave the field out. Requests are rate-limited per API key and per "
                "client address, and refused keys (401) per client address, each per minute; beyond a "
                "limit the answer is 429 with `Retry-After`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": _with_rate_limits({**_paths(), **admin_paths()}),
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (gsk_...) an admin created in GroupSync",
                }
            },
            "schemas": {**_schemas(), **admin_schemas()},
        },
    }
