"""Errors in the two shapes Google answers with, so the real client libraries react as they would to Google.

Google APIs (People) answer with the ``google.rpc.Status`` JSON envelope, which
google-api-python-client turns into ``HttpError`` with ``status_code`` and ``reason``. The
OAuth token and revocation endpoints answer with RFC 6749 ``{"error", "error_description"}``
bodies instead, which google-auth and oauthlib parse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class GoogleApiError(Exception):
    """A Google API error: HTTP ``code``, canonical ``status``, ``message`` and an optional ErrorInfo."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason is not None:
            error["details"] = [
                {
                    "@type": ERROR_INFO_TYPE,
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": self.metadata,
                }
            ]
        return {"error": error}

    def response(self) -> Response:
        response = jsonify(self.body())
        response.status_code = self.code
        response.headers.update(self.headers)
        return response


class OAuthError(Exception):
    """An RFC 6749 error from the token, revocation or userinfo endpoint."""

    def __init__(self, error: str, description: str, code: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.code = code

    def response(self) -> Response:
        response = jsonify({"error": self.error, "error_description": self.description})
        response.status_code = self.code
        if self.code == 401:
            response.headers["WWW-Authenticate"] = f'Bearer error="{self.error}"'
        return response


def register_error_handlers(app: Flask) -> None:
    """Every error leaves the emulator in one of Google's shapes, never as an HTML page."""

    @app.errorhandler(GoogleApiError)
    def google_api_error(error: GoogleApiError) -> Response:
        return error.response()

    @app.errorhandler(OAuthError)
    def oauth_error(error: OAuthError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        status = _STATUS_BY_CODE.get(code, "UNKNOWN")
        return GoogleApiError(code, status, error.description or error.name).response()

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        # A bug in the emulator must still look like a Google 500, so the client under test
        # exercises its 5xx handling; the traceback goes to the emulator's own log.
        logger.exception("emulator failed while serving a request")
        return GoogleApiError(500, "INTERNAL", "Internal error encountered.").response()
